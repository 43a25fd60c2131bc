"""A record becomes the network's input: preprocessing, augmentation, the cache, folds, workers.

    preprocess  resampling, the 1-uV grid, 20-s windows: the network's input
    augment     training-time augmentation (gain, noise, wander, shift, stretch, lead dropout)
    cache       the HDF5 cache of preprocessed records and the batch reader
    folds       stratified folds for any number of classes and label sets
    workers     how many cores to use; bounded read-ahead for the cache and the driver
"""
