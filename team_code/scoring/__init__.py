"""The official scores of the 2020 Challenge (both phases) and their bootstrap intervals.

    score_folders  what evaluate.py scores: LABEL_DIR's #Dx labels against OUTPUT_DIR's files
    f2g2           the Feb-phase official scores (nine classes, F2/G2, AUROC), on arrays
    challenge2020  the final-phase Challenge metric: 24 merged classes, weights_2020.csv, seven measures
    bootstrap      bootstrap confidence intervals of the scores, per fold and pooled
"""
