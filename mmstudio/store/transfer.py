"""Copying runs from one store into another (``mmstudio db copy``): a local SQLite store into a team's
PostgreSQL store and back.

A run is copied whole: its record (specs, timings, tags, notes, errors), its experiment (matched by
name) and datasets (matched by fingerprint), every curve (points, summaries and packed blocks, metric
keys matched by name), its evaluations and predictions, its artifacts' records and, with
``with_files``, the files in its run folder (checkpoints), into the target store's own folder for it
(:meth:`.Store.run_dir`). It gets a new id in the target and keeps its ``uid`` (migration 0005), so a
run already in the target (copied before, either way) is found there and not copied again: copying
twice, or back, makes no duplicates.

Each run is one transaction in the target; its files are copied beside the target's run folders first
and moved into place inside it (removed if it fails),
so a failure (a full disk, a lost connection, Ctrl-C) leaves the target with the runs copied before
it, whole, and nothing of the failed one. Runs that are not finished (``running`` or ``queued``) are
not copied: they are still changing, and a copy would be an orphan of a process on another machine;
copy them again once they have ended.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert, select, union, update

from mmstudio import paths
from mmstudio.progress import check_cancel

from . import metrics
from ._util import insert_missing
from .engine import Database, hide_password
from .errors import NotFoundError, StoreError
from .models import (
    ArtifactRow,
    DatasetRow,
    EvaluationRow,
    ExperimentRow,
    MetricBlockRow,
    MetricKeyRow,
    MetricRow,
    MetricSummaryRow,
    PredictionRow,
    RunRow,
    new_uid,
)
from .store import Store
from .types import FINISHED

#: Rows read and written at a time (curve points, predictions).
CHUNK = 5000

COPIED, PRESENT, SKIPPED = "copied", "present", "skipped"


@dataclass(frozen=True)
class RunCopy:
    """What happened to one run: ``copied`` (now ``target_id`` in the target), ``present`` (copied
    before: it is ``target_id`` there) or ``skipped`` (not finished; ``reason`` says why)."""

    source_id: int
    name: str
    action: str
    target_id: int | None = None
    reason: str = ""
    files: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "target_id": self.target_id,
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "files": self.files,
        }


@dataclass
class CopyReport:
    source: str
    target: str
    runs: list[RunCopy] = field(default_factory=list)

    def of(self, action: str) -> list[RunCopy]:
        return [r for r in self.runs if r.action == action]

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "copied": len(self.of(COPIED)),
            "present": len(self.of(PRESENT)),
            "skipped": len(self.of(SKIPPED)),
            "runs": [r.to_dict() for r in self.runs],
        }


class CopyError(StoreError):
    """Copying a run failed; the runs copied before it are in the target, whole (``report``)."""

    exit_code = 1

    def __init__(self, message: str, report: CopyReport) -> None:
        super().__init__(message)
        self.report = report


def copy_runs(
    source: Store,
    target: Store,
    run_ids: Iterable[int] | None = None,
    *,
    with_files: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
) -> CopyReport:
    """Copy runs ``run_ids`` (default: every run) of ``source`` into ``target``; see the module's
    docstring. Raises :class:`NotFoundError` (before copying anything) for an id not in ``source``,
    :class:`StoreError` when both are the same store, and :class:`CopyError` when a run fails."""
    if source.store_id == target.store_id:
        raise StoreError(
            f"{hide_password(source.url)} and {hide_password(target.url)} are the same store "
            f"(identity {source.store_id}); copy between two different stores"
        )
    src, dst = source._db, target._db
    with src.read() as conn:
        found = dict(conn.execute(select(RunRow.id, RunRow.name).order_by(RunRow.id)).all())
    if run_ids is None:
        ids = list(found)
    else:
        ids = list(dict.fromkeys(run_ids))
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(
                f"the source store {hide_password(source.url)} has no run {', '.join(map(str, missing))}"
            )
    report = CopyReport(hide_password(source.url), hide_password(target.url))
    for n, run_id in enumerate(ids):
        check_cancel(cancel, "copying runs")
        if progress is not None:
            progress(n, len(ids))
        try:
            report.runs.append(_copy_run(source, target, src, dst, run_id, with_files))
        except (Exception, KeyboardInterrupt) as exc:
            done = [r for r in report.runs if r.action == COPIED]
            before = (
                "the runs copied before it are in the target: "
                + ", ".join(f"{r.source_id} as {r.target_id}" for r in done)
                if done
                else "no run was copied before it"
            )
            raise CopyError(
                f"copying run {run_id} ({found[run_id]}) failed: {exc}. The target holds nothing of it; "
                f"{before}. Run the same command again to copy the rest (runs already there are not "
                "copied twice)",
                report,
            ) from exc
    if progress is not None:
        progress(len(ids), len(ids))
    return report


def _columns(table: Table, row: Any) -> dict[str, Any]:
    """A row's values as a dict, without its id."""
    return {c.name: row[c.name] for c in table.columns if c.name != "id"}


