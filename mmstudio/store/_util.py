"""Small helpers shared by the repository modules."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def insert_missing(bind: Any, model: Any, *, on: Sequence[str]) -> Any:
    """``INSERT … ON CONFLICT (on) DO NOTHING`` into ``model``'s table, in the dialect of ``bind`` (a
    connection or a session): the way to get-or-create a row by a unique key that two processes may
    create at the same moment. Follow it with a ``SELECT`` by the key: the row is there either way.

    On PostgreSQL (read committed), a plain select-then-insert lets two transactions both find
    nothing and both insert, and the second fails on the unique key; here the second waits for the
    first and inserts nothing. SQLite's write transactions (``BEGIN IMMEDIATE``) never overlap, but
    use the same statement."""
    name = bind.get_bind().dialect.name if hasattr(bind, "get_bind") else bind.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported and tested
        raise NotImplementedError(f"get-or-create is not implemented for {name}")
    return insert(model).on_conflict_do_nothing(index_elements=list(on))
