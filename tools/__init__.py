"""Development tools that the Docker image never runs (figures for the documentation).

    bench     the benchmarks (docs/benchmark*.md)
    transfer  bench --quality: how scores carry from synth to altsim and real records
    demo      the whole entry in one command, on generated data
"""
