"""The nine CPSC 2018 classes and the ways datasets spell them (abbreviations, SNOMED CT, CPSC numbers)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Sorted like the official scoring script sorts the union of header labels.
CLASSES: tuple[str, ...] = ("AF", "I-AVB", "LBBB", "Normal", "PAC", "PVC", "RBBB", "STD", "STE")

SNOMED_TO_CLASS: dict[str, str] = {
    "164889003": "AF",
    "270492004": "I-AVB",
    "164909002": "LBBB",
    "733534002": "LBBB",
    "426783006": "Normal",
    "284470004": "PAC",
    "63593006": "PAC",
    "164884008": "PVC",
    "427172004": "PVC",
    "17338001": "PVC",  # ventricular premature beats: the 2020 scorer's equivalent of 427172004
    "59118001": "RBBB",
    "713427006": "RBBB",
    "429622005": "STD",
    "164931005": "STE",
}

# One SNOMED CT code per class, for writing generated records as the CinC 2020 release labels them (#Dx codes):
# the code CinC 2020 scores where it scores the class (RBBB as CPSC 2018's 59118001, the second code of its
# pair); STD and STE are not scored in the final phase.
CLASS_TO_SNOMED: dict[str, str] = {
    "AF": "164889003", "I-AVB": "270492004", "LBBB": "164909002", "Normal": "426783006", "PAC": "284470004",
    "PVC": "427172004", "RBBB": "59118001", "STD": "429622005", "STE": "164931005",
}

# REFERENCE.csv of the original CPSC 2018 release numbers the classes 1-9.
CPSC_NUMBER_TO_CLASS: dict[int, str] = {
    1: "Normal", 2: "AF", 3: "I-AVB", 4: "LBBB", 5: "RBBB", 6: "PAC", 7: "PVC", 8: "STD", 9: "STE",
}

_BY_UPPER = {c.upper(): c for c in CLASSES}


def to_class(token: str) -> str | None:
    """Map one Dx token (abbreviation in any case, or SNOMED CT code) to a class, or None if not one of the nine."""
    token = token.strip()
    if token in SNOMED_TO_CLASS:
        return SNOMED_TO_CLASS[token]
    return _BY_UPPER.get(token.upper())


def to_classes(tokens: Iterable[str]) -> list[str]:
    """Known classes among the tokens, unique, in CLASSES order; unknown codes are dropped."""
    found = {c for c in (to_class(t) for t in tokens) if c is not None}
    return [c for c in CLASSES if c in found]


def to_vector(classes: Iterable[str]) -> np.ndarray:
    """Multi-hot float32 vector over CLASSES."""
    vector = np.zeros(len(CLASSES), dtype=np.float32)
    for c in classes:
        vector[CLASSES.index(c)] = 1.0
    return vector

# The 27 SNOMED CT codes scored in the final phase of the PhysioNet/CinC Challenge 2020, in the order of the
# official dx_mapping_scored.csv, the three pairs its scorer counts as one diagnosis (first code represents the
# pair), and its normal class.
CINC2020_SCORED: tuple[str, ...] = (
    "270492004", "164889003", "164890007", "426627000", "713427006", "713426002", "445118002", "39732003",
    "164909002", "251146004", "698252002", "10370003", "284470004", "427172004", "164947007", "111975006",
    "164917005", "47665007", "59118001", "427393009", "426177001", "426783006", "427084000", "63593006",
    "164934002", "59931005", "17338001",
)
CINC2020_EQUIVALENT: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"), ("284470004", "63593006"), ("427172004", "17338001"),
)
CINC2020_NORMAL = "426783006"
