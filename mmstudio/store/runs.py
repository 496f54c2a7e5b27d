"""Runs: creation, status transitions, editing, listing, deletion, and recovery of runs whose
process died.

A run starts ``queued``; :func:`set_status` moves it along :data:`~.types.TRANSITIONS`. Entering
``running`` records the process (pid and hostname, with the machine's id, its boot id and the
process's start time: :mod:`.owner`) and the start time; entering a finished status records the end
time and adds the time since the (re)start to ``duration_s``. When a database is opened,
:func:`mark_orphaned_runs` turns runs left ``running`` by a dead process of this machine into
``interrupted``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from . import owner
from ._util import jsonable, utcnow
from .engine import Database
from .errors import InvalidTransitionError, NotFoundError
from .experiments import DEFAULT_EXPERIMENT, ensure_row, find_row
from .metrics import stats_in
from .models import DatasetRow, ExperimentRow, MetricSummaryRow, RunRow
from .types import FINISHED, TRANSITIONS, RunDetail, RunStatus, RunSummary

_SUMMARY_COLUMNS = (
    RunRow.id,
    RunRow.name,
    RunRow.status,
    RunRow.created_at,
    RunRow.started_at,
    RunRow.ended_at,
    RunRow.duration_s,
    RunRow.experiment_id,
    ExperimentRow.name,
    RunRow.dataset_id,
    DatasetRow.name,
    RunRow.device,
    RunRow.tags,
    RunRow.notes,
)


def _summary_query(*extra: Any) -> Select[Any]:
    return (
        select(*_SUMMARY_COLUMNS, *extra)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .outerjoin(DatasetRow, DatasetRow.id == RunRow.dataset_id)
    )


def _summary_fields(row: Any, metrics: dict[str, float | None]) -> dict[str, Any]:
    rid, name, status, created, started, ended, duration = row[:7]
    exp_id, exp, ds_id, ds, device, tags, notes = row[7:14]
    return {
        "id": rid,
        "name": name,
        "status": RunStatus(status),
        "created": created,
        "started": started,
        "ended": ended,
        "duration_s": duration,
        "experiment_id": exp_id,
        "experiment": exp,
        "dataset_id": ds_id,
        "dataset": ds,
        "device": device,
        "tags": tuple(tags or ()),
        "notes": notes or "",
        "metrics": metrics,
    }


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    return list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))


def create_run(
    db: Database,
    *,
    name: str | None = None,
    experiment: int | str | None = None,
    dataset_id: int | None = None,
    spec: dict[str, Any] | None = None,
    train_spec: dict[str, Any] | None = None,
    dataset_spec: dict[str, Any] | None = None,
    device: str | None = None,
    seed: int | None = None,
    tags: Iterable[str] = (),
    notes: str = "",
) -> int:
    """Record a new ``queued`` run and return its id. ``experiment`` is an id or a name (a missing
    name is created; ``None`` means ``Default``); an unnamed run is called ``run-<id>``."""
    with db.write_session() as session:
        if isinstance(experiment, int):
            exp = find_row(session, experiment)
            if exp is None:
                raise NotFoundError(f"there is no experiment {experiment} in the store")
        else:
            exp = ensure_row(session, experiment or DEFAULT_EXPERIMENT)
        if dataset_id is not None and session.get(DatasetRow, dataset_id) is None:
            raise NotFoundError(f"there is no dataset {dataset_id} in the store")
        row = RunRow(
            experiment_id=exp.id,
            dataset_id=dataset_id,
            name=(name or "").strip() or "run",
            status=RunStatus.QUEUED.value,
            spec=jsonable(spec or {}),
            train_spec=jsonable(train_spec or {}),
            dataset_spec=None if dataset_spec is None else jsonable(dataset_spec),
            device=device,
            seed=seed,
            tags=_clean_tags(tags),
            notes=notes,
        )
        session.add(row)
        session.flush()
        if not (name or "").strip():
            row.name = f"run-{row.id}"
        return row.id


def _get_row(session: Session, run_id: int) -> RunRow:
    row = session.get(RunRow, run_id)
    if row is None:
        raise NotFoundError(f"there is no run {run_id} in the store")
    return row


def get_run(db: Database, run_id: int) -> RunDetail:
    """Everything about one run, including its specs and the last value of each metric."""
    with db.read() as conn:
        row = conn.execute(
            _summary_query(
                RunRow.spec,
                RunRow.train_spec,
                RunRow.dataset_spec,
                RunRow.seed,
                RunRow.error_message,
                RunRow.error_traceback,
                RunRow.pid,
                RunRow.hostname,
                RunRow.uid,
            ).where(RunRow.id == run_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"there is no run {run_id} in the store")
        stats = stats_in(conn, [run_id])[run_id]
    spec, train_spec, dataset_spec, seed, error, tb, pid, host, uid = row[14:]
    return RunDetail(
        **_summary_fields(row, {k: s.last_value for k, s in stats.items()}),
        spec=spec,
        train_spec=train_spec,
        dataset_spec=dataset_spec,
        seed=seed,
        error_message=error,
        error_traceback=tb,
        pid=pid,
        hostname=host,
        uid=uid,
    )


def count_runs(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(RunRow)).scalar_one())


def list_runs(
    db: Database,
    *,
    status: str | Iterable[str] | None = None,
    name_contains: str | None = None,
    experiment: int | str | None = None,
    tag: str | None = None,
    run_ids: Iterable[int] | None = None,
    limit: int | None = None,
) -> list[RunSummary]:
    """Runs, newest first, with the last value of each metric; every filter is optional."""
    query = _summary_query().order_by(RunRow.created_at.desc(), RunRow.id.desc())
    if status is not None:
        statuses = (
            [RunStatus(status).value] if isinstance(status, str) else [RunStatus(s).value for s in status]
        )
        query = query.where(RunRow.status.in_(statuses))
    if name_contains:
        query = query.where(RunRow.name.icontains(name_contains, autoescape=True))
    if experiment is not None:
        query = query.where(
            RunRow.experiment_id == experiment
            if isinstance(experiment, int)
            else ExperimentRow.name == experiment
        )
    if run_ids is not None:
        query = query.where(RunRow.id.in_(list(run_ids)))
    if limit is not None and tag is None:
        query = query.limit(limit)
    with db.read() as conn:
        rows = conn.execute(query).all()
        if tag is not None:
            rows = [r for r in rows if tag in (r.tags or ())][:limit]
        stats = stats_in(conn, [r[0] for r in rows])
    return [RunSummary(**_summary_fields(r, {k: s.last_value for k, s in stats[r[0]].items()})) for r in rows]


def set_status(
    db: Database,
    run_id: int,
    status: str,
    *,
    error_message: str | None = None,
    error_traceback: str | None = None,
    pid: int | None = None,
    hostname: str | None = None,
) -> RunStatus:
    """Move run ``run_id`` to ``status`` (raises :class:`InvalidTransitionError` if not allowed)."""
    new = RunStatus(status)
    with db.write_session() as session:
        row = _get_row(session, run_id)
        _transition(row, new, error_message, error_traceback, pid, hostname)
    return new


def _transition(
    row: RunRow,
    new: RunStatus,
    error_message: str | None,
    error_traceback: str | None,
    pid: int | None,
    hostname: str | None,
    now: datetime | None = None,
) -> None:
    old = RunStatus(row.status)
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none"
        raise InvalidTransitionError(
            f"run {row.id} is {old.value} and cannot become {new.value} (allowed from {old.value}: {allowed})"
        )
    now = now or utcnow()
    row.status = new.value
    if new is RunStatus.RUNNING:
        row.started_at = now
        row.ended_at = None
        row.pid = os.getpid() if pid is None else pid
        row.hostname = socket.gethostname() if hostname is None else hostname
        here = owner.this_machine()
        if row.hostname == here.hostname:  # this machine: name it, and the process, precisely
            row.machine_id, row.boot_id = here.machine_id, here.boot_id
            row.process_start = owner.process_start(row.pid)
        else:  # a process of another machine, recorded for it: its identity is not known here
            row.machine_id = row.boot_id = row.process_start = None
        row.error_message = row.error_traceback = None
        row.stop_requested_at = None  # a stop asked of an earlier attempt is not this one's
    elif new in FINISHED:
        row.ended_at = now
        if old is RunStatus.RUNNING and row.started_at is not None:
            elapsed = max(0.0, (now - row.started_at).total_seconds())
            row.duration_s = (row.duration_s or 0.0) + elapsed
        if error_message is not None:
            row.error_message = error_message
        if error_traceback is not None:
            row.error_traceback = error_traceback


def start_run(
    db: Database,
    run_id: int,
    *,
    pid: int | None = None,
    hostname: str | None = None,
    device: str | None = None,
) -> None:
    """Mark a run ``running`` in this process (or ``pid`` on ``hostname``), optionally on ``device``."""
    with db.write_session() as session:
        row = _get_row(session, run_id)
        _transition(row, RunStatus.RUNNING, None, None, pid, hostname)
        if device is not None:
            row.device = device


def finish_run(
    db: Database,
    run_id: int,
    status: str = RunStatus.COMPLETED,
    *,
    error_message: str | None = None,
    error_traceback: str | None = None,
) -> None:
    """End a run: ``completed`` by default, or ``failed`` / ``cancelled`` / ``interrupted``."""
    if RunStatus(status) not in FINISHED:
        raise InvalidTransitionError(f"{status!r} is not a finished status ({', '.join(sorted(FINISHED))})")
    set_status(db, run_id, status, error_message=error_message, error_traceback=error_traceback)


def request_stop(db: Database, run_id: int) -> bool:
    """Ask running run ``run_id`` to stop, through the store: its own process (on any machine) reads
    the request while it trains and stops at its next step, with a checkpoint, as ``cancelled``. False
    when it was asked already. Raises :class:`InvalidTransitionError` for a run that is not running."""
    with db.write_session() as session:
        row = _get_row(session, run_id)
        if row.status != RunStatus.RUNNING.value:
            raise InvalidTransitionError(
                f"run {run_id} is {row.status}, not running: there is nothing to stop"
            )
        if row.stop_requested_at is not None:
            return False
        row.stop_requested_at = utcnow()
    return True


def stop_requested(db: Database, run_id: int) -> bool:
    """Whether a stop was asked of run ``run_id`` since it last started (one primary-key read)."""
    with db.read() as conn:
        value = conn.execute(select(RunRow.stop_requested_at).where(RunRow.id == run_id)).scalar()
    return value is not None


def _edit(db: Database, run_id: int, **values: Any) -> None:
    with db.write_session() as session:
        row = _get_row(session, run_id)
        for name, value in values.items():
            setattr(row, name, value)


def rename_run(db: Database, run_id: int, name: str) -> None:
    name = name.strip()
    if not name:
        raise ValueError("a run name cannot be empty")
    _edit(db, run_id, name=name)


def set_tags(db: Database, run_id: int, tags: Iterable[str]) -> None:
    """Replace the run's tags (stripped, empty ones dropped, duplicates removed, order kept)."""
    _edit(db, run_id, tags=_clean_tags(tags))


