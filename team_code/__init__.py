"""CinC 2020-style 12-lead ECG classifier: a CNN + LSTM after Singstad & Tronstad."""
from team_code import log

log.install()  # warnings and errors reach stderr from the first import on; commands refine it with log.configure
