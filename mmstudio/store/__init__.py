"""The experiment store: datasets, experiments, runs, metric curves, evaluations, predictions and
artifacts in SQLAlchemy (SQLite by default, any SQLAlchemy URL), with alembic migrations.

Qt-free and torch-free, so listing and comparing runs stays fast. Everything returned is plain data
(frozen dataclasses, numpy arrays); sessions never leave the package. What people read is made here
too, once for the pages and the command line: run records and a run's details (:mod:`.summaries`), a
comparison of runs (:mod:`.compare`) and its tables, CSV and HTML report (:mod:`.report`)::

    with Store.open() as store:
        run_id = store.create_run(name="baseline", spec=model_spec)
        store.start_run(run_id)
        store.log_metrics(run_id, [("train/loss", 1, 0.0, 2.3, None)])
        store.finish_run(run_id)
        curve = store.read_curve(run_id, "train/loss")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import InvalidTransitionError, NotFoundError, StoreError, StoreVersionError

if TYPE_CHECKING:
    from .experiments import DEFAULT_EXPERIMENT
    from .metrics import MetricPoint
    from .store import Store
    from .types import (
        ArtifactInfo,
        Curve,
        CurveCursor,
        CurveUpdate,
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

_TYPES = (
    "ArtifactInfo",
    "Curve",
    "CurveCursor",
    "CurveUpdate",
    "DatasetInfo",
    "EvaluationInfo",
    "ExperimentInfo",
    "MetricStats",
    "Prediction",
    "RunDetail",
    "RunLiveState",
    "RunPoll",
    "RunStatus",
    "RunSummary",
)
# Imported when first asked for: these bring SQLAlchemy and Alembic (~0.5 s), which the desktop app's
# window must not wait for when it only draws curves with ``mmstudio.store.compare``.
# The plain-data types bring numpy, which ``mmstudio --help`` and the errors (``mmstudio.store.errors``,
# caught by the command line's main) must not wait for.
_LATER = {
    "DEFAULT_EXPERIMENT": "experiments",
    "MetricPoint": "metrics",
    "Store": "store",
    **dict.fromkeys(_TYPES, "types"),
}


def __getattr__(name: str):
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_EXPERIMENT",
    "ArtifactInfo",
    "Curve",
    "CurveCursor",
    "CurveUpdate",
    "DatasetInfo",
    "EvaluationInfo",
    "ExperimentInfo",
    "InvalidTransitionError",
    "MetricPoint",
    "MetricStats",
    "NotFoundError",
    "Prediction",
    "RunDetail",
    "RunLiveState",
    "RunPoll",
    "RunStatus",
    "RunSummary",
    "Store",
    "StoreError",
    "StoreVersionError",
]