def set_notes(db: Database, run_id: int, notes: str) -> None:
    _edit(db, run_id, notes=notes)


def set_dataset_spec(db: Database, run_id: int, dataset_spec: dict[str, Any]) -> None:
    _edit(db, run_id, dataset_spec=jsonable(dataset_spec))


def delete_run(db: Database, run_id: int) -> None:
    """Delete a run and, by cascade, its metrics, evaluations, predictions and artifact records
    (artifact files on disk are left to the caller)."""
    with db.write() as conn:
        if conn.execute(delete(RunRow).where(RunRow.id == run_id)).rowcount == 0:
            raise NotFoundError(f"there is no run {run_id} in the store")


def mark_orphaned_runs(
    db: Database, *, hostname: str | None = None, alive: Callable[[int], bool] | None = None
) -> list[int]:
    """Mark ``interrupted`` every run left ``running`` by a process of this machine that no longer
    exists; returns their ids. Only runs provably this machine's are considered (:func:`.owner.is_dead`:
    the same host name and machine id, and the process gone or the machine rebooted since); runs of
    other machines, even of the same host name, are left alone: their liveness is unknown here.
    ``hostname`` and ``alive`` stand in for this machine's in tests."""
    here = owner.this_machine()
    if hostname is not None:
        here = owner.Machine(hostname, here.machine_id, here.boot_id)
    running = (RunRow.status == RunStatus.RUNNING.value) & (RunRow.hostname == here.hostname)
    columns = (RunRow.id, RunRow.pid, RunRow.machine_id, RunRow.boot_id, RunRow.process_start)
    with db.read() as conn:
        candidates = conn.execute(
            select(*columns, RunRow.started_at, _last_metric_time()).where(running)
        ).all()
    dead = {
        rid: pid
        for rid, pid, machine, boot, start, started_at, last in candidates
        if owner.is_dead(here, pid, machine, boot, start, _seen(started_at, last), alive=alive)
    }
    if not dead:
        return []
    marked = []
    with db.write_session() as session:
        for row in session.scalars(select(RunRow).where(running, RunRow.id.in_(dead))):
            if row.pid != dead[row.id]:
                continue  # restarted by another process meanwhile
            last = session.scalar(
                select(func.max(MetricSummaryRow.last_time)).where(MetricSummaryRow.run_id == row.id)
            )
            ended = utcnow()
            if last is not None and row.started_at is not None:
                ended = max(row.started_at, datetime.fromtimestamp(last, UTC))
            _transition(
                row,
                RunStatus.INTERRUPTED,
                f"the process that ran it (pid {row.pid} on {here.hostname}) ended without finishing the run",
                None,
                None,
                None,
                now=ended,
            )
            marked.append(row.id)
    return marked


def _seen(started_at: datetime | None, last_metric: float | None) -> float | None:
    """A run's newest sign of life (epoch seconds): its last metric point, else its (re)start."""
    times = [t for t in (last_metric, started_at.timestamp() if started_at else None) if t is not None]
    return max(times, default=None)


def _last_metric_time() -> Any:
    """The newest metric time of a run (epoch seconds), or ``None``: a column for the runs query."""
    return (
        select(func.max(MetricSummaryRow.last_time))
        .where(MetricSummaryRow.run_id == RunRow.id)
        .scalar_subquery()
    )
