"""Resuming a stopped run: the one path the Train page and ``mmstudio train --resume`` share.

A run stores its whole job (the dataset spec, the model spec and the training spec), so resuming it
needs nothing but its id: :func:`resume_job` rebuilds the :class:`~mmstudio.training.spec.RunJob` from
the store, and the runner continues it from its last checkpoint into the same run. The caller may
point it at a copy of the dataset (``data``: the run's own files moved or on another machine) and
change training settings (``train``: more epochs, say); everything else is as the run was.

A run recorded before its dataset spec was kept (and without a checkpoint to backfill it from) is
resumed on its dataset record's folder (or the manifest in it whose fingerprint is the record's, when
the folder holds several), or on the dataset the caller has open when it is in that folder.
The same lookup finds a run's dataset for everything else that needs it again (:func:`recorded_dataset`:
``eval`` without ``--data``, "Open in builder", "Evaluate on its own dataset"; :func:`load_recorded`:
the Compare page's test items). This module imports neither torch nor the models: the GUI calls it in
a worker thread.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training.spec import RunJob, TrainSpec
from mmstudio.training.zeroshot import is_zeroshot, no_checkpoint_message
from mmstudio.vocabulary import RESUMABLE_STATUSES, run_status_title

if TYPE_CHECKING:
    from mmstudio.data.dataset import Dataset


class ResumeError(ValueError):
    """The run cannot be resumed as asked; the message says why and what to do."""


def resume_job(
    run_id: int,
    *,
    db_url: str | None = None,
    data: str | os.PathLike[str] | None = None,
    current: DatasetSpec | None = None,
    train: Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> RunJob:
    """The job that continues run ``run_id`` from its last checkpoint.

    ``data``: a path to resume on instead of the recorded one (the recorded format, column roles and
    split settings still apply). ``current``: the dataset the caller has open, taken as the copy to
    resume on when the recorded files are gone (the runner warns when its files differ from the
    checkpoint's). ``train``: training settings that replace the
    stored ones (``{"epochs": 20}``). Raises :class:`ResumeError` for a run that cannot be resumed
    (still running, completed, or its dataset nowhere) and ``NotFoundError`` for an unknown run.
    """
    if store is None:
        with Store.open(db_url, mark_orphans=False) as opened:
            return resume_job(run_id, db_url=db_url, data=data, current=current, train=train, store=opened)
    run = store.get_run(run_id)
    if is_zeroshot(run.spec):
        raise ResumeError(no_checkpoint_message(run_id, run.spec))
    if run.status.value not in RESUMABLE_STATUSES:
        words = [run_status_title(status) for status in RESUMABLE_STATUSES]  # "stopped", not "cancelled"
        raise ResumeError(
            f"run {run_id} is {run_status_title(run.status.value)}; only a {', '.join(words[:-1])} or "
            f"{words[-1]} run can be resumed"
        )
    dataset = _dataset_spec(store, run, data, current)
    # from_stored: a spec recorded before best_metric existed goes on monitoring what it monitored
    train_spec = TrainSpec.from_stored({**(run.train_spec or {}), **dict(train or {})})
    return RunJob(
        dataset=dataset,
        model=run.spec or {},
        train=train_spec,
        name=run.name,
        db_url=db_url,
        experiment=run.experiment,
        resume_run_id=run_id,
    )


def recorded_dataset(store: Store, run_id: int, *, check: bool = True) -> DatasetSpec:
    """The dataset run ``run_id`` trained on: its recorded spec, or, for a run recorded before the
    spec was kept, its dataset record's folder (with the default splits). ``check``: raise
    :class:`ResumeError` when the files are gone (or nothing is on record)."""
    run = store.get_run(run_id)
    spec = _recorded(store, run)
    if spec is None:
        raise ResumeError(f"run {run_id} has no dataset on record")
    if check and not _exists(spec.path):
        raise ResumeError(f"run {run_id}'s dataset {spec.path} is gone")
    return spec


def load_recorded(
    store: Store, run_id: int, *, check_images: str = "header", cancel: Any = None
) -> tuple[Dataset | None, str]:
    """The dataset run ``run_id`` trained on, loaded again (:func:`recorded_dataset`, with
    ``check_images``), so that the item indices of its predictions point into its items; and a warning
    for a person: ``(None, why)`` when nothing is on record or its files are gone, ``(dataset, why)``
    when they changed since the run (its fingerprint differs from the run's dataset record)."""
    try:
        spec = recorded_dataset(store, run_id, check=True)
    except ResumeError as exc:
        return None, f"{exc}: no images shown"
    dataset = dataclasses.replace(spec, check_images=check_images).load(cancel=cancel)
    run = store.get_run(run_id)
    recorded = store.get_dataset(run.dataset_id).fingerprint if run.dataset_id is not None else None
    if recorded is not None and dataset.fingerprint != recorded:
        return dataset, f"the dataset at {spec.path} changed since run {run_id}: examples may not match"
    return dataset, ""


def _recorded(store: Store, run: Any) -> DatasetSpec | None:
    if run.dataset_spec:
        return DatasetSpec.from_dict(run.dataset_spec)
    if run.dataset_id is not None:
        record = store.get_dataset(run.dataset_id)
        return DatasetSpec(path=_legacy_path(record.path, record.fingerprint))
    return None


def _legacy_path(folder: str, fingerprint: str | None) -> str:
    """The path a record made before the exact file was kept stands for: ``folder`` itself, or, when
    the folder holds several manifests (and so is no dataset by itself), the one manifest whose
    fingerprint is the record's. Reads each candidate's records (no image is opened); ``folder`` when
    none matches, so that loading it says which manifests it holds."""
    from mmstudio.data.dataset import read_source
    from mmstudio.data.detect import detect_format
    from mmstudio.data.fingerprint import fingerprint as fingerprint_of
    from mmstudio.data.types import DatasetFormatError, SeveralDatasets

    if not fingerprint or not os.path.isdir(folder):
        return folder
    try:
        detect_format(folder)
        return folder  # a dataset by itself
    except SeveralDatasets as several:
        choices = several.choices
    except (DatasetFormatError, OSError):
        return folder
    for choice in choices:
        try:
            if fingerprint_of(read_source(choice)) == fingerprint:
                return str(choice)
        except (DatasetFormatError, OSError):
            continue
    return folder


def _dataset_spec(store: Store, run: Any, data: Any, current: DatasetSpec | None) -> DatasetSpec:
    recorded = _recorded(store, run)
    if recorded is None:
        if data is not None:
            return DatasetSpec(path=os.fspath(data))
        if current is not None:
            return current
        raise ResumeError(f"run {run.id} has no dataset on record; give the dataset to resume it on")
    if data is not None:
        return dataclasses.replace(recorded, path=os.fspath(data))
    legacy = not run.dataset_spec  # a folder on record: the open dataset, when in it, says more
    if legacy and current is not None and _same_dataset(current.path, recorded.path):
        return current
    if _exists(recorded.path):
        return recorded
    if current is not None:  # the recorded files are gone: the open dataset is taken as their copy
        return dataclasses.replace(recorded, path=current.path)
    raise ResumeError(
        f"run {run.id}'s dataset {recorded.path} is gone; give a copy of it to resume on "
        "('mmstudio train --resume RUN_ID --data PATH', or open the copy first in the app)"
    )


def _exists(path: str) -> bool:
    from mmstudio.data.sources import is_pattern

    return Path(path).exists() or is_pattern(path)


def _same_dataset(current: str, recorded: str) -> bool:
    """Whether the path the user has open is the recorded one, or a manifest file in the recorded
    folder (a record made before the exact path was kept names the folder)."""
    try:
        a, b = Path(current).resolve(), Path(recorded).resolve()
    except OSError:
        return False
    return a == b or (a.is_file() and a.parent == b)
