"""The Compare page's work off the GUI thread (run with :func:`mmstudio.ui.tasks.run_task`): each job
hands the core its task state (for progress and cancel) and returns plain data the page draws."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmstudio.store.compare import Comparison, load_comparison, opening_metric
from mmstudio.store.curves import ChartCurves, PeakPyramid, chart_curves, smoothed_curves
from mmstudio.store.handle import StoreHandle
from mmstudio.store.types import Curve


def load_comparison_job(state, holder: StoreHandle, url: str | None, run_ids: list[int]) -> Comparison:
    state.set_message("reading the runs")
    return load_comparison(holder.get(url), run_ids, cancel=state)


def load_curves_job(state, holder: StoreHandle, url: str | None, run_ids: list[int], key: str, weight: float):
    return chart_curves(holder.get(url), run_ids, key, weight, progress=state, cancel=state)


def prefetch_curves_job(
    state, holder: StoreHandle, url: str | None, run_ids: list[int], weight: float
) -> ChartCurves | None:
    """The curves the view will show first (the default metric), read while the rest of the
    comparison is: the two jobs run side by side in the pool."""
    key = opening_metric(holder.get(url), run_ids)
    return None if key is None else load_curves_job(state, holder, url, run_ids, key, weight)


def smooth_job(
    state, key: str, curves: dict[int, Curve], weight: float
) -> tuple[float, dict[int, np.ndarray], dict[int, PeakPyramid]]:
    smoothed = smoothed_curves(key, curves, weight, cancel=state)
    return (
        weight,
        smoothed,
        {run_id: PeakPyramid.of(curves[run_id].step, v) for run_id, v in smoothed.items()},
    )


def load_items_job(state: Any, holder: StoreHandle, url: str | None, run_id: int, dataset_id: int):
    """The items of run ``run_id``'s dataset (its predictions' item indices point into them), for the
    cache of ``dataset_id``, and a warning (:func:`mmstudio.training.resume.load_recorded`)."""
    from mmstudio.training.resume import load_recorded

    dataset, warning = load_recorded(holder.get(url), run_id, cancel=state)
    return dataset_id, list(dataset.items) if dataset is not None else [], warning
