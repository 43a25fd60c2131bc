"""Cross-validation, thresholds, torchrun, and MODEL_DIR: what training leaves behind.

    train        cross-validation: folds, epochs, best-epoch selection, resume, threshold tuning
    thresholds   per-class thresholds for mean(F2, G2) or the Challenge metric
    distributed  the torchrun process group
    model_dir    MODEL_DIR, what training leaves for the driver: files, fingerprint, writing, checking, loading
    cv_results   typed results: FoldResult (fold_K.json), CVReport (cv_report.json)
    cv_report    what cross-validation leaves for people: oof.csv, cv_report.md/json
"""
