"""Files in and out: records, the output CSV, atomic writes, the CPSC 2018 converter.

    records           reading and writing WFDB headers and .mat records; CPSC 2018 files
    output_csv        the Challenge output file, NAME.csv: writing and reading it
    atomic            atomic, fsynced file writes
    convert_cpsc2018  the original CPSC 2018 release (A0001.mat, REFERENCE.csv) into CinC records
"""
