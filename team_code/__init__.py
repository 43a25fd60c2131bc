"""CinC 2020-style 12-lead ECG classifier: a CNN + LSTM after Singstad & Tronstad.

How each command travels through the packages:

    train_model.py  records (io) -> windows, cache, folds (data) -> networks (nn) -> cross-validation, thresholds,
                    MODEL_DIR with oof.csv and cv_report.md/json (training) -> cv_report.html (reporting)
    driver.py       MODEL_DIR -> the ensemble, the loop over a folder (inference) -> one NAME.csv per record (io)
    evaluate.py     LABEL_DIR and OUTPUT_DIR -> the official scores (scoring) -> an optional HTML report (reporting)

The packages, in pipeline order (each one's docstring lists its modules):

    io/         Files in and out: records, the output CSV, atomic writes, the CPSC 2018 converter.
                (records, output_csv, atomic, convert_cpsc2018)
    data/       A record becomes the network's input: preprocessing, augmentation, the cache, folds, workers.
                (preprocess, augment, cache, folds, workers)
    nn/         The networks and crnn's beat-synchronous views.
                (networks, beats)
    training/   Cross-validation, thresholds, torchrun, and MODEL_DIR: what training leaves behind.
                (train, thresholds, distributed, model_dir, cv_results, cv_report)
    inference/  From MODEL_DIR to labels: the ensemble and the driver's loop over a folder.
                (ensemble, label_folder)
    scoring/    The official scores of the 2020 Challenge (both phases) and their bootstrap intervals.
                (score_folders, f2g2, challenge2020, bootstrap)
    reporting/  Pictures for people: cv_report.html and evaluate.py's report, their plots, the printout.
                (html_report, plots, explain)

Beside them, shared by every stage: log, cli, labels, class_sets. The commands a user runs stay at the top of the
repository (train_model.py, driver.py, evaluate.py, and the organisers' train_12ECG_classifier.py and
run_12ECG_classifier.py). The development tooling lives outside this package and outside the Docker image, in
simulators/ and tools/; code here never imports it (tests/test_layout.py).
"""
from team_code import log

log.install()  # warnings and errors reach stderr from the first import on; commands refine it with log.configure
