"""The Compare page's work off the GUI thread (run with :func:`mmstudio.ui.tasks.run_task`): each job
hands the core its task state (for progress and cancel) and returns plain data the page draws."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmstudio.store.compare import Comparison, default_metric, ema, load_comparison
from mmstudio.store.handle import StoreHandle
from mmstudio.store.types import Curve
from mmstudio.ui.compare.charts import StepPyramids, step_pyramids
from mmstudio.ui.peak_curve import PeakPyramid

#: What :func:`load_curves_job` returns: the key, the curves, their EMA, its weight, the chart's pyramids.
CurvesResult = tuple[str, dict[int, Curve], dict[int, np.ndarray], float, StepPyramids]


def load_comparison_job(state, holder: StoreHandle, url: str | None, run_ids: list[int]) -> Comparison:
    state.set_message("reading the runs")
    return load_comparison(holder.get(url), run_ids, cancel=state)


def load_curves_job(
    state, holder: StoreHandle, url: str | None, run_ids: list[int], key: str, weight: float
) -> CurvesResult:
    """Read one metric of every run, smooth it and build the pyramids the chart draws from."""
    store = holder.get(url)
    curves: dict[int, Curve] = {}
    for n, run_id in enumerate(run_ids):
        state.check()
        curves[run_id] = store.read_curve(run_id, key)
        state.progress(n + 1, 2 * len(run_ids))
    _, smoothed, _ = smooth_job(state, curves, weight)
    state.check()
    return key, curves, smoothed, weight, step_pyramids(curves, smoothed)


def prefetch_curves_job(
    state, holder: StoreHandle, url: str | None, run_ids: list[int], weight: float
) -> CurvesResult | None:
    """The curves the view will show first (the default metric), read while the rest of the
    comparison is: the two jobs run side by side in the pool."""
    key = default_metric(run_ids, holder.get(url).metric_stats(run_ids))
    return None if key is None else load_curves_job(state, holder, url, run_ids, key, weight)


def smooth_job(
    state, curves: dict[int, Curve], weight: float
) -> tuple[float, dict[int, np.ndarray], dict[int, PeakPyramid]]:
    out = {}
    for run_id, curve in curves.items():
        state.check()
        out[run_id] = ema(curve.value, weight) if weight > 0 else curve.value
    pyramids = {run_id: PeakPyramid.of(curves[run_id].step, values) for run_id, values in out.items()}
    return weight, out, pyramids


def load_items_job(state: Any, holder: StoreHandle, url: str | None, run_id: int, dataset_id: int):
    """The items of run ``run_id``'s dataset (its predictions' item indices point into them), for the
    cache of ``dataset_id``, and a warning (:func:`mmstudio.training.resume.load_recorded`)."""
    from mmstudio.training.resume import load_recorded

    dataset, warning = load_recorded(holder.get(url), run_id, cancel=state)
    return dataset_id, list(dataset.items) if dataset is not None else [], warning