def _copy_run(
    source: Store, target: Store, src: Database, dst: Database, run_id: int, with_files: bool
) -> RunCopy:
    runs = RunRow.__table__
    with src.read() as conn:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
    if run["status"] not in FINISHED:
        return RunCopy(
            run_id, run["name"], SKIPPED, reason=f"it is {run['status']}; copy it again once it has ended"
        )
    uid = run["uid"]
    if not uid:  # a run written by hand, without one: give it one in the source, for the next copy
        uid = new_uid()
        with src.write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(uid=uid))
    with dst.read() as conn:
        there = conn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar()
    if there is not None:
        return RunCopy(run_id, run["name"], PRESENT, target_id=there, reason="copied before")

    folders = [f for f in source._own_folders(run_id) if f.is_dir()] if with_files else []
    # The files are copied first, beside the target's run folders, and moved into place inside the
    # transaction: a SQLite target's write lock is then held for a rename, not for gigabytes.
    # Its own name: another copy of the same run may be staging it at the same moment.
    staging = paths.store_runs_dir(target.store_id) / f".copying-{uid}-{new_uid()[:8]}" if folders else None
    made: Path | None = None
    try:
        files = 0
        if staging is not None:
            files = _copy_files(folders, staging)
        with src.read() as sconn, dst.write() as tconn:
            new_id = _insert_run(sconn, tconn, dict(run, uid=uid))
            if new_id is None:  # another copy inserted it meanwhile
                there = tconn.execute(select(runs.c.id).where(runs.c.uid == uid)).scalar()
                return RunCopy(run_id, run["name"], PRESENT, target_id=there, reason="copied meanwhile")
            _copy_curves(dst, sconn, tconn, run_id, new_id)
            evaluations = _copy_evaluations(sconn, tconn, run_id, new_id)
            _copy_predictions(sconn, tconn, run_id, new_id, evaluations)
            destination = target.run_dir(new_id)
            moved = {folder: destination for folder in folders}
            _copy_artifacts(sconn, tconn, run_id, new_id, moved)
            if staging is not None:
                if destination.exists() and any(destination.iterdir()):
                    raise StoreError(
                        f"the target's folder for run {new_id}, {destination}, already holds files"
                    )
                if destination.exists():
                    destination.rmdir()
                made = destination
                staging.rename(destination)
        return RunCopy(run_id, run["name"], COPIED, target_id=new_id, files=files)
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _ensure(tconn: Connection, model: Any, key: str, values: dict[str, Any]) -> int:
    """The id of ``model``'s row whose ``key`` is ``values[key]``, inserted from ``values`` if missing."""
    column = getattr(model, key)
    found = tconn.execute(select(model.id).where(column == values[key])).scalar()
    if found is None:
        insert_missing(tconn, model, [values], on=[key])
        found = tconn.execute(select(model.id).where(column == values[key])).scalar_one()
    return int(found)


def _datasets(sconn: Connection, tconn: Connection, ids: set[int | None]) -> dict[int | None, int | None]:
    """Source dataset ids -> target ids (matched by fingerprint, recorded if missing)."""
    mapping: dict[int | None, int | None] = {None: None}
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return mapping
    table = DatasetRow.__table__
    for row in sconn.execute(select(table).where(table.c.id.in_(wanted))).mappings():
        mapping[row["id"]] = _ensure(tconn, DatasetRow, "fingerprint", _columns(table, row))
    return mapping


