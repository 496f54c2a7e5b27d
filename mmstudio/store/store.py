"""The :class:`Store` facade: one object the CLI, the trainer and the GUI hold.

It owns the engine; every method is one short transaction and returns plain data. Safe to share
between threads; each process opens its own.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import URL

from mmstudio import paths

from . import artifacts, datasets, evaluations, experiments, live, metrics, migrate, runs
from .engine import Database, create_store_engine, hide_password, sqlite_path
from .errors import StoreError, StoreWriteError
from .metrics import MetricPoint
from .types import (
    ArtifactInfo,
    Curve,
    CurveCursor,
    DatasetInfo,
    EvaluationInfo,
    ExperimentInfo,
    MetricStats,
    Prediction,
    RunDetail,
    RunLiveState,
    RunPoll,
    RunStatus,
    RunSummary,
)

log = logging.getLogger(__name__)
#: What a store identity may be: it names the store's folder of run files.
_STORE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


#: A read-only open checks a SQLite file up to this size (``PRAGMA quick_check`` reads the whole file:
#: 80-90 ms for 16 MB, 20 runs of 10k points; 0.3-1 s for 170 MB, 20 runs of 100k points, against
#: 1.5 ms to open without it); an open that writes always checks.
QUICK_CHECK_MAX_BYTES = 32 * 2**20
#: The files this process found intact, with their (size, mtime) and their WAL's then: an open
#: of an unchanged file (the window polls the run count) is not checked again.
_checked: dict[Path, tuple[tuple[int, int], ...]] = {}


def _check_sqlite(db: Database, *, read_only: bool) -> None:
    """``quick_check`` of an existing SQLite file, unless this process checked it unchanged already
    or (``read_only``) it is too large to check at every listing."""
    path = sqlite_path(db.engine.url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    stamp = tuple(
        (st.st_size, st.st_mtime_ns)
        for st in (f.stat() for f in (path, path.with_name(path.name + "-wal")) if f.exists())
    )
    if _checked.get(path) == stamp or (read_only and path.stat().st_size > QUICK_CHECK_MAX_BYTES):
        return
    db.quick_check()
    _checked[path] = stamp


def _mark_orphans(db: Database) -> list[int]:
    """Mark runs of dead processes interrupted: housekeeping, so a store that cannot be written just
    now (a full disk) still opens, and the runs are marked by a later open."""
    try:
        return runs.mark_orphaned_runs(db)
    except StoreWriteError as exc:
        log.warning("runs left by dead processes could not be marked interrupted: %s", exc)
        return []


class Store:
    """The experiment store. Open it with :meth:`open`; use it as a context manager or call
    :meth:`close`."""

    def __init__(self, db: Database, *, backup: Path | None = None, interrupted: Sequence[int] = ()) -> None:
        self._db = db
        #: The backup made when this open upgraded an older database, else ``None``.
        self.backup = backup
        #: Runs this open found left ``running`` by a dead process and marked ``interrupted``.
        self.interrupted = tuple(interrupted)

    @classmethod
    def open(
        cls,
        url: str | URL | None = None,
        *,
        mark_orphans: bool = True,
        read_only: bool = False,
        check: bool = True,
    ) -> Self:
        """Open (creating or upgrading as needed) the store at ``url``; ``None`` means
        :func:`mmstudio.paths.default_db_url` (``MMSTUDIO_DB``, else ``mmstudio.db`` in the data folder,
        whose folder is created; any other SQLite file must be in a folder that exists).

        A new database gets the current schema; an older one is backed up and upgraded; one written
        by a newer mmstudio raises :class:`~mmstudio.store.StoreVersionError` and is left untouched.
        ``read_only`` (listing, showing, comparing) writes nothing when the schema is current: runs
        left by dead processes are not marked. ``check`` runs SQLite's ``quick_check`` on an existing
        file first (a read-only open: on files up to :data:`QUICK_CHECK_MAX_BYTES`; a damaged page it
        skips is found when read): a damaged store raises
        :class:`~mmstudio.store.errors.StoreCorruptError` saying how to recover, and nothing is
        written to it. Every way a store can be unusable is a
        :class:`~mmstudio.store.StoreError` with a sentence for people.
        """
        default = url is None
        if url is None:
            url = paths.default_db_url()
        db = Database(create_store_engine(url, create_folder=default and not os.environ.get("MMSTUDIO_DB")))
        try:
            with db.translated():
                if check:
                    _check_sqlite(db, read_only=read_only)
                backup = migrate.upgrade(db)
                orphans = _mark_orphans(db) if mark_orphans and not read_only else []
        except BaseException:
            db.dispose()
            raise
        if orphans:
            log.warning("marked runs %s interrupted: their process is gone", orphans)
        return cls(db, backup=backup, interrupted=orphans)

    @property
    def url(self) -> URL:
        return self._db.engine.url

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- datasets -------------------------------------------------------------------------------
    def create_dataset(
        self,
        *,
        name: str,
        path: str | Path,
        format: str,
        fingerprint: str,
        item_count: int,
        summary: dict[str, Any] | None = None,
    ) -> DatasetInfo:
        return datasets.create_dataset(
            self._db,
            name=name,
            path=str(path),
            format=format,
            fingerprint=fingerprint,
            item_count=item_count,
            summary=summary,
        )

    def ensure_dataset(
        self,
        *,
        name: str,
        path: str | Path,
        format: str,
        fingerprint: str,
        item_count: int,
        summary: dict[str, Any] | None = None,
    ) -> DatasetInfo:
        return datasets.ensure_dataset(
            self._db,
            name=name,
            path=str(path),
            format=format,
            fingerprint=fingerprint,
            item_count=item_count,
            summary=summary,
        )

    def get_dataset(self, dataset_id: int) -> DatasetInfo:
        return datasets.get_dataset(self._db, dataset_id)

    def find_dataset(self, fingerprint: str) -> DatasetInfo | None:
        return datasets.find_dataset(self._db, fingerprint)

    def list_datasets(self) -> list[DatasetInfo]:
        return datasets.list_datasets(self._db)

    # -- experiments ----------------------------------------------------------------------------
    def create_experiment(self, name: str, description: str = "") -> ExperimentInfo:
        return experiments.create_experiment(self._db, name, description)

    def ensure_experiment(
        self, name: str = experiments.DEFAULT_EXPERIMENT, description: str = ""
    ) -> ExperimentInfo:
        return experiments.ensure_experiment(self._db, name, description)

    def get_experiment(self, ref: int | str) -> ExperimentInfo:
        return experiments.get_experiment(self._db, ref)

    def list_experiments(self) -> list[ExperimentInfo]:
        return experiments.list_experiments(self._db)

    # -- runs -----------------------------------------------------------------------------------
    def create_run(
        self,
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
        return runs.create_run(
            self._db,
            name=name,
            experiment=experiment,
            dataset_id=dataset_id,
            spec=spec,
            train_spec=train_spec,
            dataset_spec=dataset_spec,
            device=device,
            seed=seed,
            tags=tags,
            notes=notes,
        )

    def count_runs(self) -> int:
        """How many runs the store holds (one light query)."""
        return runs.count_runs(self._db)

    def get_run(self, run_id: int) -> RunDetail:
        return runs.get_run(self._db, run_id)

    def list_runs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        name_contains: str | None = None,
        experiment: int | str | None = None,
        tag: str | None = None,
        run_ids: Iterable[int] | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        return runs.list_runs(
            self._db,
            status=status,
            name_contains=name_contains,
            experiment=experiment,
            tag=tag,
            run_ids=run_ids,
            limit=limit,
        )

    def start_run(
        self, run_id: int, *, pid: int | None = None, hostname: str | None = None, device: str | None = None
    ) -> None:
        runs.start_run(self._db, run_id, pid=pid, hostname=hostname, device=device)

    def finish_run(
        self,
        run_id: int,
        status: str = RunStatus.COMPLETED,
        *,
        error_message: str | None = None,
        error_traceback: str | None = None,
    ) -> None:
        runs.finish_run(
            self._db, run_id, status, error_message=error_message, error_traceback=error_traceback
        )

    def request_stop(self, run_id: int) -> bool:
        """Ask a running run to stop, wherever its process runs (:func:`.runs.request_stop`)."""
        return runs.request_stop(self._db, run_id)

    def stop_requested(self, run_id: int) -> bool:
        return runs.stop_requested(self._db, run_id)

    def set_status(
        self,
        run_id: int,
        status: str,
        *,
        error_message: str | None = None,
        error_traceback: str | None = None,
    ) -> RunStatus:
        return runs.set_status(
            self._db, run_id, status, error_message=error_message, error_traceback=error_traceback
        )

    def rename_run(self, run_id: int, name: str) -> None:
        runs.rename_run(self._db, run_id, name)

    def set_tags(self, run_id: int, tags: Iterable[str]) -> None:
        runs.set_tags(self._db, run_id, tags)

    def set_notes(self, run_id: int, notes: str) -> None:
        runs.set_notes(self._db, run_id, notes)

    def set_dataset_spec(self, run_id: int, dataset_spec: dict[str, Any]) -> None:
        """Record the dataset a run trains on (a resumed run: the copy it continued on)."""
        runs.set_dataset_spec(self._db, run_id, dataset_spec)

    def delete_run(self, run_id: int, *, remove_files: bool = True) -> None:
        """Delete the run's record, curves, evaluations and predictions and (``remove_files``) the
        folder of files mmstudio wrote for it in this store (:meth:`run_dir`; for a run recorded before
        stores had their own folders, the shared folder it wrote to, when this store's records point
        into it); files exported elsewhere are kept. Raises ``NotFoundError`` (and removes nothing) for
        a run not in the store."""
        folders = self._own_folders(run_id) if remove_files else []
        runs.delete_run(self._db, run_id)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the run's own files --------------------------------------------------------------------
    @functools.cached_property
    def _info(self) -> dict[str, str]:
        return migrate.read_info(self._db)

    @property
    def store_id(self) -> str:
        """This store's identity, kept in the store itself (made once, when its schema was created or
        upgraded to revision 0004)."""
        store_id = self._info.get("store_id")
        if not store_id:
            store_id = self._info["store_id"] = migrate.ensure_store_id(self._db)
        if not _STORE_ID.fullmatch(store_id):  # it names a folder: never a path
            raise StoreError(
                f"the store's identity {store_id[:80]!r} (store_info.store_id) is not a plain id; the store "
                "was edited or damaged. Its run files are not touched"
            )
        return store_id

    def run_dir(self, run_id: int) -> Path:
        """Where run ``run_id`` of this store writes its own files (checkpoints):
        :func:`mmstudio.paths.store_runs_dir` of this store's identity, then the run id."""
        return paths.store_runs_dir(self.store_id) / str(run_id)

    def run_dirs(self, run_id: int) -> list[Path]:
        """Where to look for run ``run_id``'s files: :meth:`run_dir`, then, for a run recorded before
        stores had their own folders, the folder every store shared then."""
        folders = [self.run_dir(run_id)]
        legacy = self._legacy_run_dir(run_id)
        if legacy is not None:
            folders.append(legacy)
        return folders

    def _legacy_run_dir(self, run_id: int) -> Path | None:
        """``<data dir>/runs/<run id>`` for a run recorded before this store had its own folder."""
        last = self._info.get("legacy_max_run", "")
        if not last.isdigit() or run_id > int(last):
            return None
        return paths.legacy_runs_dir() / str(run_id)

    def _own_folders(self, run_id: int) -> list[Path]:
        """The folders deleting run ``run_id`` removes: its own, and the shared legacy folder only
        when this store recorded files in it (another store's run of the same id may live there)."""
        folders = [self.run_dir(run_id)]
        legacy = self._legacy_run_dir(run_id)
        if legacy is not None and any(legacy in Path(a.path).parents for a in self.list_artifacts(run_id)):
            folders.append(legacy)
        return folders

    def mark_orphaned_runs(self, *, hostname: str | None = None) -> list[int]:
        return runs.mark_orphaned_runs(self._db, hostname=hostname)

    # -- metrics --------------------------------------------------------------------------------
    def log_metrics(self, run_id: int, points: Sequence[MetricPoint]) -> int:
        return metrics.log_metrics(self._db, run_id, points)

    def log_metric_arrays(
        self, run_id: int, key: str, step: Any, value: Any, *, epoch: Any = None, time: Any = None
    ) -> int:
        return metrics.log_metric_arrays(self._db, run_id, key, step, value, epoch=epoch, time=time)

    def read_curve(self, run_id: int, key: str) -> Curve:
        return metrics.read_curve(self._db, run_id, key)

    def metric_keys(self, run_id: int) -> list[str]:
        return metrics.metric_keys(self._db, run_id)

    def metric_stats(self, run_ids: Iterable[int]) -> dict[int, dict[str, MetricStats]]:
        return metrics.metric_stats(self._db, run_ids)

    # -- following a run that another process writes (mmstudio.store.live) ------------------------
    def run_state(self, run_id: int) -> RunLiveState:
        """Where run ``run_id`` is now: status, process, and per key its count and last point."""
        return live.run_state(self._db, run_id)

    def read_points_after(self, run_id: int, after: Mapping[str, int]) -> dict[str, Curve]:
        """The points of each key of ``after`` whose step is above ``after[key]``, in one query."""
        return live.read_points_after(self._db, run_id, after)

    def poll_run(
        self, run_id: int, held: Mapping[str, CurveCursor], *, keys: Iterable[str] | None = None
    ) -> RunPoll:
        """One tick of following run ``run_id``: its state and its curves' new points, given what the
        follower ``held`` of each (:func:`mmstudio.store.live.poll_run`)."""
        return live.poll_run(self._db, run_id, held, keys=keys)

    # -- evaluations and predictions ------------------------------------------------------------
    def add_evaluation(
        self,
        run_id: int,
        *,
        split: str,
        metrics: Mapping[str, Any],
        dataset_id: int | None = None,
        ablation: str | None = None,
        labels: Iterable[Any] | None = None,
        confusion_matrix: Any = None,
        per_class: Mapping[str, Any] | None = None,
    ) -> int:
        return evaluations.add_evaluation(
            self._db,
            run_id,
            split=split,
            metrics=metrics,
            dataset_id=dataset_id,
            ablation=ablation,
            labels=labels,
            confusion_matrix=confusion_matrix,
            per_class=per_class,
        )

    def get_evaluation(self, evaluation_id: int) -> EvaluationInfo:
        return evaluations.get_evaluation(self._db, evaluation_id)

    def list_evaluations(self, run_id: int) -> list[EvaluationInfo]:
        return evaluations.list_evaluations(self._db, run_id)

    def add_predictions(
        self,
        run_id: int,
        predictions: Iterable[Prediction | Mapping[str, Any]],
        *,
        evaluation_id: int | None = None,
    ) -> int:
        return evaluations.add_predictions(self._db, run_id, predictions, evaluation_id=evaluation_id)

    def list_predictions(self, run_id: int, *, evaluation_id: int | None = None) -> list[Prediction]:
        return evaluations.list_predictions(self._db, run_id, evaluation_id=evaluation_id)

    # -- artifacts ------------------------------------------------------------------------------
    def add_artifact(
        self,
        run_id: int,
        kind: str,
        path: str | Path,
        *,
        size_bytes: int | None = None,
        sha256: str | None = None,
        hash_file: bool = True,
    ) -> ArtifactInfo:
        return artifacts.add_artifact(
            self._db, run_id, kind, path, size_bytes=size_bytes, sha256=sha256, hash_file=hash_file
        )

    def list_artifacts(self, run_id: int, *, kind: str | None = None) -> list[ArtifactInfo]:
        return artifacts.list_artifacts(self._db, run_id, kind=kind)


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade_store` did: the schema revision before (``None``: a new, empty database)
    and after, and the backup made first (an existing SQLite store), else ``None``."""

    url: str
    before: str | None
    after: str
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade_store(url: str | URL | None = None) -> Upgrade:
    """Bring the store at ``url`` to the current schema, as opening it does (a SQLite store is backed
    up first), and say from which revision."""
    db = Database(create_store_engine(url or paths.default_db_url(), create_folder=url is None))
    try:
        with db.translated(), db.read() as conn:
            before = migrate.current_revision(conn)
    finally:
        db.dispose()
    with Store.open(url) as store:
        return Upgrade(hide_password(store.url), before, migrate.HEAD_REVISION, store.backup)
