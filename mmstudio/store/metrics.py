"""Metric curves: batched appends and whole-curve reads.

Three tables hold them. ``metrics`` has one row per point (run, key, step, epoch, value, wall time)
with the key interned in ``metric_keys`` so the rows are all numbers. ``metric_summaries`` keeps per
run and key the count, last point (highest step) and min / max, so listing many runs never scans
curves. ``metric_blocks`` holds the same points packed as float64 arrays, so a whole curve reads
back without one Python object per number (a 100,000-point curve in a few milliseconds; one row per
point through ``sqlite3`` costs ~1.5 µs per point). All three are written in the same transaction.

On SQLite, appends go through the DBAPI cursor's ``executemany`` inside the SQLAlchemy connection's
``BEGIN IMMEDIATE`` transaction (``tests/benchmarks/bench_metric_logging.py`` compares them with
plain ``sqlite3``).
"""

from __future__ import annotations

import math
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select, text

from ._util import insert_missing
from .engine import Database
from .errors import NotFoundError
from .models import MetricBlockRow, MetricKeyRow, MetricRow, MetricSummaryRow
from .types import Curve, MetricStats

#: One point: ``(key, step, epoch, value, time)``; ``epoch`` and ``time`` may be ``None``
#: (``time`` then defaults to now, Unix seconds).
MetricPoint = tuple[str, int, float | None, float | None, float | None]

#: A block with fewer points than this is extended by the next small append, so that logging a
#: few points at a time does not leave one tiny block per call; larger appends get their own block.
MERGE_BELOW = 128
_BLOCK_DTYPE = np.dtype("<f8")
_NAN = math.nan

_INSERT_SQL = "INSERT INTO metrics (run_id, key_id, step, epoch, value, wall_time) VALUES (?, ?, ?, ?, ?, ?)"
_LAST_BLOCK_SQL = (
    "SELECT id, count, CASE WHEN count < :merge THEN data END FROM metric_blocks "
    "WHERE run_id = :run_id AND key_id = :key_id ORDER BY id DESC LIMIT 1"
)
_INSERT_BLOCK_SQL = (
    "INSERT INTO metric_blocks (run_id, key_id, count, data) VALUES (:run_id, :key_id, :count, :data)"
)
_EXTEND_BLOCK_SQL = "UPDATE metric_blocks SET count = :count, data = :data WHERE id = :id"


def _newer(col: str) -> str:
    return (
        f"{col} = CASE WHEN excluded.last_step >= metric_summaries.last_step "
        f"THEN excluded.{col} ELSE metric_summaries.{col} END"
    )


def _extreme(col: str, op: str) -> str:
    return (
        f"{col} = CASE WHEN metric_summaries.{col} IS NULL OR excluded.{col} {op} metric_summaries.{col} "
        f"THEN excluded.{col} ELSE metric_summaries.{col} END"
    )


# Every right-hand side of an UPDATE sees the old row, so comparing with the old last_step is right
# for all the "last" columns, last_step included.
_UPSERT_SUMMARY_SQL = (
    "INSERT INTO metric_summaries (run_id, key_id, count, last_step, last_epoch, last_value, last_time, "
    "min_value, max_value) VALUES (:run_id, :key_id, :count, :last_step, :last_epoch, :last_value, "
    ":last_time, :min_value, :max_value) ON CONFLICT (run_id, key_id) DO UPDATE SET "
    "count = metric_summaries.count + excluded.count, "
    + ", ".join(_newer(c) for c in ("last_epoch", "last_value", "last_time", "last_step"))
    + ", "
    + _extreme("min_value", "<")
    + ", "
    + _extreme("max_value", ">")
)

# (key_id, points as an (n, 4) float64 array of step, epoch, value, wall_time)
_Group = tuple[int, np.ndarray]
_Build = Callable[[dict[str, int]], tuple[list[tuple[Any, ...]], list[_Group]]]


