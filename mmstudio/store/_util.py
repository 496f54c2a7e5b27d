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


def insert_missing(bind: Any, model: Any, rows: Sequence[dict[str, Any]], *, on: Sequence[str]) -> int:
    """Insert ``rows`` into ``model``'s table, skipping any whose unique key ``on`` is there already;
    how many were inserted. ``bind`` is a connection or a session, inside a write transaction. The
    way to get-or-create a row by a unique key that two processes may create at the same moment:
    follow it with a ``SELECT`` by the key, and the row is there either way.

    On SQLite and PostgreSQL: ``INSERT … ON CONFLICT (on) DO NOTHING``. On PostgreSQL (read
    committed) a plain select-then-insert lets two transactions both find nothing and both insert,
    and the second fails on the unique key; here the second waits for the first and inserts nothing.
    SQLite's write transactions (``BEGIN IMMEDIATE``) never overlap, but use the same statement. Any
    other database: each row in a savepoint, a duplicate key rolled back to it."""
    if not rows:
        return 0
    name = bind.get_bind().dialect.name if hasattr(bind, "get_bind") else bind.dialect.name
    if name in ("postgresql", "sqlite"):
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(model).on_conflict_do_nothing(index_elements=list(on))
        if name == "sqlite":
            return sum(bind.execute(statement.values(**row)).rowcount for row in rows)
        # psycopg may not say a rowcount here (-1): count the rows the insert returns instead
        statement = statement.returning(*model.__table__.primary_key.columns)
        return sum(len(bind.execute(statement.values(**row)).all()) for row in rows)
    from sqlalchemy import insert as plain_insert
    from sqlalchemy.exc import IntegrityError

    made = 0
    for row in rows:
        try:
            with bind.begin_nested():
                bind.execute(plain_insert(model).values(**row))
            made += 1
        except IntegrityError:
            pass
    return made
