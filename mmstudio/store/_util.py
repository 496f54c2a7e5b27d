"""Small helpers shared by the repository modules."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np


def utcnow() -> datetime:
    return datetime.now(UTC)


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars / arrays, tuples and sets made JSON-friendly; NaN and infinities
    become ``None`` (JSON has no NaN, and PostgreSQL rejects it)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
