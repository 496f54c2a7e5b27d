"""Following a run that another process, or another machine, is writing: its live state and the
points it logged since the last look.

A follower (the Train page following a run, the Compare page growing a running run's curves) polls:
every tick it calls :func:`poll_run` with what it holds of each curve (a :class:`CurveCursor`: its last
step and count), and gets back the run's state and, for every curve that grew, the new points. One
tick is one short read transaction of indexed queries:

1. the run's row and its metric summaries (``metric_summaries``, one row per key, unique on
   ``(run_id, key_id)``): the status, the process, and per key the count and the last point;
2. only when a key's count grew: its new points, for every such key in one query (``UNION ALL`` of one
   range scan per key on ``ix_metrics_run_id_key_id_step``: ``run_id = ? AND key_id = ? AND step >
   ?``), so a tick reads what is new, never the whole curve;
3. a curve the follower does not hold yet, or whose count no longer adds up (a run resumed from an
   earlier checkpoint logs some steps again), is read whole from the packed blocks
   (:func:`~.metrics.read_curve`'s path, a few milliseconds for 100,000 points).

The summaries and the points are read in one snapshot (:meth:`~.engine.Database.snapshot`), so the
counts and the points agree, and a tick after which nothing changed costs the first query alone.
``docs/store.md`` ("The app as a cockpit") has the measured cost and why polling, not LISTEN / NOTIFY.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sqlalchemy import Connection, literal_column, select, union_all

from .engine import Database
from .errors import NotFoundError
from .metrics import curve_in, summary_stats
from .models import MetricKeyRow, MetricRow, MetricSummaryRow, RunRow
from .types import Curve, CurveCursor, CurveUpdate, MetricStats, RunLiveState, RunPoll, RunStatus

#: Keys per query of new points (SQLite allows 500 terms in a compound SELECT).
_KEYS_PER_QUERY = 200

_RUN_COLUMNS = (
    RunRow.id,
    RunRow.name,
    RunRow.status,
    RunRow.device,
    RunRow.hostname,
    RunRow.pid,
    RunRow.started_at,
    RunRow.ended_at,
    RunRow.duration_s,
    RunRow.error_message,
    RunRow.error_traceback,
    RunRow.train_spec,
    RunRow.stop_requested_at,
)


def run_state(db: Database, run_id: int) -> RunLiveState:
    """Where run ``run_id`` is now (raises :class:`NotFoundError` when it is not in the store)."""
    with db.read() as conn:
        return _state_in(conn, run_id)[0]


def _state_in(conn: Connection, run_id: int) -> tuple[RunLiveState, dict[str, int]]:
    """The run's state and the ids of its metric keys."""
    row = conn.execute(select(*_RUN_COLUMNS).where(RunRow.id == run_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"there is no run {run_id} in the store")
    s = MetricSummaryRow
    summaries = conn.execute(
        select(MetricKeyRow.key, s.key_id, s.count, s.last_step, s.last_epoch, s.last_value, s.last_time)
        .add_columns(s.min_value, s.max_value)
        .join(MetricKeyRow, MetricKeyRow.id == s.key_id)
        .where(s.run_id == run_id)
        .order_by(MetricKeyRow.key)
    ).all()
    stats: dict[str, MetricStats] = {}
    key_ids: dict[str, int] = {}
    for key, key_id, *summary in summaries:
        key_ids[key] = key_id
        stats[key] = summary_stats(key, *summary)
    rid, name, status, device, host, pid, started, ended, duration, error, tb, train_spec, stop = row
    state = RunLiveState(
        id=rid,
        name=name,
        status=RunStatus(status),
        device=device,
        hostname=host,
        pid=pid,
        started=started,
        ended=ended,
        duration_s=duration,
        error_message=error,
        error_traceback=tb,
        train_spec=dict(train_spec or {}),
        stats=stats,
        stop_requested=stop is not None,
    )
    return state, key_ids


def read_points_after(db: Database, run_id: int, after: Mapping[str, int]) -> dict[str, Curve]:
    """The points of run ``run_id`` whose step is above ``after[key]``, for every key of ``after`` (in
    one query), each curve ordered by step and, within a step, by logging order. A key that was never
    logged reads as an empty curve."""
    with db.read() as conn:
        ids = dict(
            conn.execute(
                select(MetricKeyRow.key, MetricKeyRow.id).where(MetricKeyRow.key.in_(list(after)))
            ).all()
        )
        found = _points_after_in(conn, run_id, {ids[k]: (k, after[k]) for k in after if k in ids})
    return {key: found.get(key) or _empty(run_id, key) for key in after}


def _points_after_in(
    conn: Connection, run_id: int, wanted: Mapping[int, tuple[str, int]]
) -> dict[str, Curve]:
    """``{key: new points}`` for ``wanted`` (key id -> (key, the step after which to read))."""
    out: dict[str, Curve] = {}
    items = list(wanted.items())
    m = MetricRow
    for start in range(0, len(items), _KEYS_PER_QUERY):
        parts = [
            select(m.key_id, m.step, m.epoch, m.value, m.wall_time, m.id).where(
                m.run_id == run_id, m.key_id == key_id, m.step > after
            )
            for key_id, (_key, after) in items[start : start + _KEYS_PER_QUERY]
        ]
        order = [literal_column(name) for name in ("key_id", "step", "id")]
        query: Any = parts[0].order_by(*order) if len(parts) == 1 else union_all(*parts).order_by(*order)
        rows = conn.execute(query).all()
        if not rows:
            continue
        # NULL (a NaN value, a missing epoch) becomes NaN
        table = np.array(rows, dtype=np.float64).reshape(-1, 6)
        cuts = np.flatnonzero(np.diff(table[:, 0])) + 1
        for part in np.split(table, cuts):
            key = wanted[int(part[0, 0])][0]
            out[key] = Curve(
                run_id=run_id,
                key=key,
                step=part[:, 1].astype(np.int64),
                epoch=part[:, 2].copy(),
                value=part[:, 3].copy(),
                time=part[:, 4].copy(),
            )
    return out


def poll_run(
    db: Database,
    run_id: int,
    held: Mapping[str, CurveCursor],
    *,
    keys: Iterable[str] | None = None,
) -> RunPoll:
    """One tick of following run ``run_id``: its state and what is new in its curves (those of
    ``keys``, default all), given what the follower ``held`` of each. See the module docstring."""
    wanted = None if keys is None else set(keys)
    with db.snapshot() as conn:
        state, key_ids = _state_in(conn, run_id)
        whole: list[str] = []
        grown: dict[int, tuple[str, int]] = {}
        for key, stats in state.stats.items():
            if wanted is not None and key not in wanted:
                continue
            cursor = held.get(key)
            if cursor is None or stats.count < cursor.count:
                whole.append(key)
            elif stats.count > cursor.count:
                grown[key_ids[key]] = (key, cursor.last_step)
        updates: dict[str, CurveUpdate] = {}
        for key, curve in _points_after_in(conn, run_id, grown).items():
            if held[key].count + len(curve) == state.stats[key].count:
                updates[key] = CurveUpdate(curve=curve, replace=False)
            else:  # steps logged again from an earlier point: the follower's copy is out of date
                whole.append(key)
        for key, _after in grown.values():
            if key not in updates and key not in whole:  # counted, yet none found: read it whole
                whole.append(key)
        for key in whole:
            updates[key] = CurveUpdate(curve=curve_in(conn, run_id, key, key_ids[key]), replace=True)
    return RunPoll(state=state, curves=updates)


def joined(held: Curve, update: CurveUpdate) -> Curve:
    """The curve a follower holds after ``update``: what it ``held`` followed by the new points, or the
    whole curve the update brings."""
    if update.replace:
        return update.curve
    new = update.curve
    return Curve(
        run_id=held.run_id,
        key=held.key,
        step=np.concatenate([held.step, new.step]),
        epoch=np.concatenate([held.epoch, new.epoch]),
        value=np.concatenate([held.value, new.value]),
        time=np.concatenate([held.time, new.time]),
    )


def _empty(run_id: int, key: str) -> Curve:
    nothing = np.empty(0, dtype=np.float64)
    return Curve(
        run_id=run_id,
        key=key,
        step=np.empty(0, dtype=np.int64),
        epoch=nothing,
        value=nothing.copy(),
        time=nothing.copy(),
    )
