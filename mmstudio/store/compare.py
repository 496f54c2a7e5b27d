"""Comparing runs without Qt or torch: flattened parameters and the keys that differ, the metrics
runs share, the one the view opens on, their test evaluations (plain, text masked, image masked), the
items they disagree on, and EMA smoothing of a curve (which curves are smoothed, and how much).

The compare view (``mmstudio.ui.compare``) and ``mmstudio runs compare`` read the same data through
:func:`load_comparison`, and show it through the same tables (:mod:`mmstudio.store.report`);
everything returned is plain data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from mmstudio.progress import check_cancel
from mmstudio.vocabulary import CONDITIONS, is_epoch_metric, key_metric, lower_is_better, metric_split

from .summaries import run_key_metric
from .types import EvaluationInfo, MetricStats, Prediction, RunDetail

if TYPE_CHECKING:
    from .store import Store

MAX_RUNS = 20


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: nested specs as comparable dotted keys."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value
    return out


def run_parameters(run: RunDetail) -> dict[str, Any]:
    """The run's model spec, train spec and seed as dotted keys (``model.fusion.name``, ``train.lr``)."""
    return flatten("", {"model": run.spec or {}, "train": run.train_spec or {}, "seed": run.seed}, {})


def differing_keys(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """The sorted keys whose value is not the same in every mapping (a missing key counts as None)."""
    keys = sorted(set().union(*params)) if params else []
    return [k for k in keys if len({repr(p.get(k)) for p in params}) > 1]


def run_label(run: RunDetail | Any) -> str:
    """How a run is named in legends and headers: ``#12 baseline``."""
    return f"#{run.id} {run.name}"


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Everything the compare view shows except the curves, for runs in the order asked."""

    runs: list[RunDetail]
    parameters: list[dict[str, Any]]
    all_keys: list[str]
    differing: list[str]
    stats: dict[int, dict[str, MetricStats]]
    evaluations: dict[int, list[EvaluationInfo]]
    predictions: dict[int, list[Prediction]] = field(default_factory=dict)
    """Per run, the predictions of its plain test evaluation (empty when it has none)."""

    @property
    def run_ids(self) -> list[int]:
        return [r.id for r in self.runs]

    def labels(self) -> list[str]:
        return [run_label(r) for r in self.runs]

    def shared_metric_keys(self) -> list[str]:
        """Metric keys every run logged, sorted (the union when they share none)."""
        return shared_metric_keys(self.run_ids, self.stats)

    def default_metric(self) -> str | None:
        """The metric to show first: :func:`default_metric`."""
        return default_metric(self.run_ids, self.stats, self.runs)

    def parameter_rows(self, show_all: bool = False) -> list[tuple[str, list[Any]]]:
        keys = self.all_keys if show_all else self.differing
        return [(k, [p.get(k) for p in self.parameters]) for k in keys]

    def metric_rows(self) -> list[tuple[str, list[tuple[float | None, float | None]]]]:
        """Per metric key (any run logged), per run ``(last, best)``; ``(None, None)`` when absent."""
        keys = sorted(set().union(*(self.stats.get(i, {}).keys() for i in self.run_ids)))
        rows = []
        for key in keys:
            cells = []
            for i in self.run_ids:
                s = self.stats.get(i, {}).get(key)
                cells.append((s.last_value, s.best) if s else (None, None))
            rows.append((key, cells))
        return rows

    def evaluation(
        self, run_id: int, split: str = "test", ablation: str | None = None
    ) -> EvaluationInfo | None:
        """The latest evaluation of ``run_id`` on ``split`` with ``ablation`` (None: plain)."""
        found = [e for e in self.evaluations.get(run_id, []) if e.split == split and e.ablation == ablation]
        return found[-1] if found else None

    def class_labels(self) -> list[str]:
        """The union of the labels of the runs' plain test evaluations, in first-seen order."""
        labels: dict[str, None] = {}
        for i in self.run_ids:
            e = self.evaluation(i)
            for label in (e.labels or []) if e else []:
                labels.setdefault(label, None)
        return list(labels)

    def per_class(self, score: str = "f1") -> dict[int, dict[str, float]]:
        """Per run, label -> ``score`` from its plain test evaluation."""
        out: dict[int, dict[str, float]] = {}
        for i in self.run_ids:
            e = self.evaluation(i)
            per = (e.per_class or {}) if e else {}
            out[i] = {
                label: float(v[score]) for label, v in per.items() if isinstance(v, dict) and score in v
            }
        return out

    def eval_metric_names(self) -> list[str]:
        """Scalar metric names of the runs' test evaluations (``accuracy``, ``macro_f1``...)."""
        names: dict[str, None] = {}
        for i in self.run_ids:
            for e in self.evaluations.get(i, []):
                if e.split == "test":
                    for k, v in e.metrics.items():
                        if isinstance(v, int | float) and not isinstance(v, bool):
                            names.setdefault(k, None)
        preferred = [n for n in ("accuracy", "macro_f1") if n in names]
        return preferred + [n for n in names if n not in preferred]

    def modality_scores(self, metric: str) -> dict[int, dict[str, float | None]]:
        """Per run, condition (``fused``, ``text masked``, ``image masked``) -> the test ``metric``."""
        out: dict[int, dict[str, float | None]] = {}
        for i in self.run_ids:
            row: dict[str, float | None] = {}
            for name, ablation in CONDITIONS:
                e = self.evaluation(i, "test", ablation)
                value = e.metrics.get(metric) if e else None
                row[name] = float(value) if isinstance(value, int | float) else None
            out[i] = row
        return out

    def disagreements(self) -> list[int]:
        """Item indices predicted by every run (with predictions) where the predicted labels differ."""
        return disagreements([self.predictions.get(i, []) for i in self.run_ids])

    @cached_property
    def _by_index(self) -> dict[int, dict[int, Prediction]]:
        return {i: {p.item_index: p for p in self.predictions.get(i, [])} for i in self.run_ids}

    def prediction(self, run_id: int, item_index: int) -> Prediction | None:
        """Run ``run_id``'s prediction of test item ``item_index``, if it stored one."""
        return self._by_index.get(run_id, {}).get(item_index)

    def examples(self, run_id: int, true_label: str, predicted_label: str) -> list[Prediction]:
        return [
            p
            for p in self.predictions.get(run_id, [])
            if p.true_label == true_label and p.predicted_label == predicted_label
        ]


def disagreements(predictions: Sequence[Sequence[Prediction]]) -> list[int]:
    """The item indices every non-empty list predicts, where not all predicted labels agree."""
    maps = [{p.item_index: p.predicted_label for p in preds} for preds in predictions if preds]
    if len(maps) < 2:
        return []
    common = set.intersection(*(set(m) for m in maps))
    return sorted(i for i in common if len({m[i] for m in maps}) > 1)


def shared_metric_keys(run_ids: Sequence[int], stats: Mapping[int, Mapping[str, MetricStats]]) -> list[str]:
    """Metric keys every run logged, sorted (the union when they share none)."""
    sets = [set(stats.get(i, {})) for i in run_ids]
    shared = set.intersection(*sets) if sets else set()
    return sorted(shared or set().union(*sets))


def default_metric(
    run_ids: Sequence[int],
    stats: Mapping[int, Mapping[str, MetricStats]],
    runs: Sequence[RunDetail] | None = None,
) -> str | None:
    """The metric whose curves the compare view opens on: the one the Experiments page ranks the runs
    by (:func:`~mmstudio.store.summaries.run_key_metric` of each of ``runs``, from its task and its
    early-stopping metric: the first of theirs that every run logged), else the runs' key metric among
    the keys they share (:func:`~mmstudio.vocabulary.key_metric`, a loss only when they logged no
    score), else the first shared key. A score logged once an epoch is a short curve, drawn as its
    points (:func:`smoothing_weight`), never a reason to open on a loss instead."""
    keys = shared_metric_keys(run_ids, stats)
    if not keys:
        return None
    shared = set(keys)
    for run in runs or ():
        key = run_key_metric(stats.get(run.id, {}), run.spec, run.train_spec)
        if key in shared:
            return key
    return key_metric(keys) or keys[0]


def opening_metric(store: Store, run_ids: Sequence[int]) -> str | None:
    """:func:`default_metric` of runs in the store, read alone (so that its curves can be read while
    the rest of the comparison is)."""
    ids = list(dict.fromkeys(run_ids))
    return default_metric(ids, store.metric_stats(ids), [store.get_run(i) for i in ids])


def load_comparison(
    store: Store, run_ids: Iterable[int], *, cancel: Any = None, predictions: bool = True
) -> Comparison:
    """Read everything but the curves for ``run_ids`` (runs missing from the store raise
    :class:`~mmstudio.store.NotFoundError`); ``predictions=False`` leaves out the per-item predictions
    (the tables and reports do not need them)."""
    ids = list(dict.fromkeys(run_ids))
    runs = []
    for i in ids:
        _check(cancel)
        runs.append(store.get_run(i))
    params = [run_parameters(r) for r in runs]
    evaluations: dict[int, list[EvaluationInfo]] = {}
    found: dict[int, list[Prediction]] = {}
    for i in ids:
        _check(cancel)
        evaluations[i] = store.list_evaluations(i)
        plain = [e for e in evaluations[i] if e.split == "test" and e.ablation is None]
        if predictions:
            found[i] = store.list_predictions(i, evaluation_id=plain[-1].id) if plain else []
    return Comparison(
        runs=runs,
        parameters=params,
        all_keys=sorted(set().union(*params)) if params else [],
        differing=differing_keys(params),
        stats=store.metric_stats(ids),
        evaluations=evaluations,
        predictions=found,
    )


def _check(cancel: Any) -> None:
    check_cancel(cancel, "comparing the runs")


def best_index(values: np.ndarray, key: str) -> int | None:
    """Where ``key``'s best value is (min for losses and errors, else max), NaNs ignored."""
    if values.size == 0 or np.all(np.isnan(values)):
        return None
    return int(np.nanargmin(values) if lower_is_better(key) else np.nanargmax(values))


#: A curve of fewer points is never smoothed: its points are drawn as they are.
MIN_SMOOTHED_POINTS = 10
#: The smoothing's reach, the EMA's span ``1 / (1 - weight)``, is at most this share of a curve's points.
MAX_SPAN_SHARE = 0.25


def is_step_metric(key: str) -> bool:
    """Whether ``key`` is logged every few steps (``train/loss``, ``train/lr``): a long, noisy curve
    worth smoothing. Per-epoch metrics (``val/*``, ``train/epoch_*``) and those logged once
    (``test/*``) are a few points, each a measurement in its own right."""
    return metric_split(key) == "train" and not is_epoch_metric(key)


def smoothing_weight(key: str, points: int, weight: float) -> float:
    """The EMA weight that a curve of ``points`` points of metric ``key`` is smoothed with when the user
    asks for ``weight``: 0 (the values as they are) for a metric that is not logged per step
    (:func:`is_step_metric`) and for a curve shorter than :data:`MIN_SMOOTHED_POINTS`; else ``weight``,
    lowered so that the average reaches back over at most a quarter of the points
    (:data:`MAX_SPAN_SHARE`: 0.99 over 40 points would draw one long lag, not the curve). The compare
    view and the Train page's live loss both smooth by this rule."""
    if weight <= 0 or points < MIN_SMOOTHED_POINTS or not is_step_metric(key):
        return 0.0
    return min(float(weight), 1.0 - 1.0 / (MAX_SPAN_SHARE * points))


def smooth(key: str, values: np.ndarray, weight: float) -> np.ndarray:
    """``values`` of metric ``key`` smoothed as :func:`smoothing_weight` says: the array itself (not a
    copy) when they are not smoothed."""
    applied = smoothing_weight(key, len(values), weight)
    return ema(values, applied) if applied > 0 else values


def ema(values: np.ndarray, weight: float, *, resume: tuple[float, int] | None = None) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing: ``s_t = w s_(t-1) + (1 - w) x_t``
    (``s_-1 = 0``) divided by ``1 - w^(t+1)``. NaNs are skipped (they stay NaN in the result).
    Vectorised in blocks short enough that ``w^-k`` keeps its precision, so 100,000 points take a few
    milliseconds.

    ``resume=(last, n)`` continues a series whose first ``n`` (non-NaN) points were smoothed already,
    the last of them to ``last``: the result is what smoothing the whole series at once gives for the
    new points (the live plots smooth a run's loss as it arrives, the compare view all of it at once).
    """
    x = np.asarray(values, dtype=np.float64)
    if weight <= 0 or x.size == 0:
        return x.copy()
    if weight >= 1:
        raise ValueError(f"the smoothing weight must be below 1, not {weight}")
    nan = np.isnan(x)
    if nan.any():  # NaNs are left out of the average and stay NaN
        out = np.full_like(x, np.nan)
        if not nan.all():
            out[~nan] = ema(x[~nan], weight, resume=resume)
        return out
    last, before = resume if resume is not None and resume[1] > 0 else (0.0, 0)
    # Blocks of B points: inside a block the sum is a cumsum scaled by w^-k (B is small enough that
    # w^-B keeps 6 digits), all blocks at once; then one scalar recurrence carries across blocks.
    block = max(1, min(4096, int(6 * math.log(10) / -math.log(weight)), x.size))
    n_blocks = -(-x.size // block)
    padded = np.empty(n_blocks * block)
    padded[: x.size] = x
    padded[x.size :] = x[-1]
    table = padded.reshape(n_blocks, block)
    k = np.arange(block, dtype=np.float64)
    acc = np.cumsum(table * weight**-k, axis=1) * (weight**k * (1 - weight))
    # carry[b], the state before block b, is sum_t decay^(t-1) end[b-t]: decay = w^B is ~1e-6, so a
    # few shifted terms reach double precision (a Python loop over thousands of blocks took ~10 ms)
    decay, ends = weight**block, acc[:, -1]
    terms = 1 if decay == 0 else max(1, math.ceil(math.log(1e-17) / math.log(decay)))
    carry = np.zeros(n_blocks)
    if terms < n_blocks:
        factor = 1.0
        for t in range(1, terms + 1):
            carry[t:] += factor * ends[:-t]
            factor *= decay
    else:
        state = 0.0
        for b, end in enumerate(ends.tolist()):
            carry[b] = state
            state = end + decay * state
    acc += carry[:, None] * weight ** (k + 1)
    out = acc.reshape(-1)[: x.size].copy()
    # w^(t+1) and the debiasing 1 - w^(t+1) reach 0 and 1 to double precision after a few dozen points
    # (and a power that underflows takes numpy's slow path: 10 ms for 100,000 of them)
    reach = math.ceil(math.log(1e-17) / math.log(weight))
    if before:  # the state carried in (undebiased) fades as w^(t+1)
        fading = min(x.size, reach)
        out[:fading] += last * (1 - weight**before) * weight ** np.arange(1, fading + 1, dtype=np.float64)
    biased = min(x.size, max(0, reach - before))
    out[:biased] /= 1 - weight ** np.arange(before + 1, before + biased + 1, dtype=np.float64)
    return out
