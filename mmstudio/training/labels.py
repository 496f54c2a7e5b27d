"""What a label cell means to each task (standard library only): the labels of a multilabel cell, the
number of a regression target. Training (:mod:`mmstudio.training.data`) and the checks before it
(:mod:`mmstudio.training.preflight`, which must not import torch) read labels through these."""

from __future__ import annotations

import math
import re

_MULTILABEL_SEPARATORS = re.compile(r"[|,]")


def split_multilabel(label: str) -> list[str]:
    """The labels of one multilabel value: ``"cat|dog"`` and ``"cat, dog"`` both give ``["cat", "dog"]``."""
    return [part.strip() for part in _MULTILABEL_SEPARATORS.split(label) if part.strip()]


def regression_value(label: str | None) -> float | None:
    """The regression target a label cell holds: a finite number, else None (text, empty, inf, nan)."""
    try:
        value = float(label)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