def _insert_run(sconn: Connection, tconn: Connection, run: dict[str, Any]) -> int | None:
    """Insert the run's record (its experiment and dataset found or recorded); its new id, or
    ``None`` when a run of the same uid is there already."""
    experiments = ExperimentRow.__table__
    exp = sconn.execute(select(experiments).where(experiments.c.id == run["experiment_id"])).mappings().one()
    values = _columns(RunRow.__table__, run)
    values["experiment_id"] = _ensure(tconn, ExperimentRow, "name", _columns(experiments, exp))
    values["dataset_id"] = _datasets(sconn, tconn, {run["dataset_id"]})[run["dataset_id"]]
    if insert_missing(tconn, RunRow, [values], on=["uid"]) == 0:
        return None
    return int(tconn.execute(select(RunRow.id).where(RunRow.uid == run["uid"])).scalar_one())


def _chunks(sconn: Connection, table: Table, run_id: int) -> Iterator[list[dict[str, Any]]]:
    """The run's rows of ``table`` in id order, ``CHUNK`` at a time (keyset pagination)."""
    last = 0
    while True:
        rows = (
            sconn.execute(
                select(table)
                .where(table.c.run_id == run_id, table.c.id > last)
                .order_by(table.c.id)
                .limit(CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        last = rows[-1]["id"]
        yield [dict(r) for r in rows]


def _copy_curves(dst: Database, sconn: Connection, tconn: Connection, run_id: int, new_id: int) -> None:
    used = [select(m.key_id).where(m.run_id == run_id) for m in (MetricRow, MetricSummaryRow, MetricBlockRow)]
    keys = select(MetricKeyRow.id, MetricKeyRow.key).where(MetricKeyRow.id.in_(union(*used)))
    names = dict(sconn.execute(keys).all())
    ids = metrics._resolve_keys(dst, tconn, list(names.values())) if names else {}
    key_ids = {old: ids[key] for old, key in names.items()}
    for model in (MetricRow, MetricSummaryRow, MetricBlockRow):
        table = model.__table__
        for rows in _chunks(sconn, table, run_id):
            tconn.execute(
                insert(table),
                [{**_columns(table, r), "run_id": new_id, "key_id": key_ids[r["key_id"]]} for r in rows],
            )


def _copy_evaluations(sconn: Connection, tconn: Connection, run_id: int, new_id: int) -> dict[int, int]:
    """Copy the run's evaluations; their ids in the source -> in the target."""
    table = EvaluationRow.__table__
    rows = sconn.execute(select(table).where(table.c.run_id == run_id).order_by(table.c.id)).mappings().all()
    datasets = _datasets(sconn, tconn, {r["dataset_id"] for r in rows})
    mapping = {}
    for r in rows:
        values = {**_columns(table, r), "run_id": new_id, "dataset_id": datasets[r["dataset_id"]]}
        mapping[r["id"]] = tconn.execute(insert(table).values(**values)).inserted_primary_key[0]
    return mapping


def _copy_predictions(
    sconn: Connection, tconn: Connection, run_id: int, new_id: int, evaluations: dict[int, int]
) -> None:
    table = PredictionRow.__table__
    for rows in _chunks(sconn, table, run_id):
        tconn.execute(
            insert(table),
            [
                {**_columns(table, r), "run_id": new_id, "evaluation_id": evaluations.get(r["evaluation_id"])}
                for r in rows
            ],
        )


def _copy_artifacts(
    sconn: Connection, tconn: Connection, run_id: int, new_id: int, moved: dict[Path, Path]
) -> None:
    """Copy the artifacts' records; a file in a folder whose files are copied (``moved``) is recorded
    where its copy will be, any other keeps its path."""
    table = ArtifactRow.__table__
    rows = sconn.execute(select(table).where(table.c.run_id == run_id).order_by(table.c.id)).mappings().all()
    for r in rows:
        values = {**_columns(table, r), "run_id": new_id}
        path = Path(r["path"])
        for old, new in moved.items():
            if old in path.parents:
                values["path"] = str(new / path.relative_to(old))
                break
        tconn.execute(insert(table).values(**values))


def _copy_files(folders: list[Path], destination: Path) -> int:
    """Copy every file under ``folders`` into ``destination`` (sub-folders kept); how many."""
    count = 0
    destination.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                to = destination / path.relative_to(folder)
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, to)
                count += 1
    return count