def _resolve_keys(db: Database, conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Ids of ``keys``, inserting new ones. The caller adds them to ``db.metric_key_ids`` only after
    its transaction commits (a rolled-back id must never be cached)."""
    cache = db.metric_key_ids
    ids = {k: cache[k] for k in keys if k in cache}
    missing = [k for k in keys if k not in ids]
    if not missing:
        return ids
    for key in missing:
        if not isinstance(key, str) or not key:
            raise ValueError(f"metric key must be a non-empty string, not {key!r}")
    query = select(MetricKeyRow.key, MetricKeyRow.id)
    found = dict(conn.execute(query.where(MetricKeyRow.key.in_(missing))).all())
    new = [k for k in missing if k not in found]
    if new:
        # Another process may insert the same key meanwhile (PostgreSQL): it is simply skipped.
        insert_missing(conn, MetricKeyRow, [{"key": k} for k in new], on=["key"])
        found.update(conn.execute(query.where(MetricKeyRow.key.in_(new))).all())
    ids.update(found)
    return ids


def _summary(run_id: int, key_id: int, points: np.ndarray) -> dict[str, Any]:
    steps, values = points[:, 0], points[:, 2]
    last = len(steps) - 1 - int(np.argmax(steps[::-1]))  # the latest point among the highest steps
    finite = values[~np.isnan(values)]
    step, epoch, value, t = points[last].tolist()
    return {
        "run_id": run_id,
        "key_id": key_id,
        "count": len(steps),
        "last_step": int(step),
        "last_epoch": None if epoch != epoch else epoch,
        "last_value": None if value != value else value,
        "last_time": t,
        "min_value": float(finite.min()) if finite.size else None,
        "max_value": float(finite.max()) if finite.size else None,
    }


def _append(db: Database, run_id: int, keys: Iterable[str], build: _Build) -> int:
    """The write path shared by both APIs: resolve keys, insert rows, summaries and blocks in one
    transaction, then cache the new key ids."""
    with db.write() as conn:
        ids = _resolve_keys(db, conn, keys)
        rows, groups = build(ids)
        if not rows:
            return 0
        summaries = [_summary(run_id, kid, pts) for kid, pts in groups]
        try:
            if db.is_sqlite:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.executemany(_INSERT_SQL, rows)
                    cursor.executemany(_UPSERT_SUMMARY_SQL, summaries)
                    for kid, pts in groups:
                        last = None
                        if len(pts) < MERGE_BELOW:
                            params = {"merge": MERGE_BELOW, "run_id": run_id, "key_id": kid}
                            last = cursor.execute(_LAST_BLOCK_SQL, params).fetchone()
                        cursor.execute(*_block_write(run_id, kid, pts, last))
                finally:
                    cursor.close()
            else:
                names = ("run_id", "key_id", "step", "epoch", "value", "wall_time")
                conn.execute(insert(MetricRow), [dict(zip(names, r, strict=True)) for r in rows])
                conn.execute(text(_UPSERT_SUMMARY_SQL), summaries)
                for kid, pts in groups:
                    last = None
                    if len(pts) < MERGE_BELOW:
                        params = {"merge": MERGE_BELOW, "run_id": run_id, "key_id": kid}
                        last = conn.execute(text(_LAST_BLOCK_SQL), params).fetchone()
                    sql, params = _block_write(run_id, kid, pts, last)
                    conn.execute(text(sql), params)
        except sqlite3.IntegrityError as exc:
            raise NotFoundError(f"run {run_id} is not in the store; no metrics were logged") from exc
    db.metric_key_ids.update(ids)
    return len(rows)


def _block_write(run_id: int, key_id: int, points: np.ndarray, last: Any) -> tuple[str, dict[str, Any]]:
    data = np.ascontiguousarray(points, dtype=_BLOCK_DTYPE).tobytes()
    if last is not None and last[2] is not None:
        block_id, count, old = last
        return _EXTEND_BLOCK_SQL, {"id": block_id, "count": count + len(points), "data": bytes(old) + data}
    return _INSERT_BLOCK_SQL, {"run_id": run_id, "key_id": key_id, "count": len(points), "data": data}


def log_metrics(db: Database, run_id: int, points: Sequence[MetricPoint]) -> int:
    """Append ``points`` (``(key, step, epoch, value, time)`` tuples) to run ``run_id`` in one
    transaction; returns how many were written. NaN values are kept (they read back as NaN)."""
    if not isinstance(points, list | tuple):
        points = list(points)
    if not points:
        return 0
    keys = {p[0] for p in points}

    def build(ids: dict[str, int]) -> tuple[list[tuple[Any, ...]], list[_Group]]:
        now = _time.time()
        # NaN, not None, for a missing epoch / value: SQLite stores a NaN as NULL, and numpy can
        # then read the rows without a Python-level conversion of each one.
        rows = [
            (
                run_id,
                ids[key],
                int(step),
                _NAN if epoch is None else float(epoch),
                _NAN if value is None else float(value),
                now if t is None else float(t),
            )
            for key, step, epoch, value, t in points
        ]
        table = np.fromiter(chain.from_iterable(rows), np.float64, 6 * len(rows)).reshape(-1, 6)
        if len(keys) == 1:
            return rows, [(ids[next(iter(keys))], table[:, 2:])]
        key_col = table[:, 1]
        return rows, [(kid, table[key_col == kid, 2:]) for kid in (ids[k] for k in keys)]

    return _append(db, run_id, keys, build)


def log_metric_arrays(
    db: Database,
    run_id: int,
    key: str,
    step: Any,
    value: Any,
    *,
    epoch: Any = None,
    time: Any = None,
) -> int:
    """Append one key's points given as columns (numpy arrays or sequences of equal length);
    ``epoch`` and ``time`` may each be ``None``, a scalar or a column."""
    steps = np.asarray(step).reshape(-1)
    if steps.size and not np.issubdtype(steps.dtype, np.integer):
        raise TypeError(f"steps must be integers, not {steps.dtype}")
    n = steps.shape[0]
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    if values.shape[0] != n:
        raise ValueError(f"step has {n} entries but value has {values.shape[0]}")
    if n == 0:
        return 0

    def build(ids: dict[str, int]) -> tuple[list[tuple[Any, ...]], list[_Group]]:
        table = np.empty((n, 4), dtype=np.float64)
        table[:, 0] = steps
        table[:, 1] = np.nan if epoch is None else np.asarray(epoch, dtype=np.float64)
        table[:, 2] = values
        table[:, 3] = _time.time() if time is None else np.asarray(time, dtype=np.float64)
        kid = ids[key]
        columns = [[run_id] * n, [kid] * n, steps.astype(np.int64).tolist()]
        rows = list(zip(*columns, *table[:, 1:].T.tolist(), strict=True))  # NaN is stored as NULL
        return rows, [(kid, table)]

    return _append(db, run_id, [key], build)


def _key_id(db: Database, conn: Connection, key: str) -> int | None:
    kid = db.metric_key_ids.get(key)
    if kid is None:
        kid = conn.execute(select(MetricKeyRow.id).where(MetricKeyRow.key == key)).scalar_one_or_none()
        if kid is not None:
            db.metric_key_ids[key] = kid  # read, so committed: safe to cache
    return kid


def read_curve(db: Database, run_id: int, key: str) -> Curve:
    """The whole curve of ``key`` in run ``run_id``, ordered by step, points of equal step in logging
    order (empty if never logged)."""
    with db.read() as conn:
        return curve_in(conn, run_id, key, _key_id(db, conn, key))


def curve_in(conn: Connection, run_id: int, key: str, key_id: int | None) -> Curve:
    """:func:`read_curve` inside the caller's transaction, the key's id known (None: never logged)."""
    blobs: list[bytes] = []
    if key_id is not None:
        blobs = list(
            conn.execute(
                select(MetricBlockRow.data)
                .where(MetricBlockRow.run_id == run_id, MetricBlockRow.key_id == key_id)
                .order_by(MetricBlockRow.id)
            ).scalars()
        )
    table = np.frombuffer(b"".join(blobs), dtype=_BLOCK_DTYPE).reshape(-1, 4)
    steps = table[:, 0]
    if steps.size > 1 and not np.all(steps[1:] >= steps[:-1]):
        table = table[np.argsort(steps, kind="stable")]
    return Curve(
        run_id=run_id,
        key=key,
        step=table[:, 0].astype(np.int64),
        epoch=table[:, 1].copy(),
        value=table[:, 2].copy(),
        time=table[:, 3].copy(),
    )


def metric_keys(db: Database, run_id: int) -> list[str]:
    """The metric keys logged for run ``run_id``, sorted."""
    with db.read() as conn:
        return list(
            conn.execute(
                select(MetricKeyRow.key)
                .join(MetricSummaryRow, MetricSummaryRow.key_id == MetricKeyRow.id)
                .where(MetricSummaryRow.run_id == run_id)
                .order_by(MetricKeyRow.key)
            ).scalars()
        )


def metric_stats(db: Database, run_ids: Iterable[int]) -> dict[int, dict[str, MetricStats]]:
    """Per run and key: count, last point and min / max, from the summary table (no scan of the
    curves). Every requested run is in the result, possibly with no keys."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return {}
    with db.read() as conn:
        return stats_in(conn, ids)


def stats_in(conn: Connection, ids: list[int]) -> dict[int, dict[str, MetricStats]]:
    """:func:`metric_stats` inside the caller's transaction."""
    result: dict[int, dict[str, MetricStats]] = {i: {} for i in ids}
    s = MetricSummaryRow
    columns = (s.run_id, MetricKeyRow.key, s.count, s.last_step, s.last_epoch, s.last_value, s.last_time)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            select(*columns, s.min_value, s.max_value)
            .join(MetricKeyRow, MetricKeyRow.id == s.key_id)
            .where(s.run_id.in_(chunk))
            .order_by(s.run_id, MetricKeyRow.key)
        )
        for run_id, *summary in rows:
            stats = summary_stats(*summary)
            result[run_id][stats.key] = stats
    return result


def summary_stats(
    key: str, count: int, step: int, epoch: float | None, value: float | None, t: float, lo, hi
) -> MetricStats:
    """The :class:`MetricStats` of one ``metric_summaries`` row, read as key, count, last step, epoch,
    value and time, minimum, maximum."""
    return MetricStats(
        key=key, count=count, last_step=step, last_epoch=epoch, last_value=value, last_time=t, min=lo, max=hi
    )
