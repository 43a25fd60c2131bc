"""From MODEL_DIR to labels: the ensemble and the driver's loop over a folder.

    ensemble      the ensemble's probabilities and labels (shared by the driver and validation)
    label_folder  the driver's loop: label every record of a folder, one output file each
"""
