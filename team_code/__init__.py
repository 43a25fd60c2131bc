"""CinC 2020-style 12-lead ECG classifier: a CNN + LSTM after Singstad & Tronstad."""
