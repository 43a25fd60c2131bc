"""Development tools that the Docker image never runs (figures for the documentation)."""
