"""Generated ECG records for development and tests. Not runtime: never imported by team_code, never in the Docker image.

    synth    the generator: a 3-D dipole heart, nine classes, WFDB records
    altsim   an independently written second simulator, for generalisation tests
    perturb  recording conditions neither simulator draws, for the robustness table
"""
