"""The class sets an entry can be trained for, as data: which Dx codes are classes, what the network outputs,
what the driver writes, which objective the thresholds are tuned for and which loss is the default.

    cpsc2018  the paper's nine CPSC 2018 classes (abbreviations or their SNOMED CT codes), softmax, mean(F2, G2)
    cinc2020  the 27 SNOMED CT codes scored in the final phase of the PhysioNet/CinC Challenge 2020, bce,
              the Challenge metric

The network has one output per class; the three equivalent pairs of cinc2020 are one class each (represented by
their first code, as the final-phase scorer merges them, team_code.scoring.challenge2020), so it has 24 outputs. The
driver writes one column per scored code, 27, a pair's two codes with the same label and probability: a scorer that
reads either code of a pair finds the class's values, and one that merges the two columns (binary: OR,
probability: mean) gets them back unchanged.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from team_code import labels


@dataclass(frozen=True)
class ClassSet:
    """One class set. `classes` are the network's outputs in order; `columns` the driver's output columns,
    each a copy of class `column_class[k]`."""

    name: str
    classes: tuple[str, ...]
    columns: tuple[str, ...]
    objective: str                 # how thresholds are tuned: "f2g2" or "challenge2020"
    loss: str                      # default training loss: "softmax" or "bce"
    normal: str                    # the class that is "normal": a record is normal only if every window is
    description: str               # for messages: "the nine CPSC 2018 classes"
    token_class: dict[str, str] = field(repr=False)  # Dx token (upper case) -> class

    @property
    def column_class(self) -> np.ndarray:
        """Index into `classes` of each output column."""
        return np.array([self.classes.index(self.token_class[c.upper()]) for c in self.columns])

    @property
    def normal_index(self) -> int:
        return self.classes.index(self.normal)

    def labels_of(self, dx: Iterable[str]) -> list[str]:
        """The classes among a header's Dx tokens, unique, in `classes` order; unknown or unscored codes are dropped
        (for cinc2020 as the final-phase scorer reads a label file: a pair's second code is its first, and the
        normal class is a class like any other)."""
        found = {self.token_class.get(token.strip().upper()) for token in dx} - {None}
        return [c for c in self.classes if c in found]

    def vector(self, classes: Iterable[str]) -> np.ndarray:
        """Multi-hot float32 vector over `classes`."""
        vector = np.zeros(len(self.classes), dtype=np.float32)
        for c in classes:
            vector[self.classes.index(c)] = 1.0
        return vector

    def to_columns(self, values: np.ndarray) -> np.ndarray:
        """Per-class values (..., classes) as the driver's columns (..., columns)."""
        return np.asarray(values)[..., self.column_class]


def _cpsc2018() -> ClassSet:
    tokens = {c.upper(): c for c in labels.CLASSES}
    tokens.update({code: c for code, c in labels.SNOMED_TO_CLASS.items()})
    return ClassSet(name="cpsc2018", classes=labels.CLASSES, columns=labels.CLASSES, objective="f2g2",
                    loss="softmax", normal="Normal", description="the nine CPSC 2018 classes", token_class=tokens)


def _cinc2020() -> ClassSet:
    second = {b: a for a, b in labels.CINC2020_EQUIVALENT}
    tokens = {code: second.get(code, code) for code in labels.CINC2020_SCORED}
    classes = tuple(code for code in labels.CINC2020_SCORED if code not in second)
    return ClassSet(name="cinc2020", classes=classes, columns=labels.CINC2020_SCORED, objective="challenge2020",
                    loss="bce", normal=labels.CINC2020_NORMAL,
                    description="the 27 scored SNOMED CT classes of CinC 2020", token_class=tokens)


CLASS_SETS: dict[str, ClassSet] = {s.name: s for s in (_cpsc2018(), _cinc2020())}
DEFAULT = "cpsc2018"
LOSSES = ("softmax", "bce")  # categorical cross-entropy of one softmax, or binary cross-entropy of sigmoids


def get(name: str) -> ClassSet:
    """The class set called `name`; ValueError naming the known ones otherwise."""
    try:
        return CLASS_SETS[name]
    except KeyError:
        raise ValueError(f"unknown class set {name!r} (known: {', '.join(CLASS_SETS)})") from None


def for_labels(dx_lists: Iterable[Iterable[str]]) -> str:
    """The class set a training set's `#Dx` labels call for: cinc2020 when every label is a SNOMED CT code (a number,
    as in the CinC 2020 final-phase data), the default cpsc2018 otherwise (the nine abbreviations, or no labels)."""
    tokens = [token.strip() for dx in dx_lists for token in dx if token.strip()]
    return "cinc2020" if tokens and all(token.isdigit() for token in tokens) else DEFAULT
