"""Pictures for people: cv_report.html and evaluate.py's report, their plots, the printout.

    html_report  cv_report.html and cv_scores.json; evaluate.py --report
    plots        the report's plots: curves, threshold sweeps, where the misses went
    explain      a record as a 12-lead printout with what drove each label
"""
