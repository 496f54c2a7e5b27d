"""Runs as people read them, without Qt or torch: one :class:`RunRecord` per run (a row of the
Experiments page and of ``mmstudio runs list``), the architecture label, the metric a run is judged
by, and a run's details as an HTML report.

The Experiments page polls with :func:`fetch_runs` (in a pool thread): one light query lists the runs,
and only those whose :func:`summary_signature` changed are read in full. ``mmstudio runs list`` and
``runs show`` build the same records with :func:`fetch_records`, so the page and the command line
name a run's architecture and key metric the same way.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from mmstudio.formatting import format_duration, format_value, local_time, plural
from mmstudio.vocabulary import (
    LOSS_KEYS,
    SLOT_TITLES,
    SLOTS,
    architecture_summary,
    describe_monitor,
    key_metric,
    recorded_monitor,
    test_key,
)

from .types import MetricStats, RunDetail, RunStatus, RunSummary

if TYPE_CHECKING:
    from .handle import StoreHandle
    from .store import Store

#: The loss shown beside a run's key metric (the Best loss and Last loss columns).
LOSS_METRIC = LOSS_KEYS[0]
#: A status's colour where one is shown (the page's status column, the details' heading).
STATUS_COLOURS = {
    RunStatus.RUNNING: "#2f7dd1",
    RunStatus.COMPLETED: "#2e8b57",
    RunStatus.FAILED: "#d64541",
    RunStatus.INTERRUPTED: "#c98a0b",
}
#: The curves a run's sparkline (the Experiments page's Loss curve column) is drawn from, the first
#: with two points or more: train/loss is logged every few steps from a run's first minute, so it
#: shows the curve's shape where val/loss has one point per epoch.
SPARKLINE_KEYS = ("train/loss", "val/loss")
#: The most points a sparkline keeps (means of equal slices of the curve): a column ~90 px wide.
SPARKLINE_POINTS = 48
#: What the Experiments page can group its runs by; a run with several tags is listed under each.
GROUP_BY = ("dataset", "tag")
#: The training settings a run's details list, in this order.
DETAIL_TRAIN_KEYS = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "schedule",
    "weight_decay",
    "precision",
    "image_size",
)


@dataclass(frozen=True)
class RunRecord:
    """What the store says about one run, flattened for display: a row of the runs table."""

    id: int
    name: str
    status: RunStatus
    dataset: str
    architecture: str
    architecture_tip: str
    metric: str
    best: float | None
    last: float | None
    loss_best: float | None
    loss_last: float | None
    test: float | None
    duration_s: float | None
    device: str
    created: datetime
    tags: tuple[str, ...]
    notes: str
    experiment: str = ""
    seed: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    train_spec: dict[str, Any] = field(default_factory=dict)
    dataset_spec: dict[str, Any] | None = None
    """The dataset spec stored with the run (``DatasetSpec.to_dict()``); None for an old record."""
    error_message: str | None = None
    hostname: str = ""
    """The machine that trains (or trained) the run, ``""`` when not recorded (Stop's question names
    it: :func:`mmstudio.training.follow.stop_question`)."""
    pid: int | None = None
    """Its process there."""
    stats: dict[str, MetricStats] = field(default_factory=dict)
    curve_key: str = ""
    """The metric of the sparkline (:data:`SPARKLINE_KEYS`); ``""`` when the run has none."""
    curve: tuple[float, ...] = ()
    """The sparkline: at most :data:`SPARKLINE_POINTS` values of ``curve_key``'s curve, in order."""

    def value(self, key: str) -> Any:
        """The raw value of column ``key`` (what it sorts by; the sparkline by its last value)."""
        if key == "curve":
            return self.curve[-1] if self.curve else None
        if key == "duration":
            return self.duration_s
        if key == "created":
            return self.created.timestamp()
        if key == "status":
            return str(self.status)
        if key == "tags":
            return ", ".join(self.tags)
        return getattr(self, key)

    def groups(self, by: str) -> tuple[str, ...]:
        """The groups the run is listed in when runs are grouped ``by`` a :data:`GROUP_BY` choice:
        its dataset, or each of its tags; ``("",)`` when it has none."""
        if by == "dataset":
            return (self.dataset,)
        if by == "tag":
            return self.tags or ("",)
        raise ValueError(f"runs are grouped by {' or '.join(GROUP_BY)}, not {by!r}")

    def curve_summary(self) -> str:
        """The sparkline in words: ``"train/loss: last 0.52, lowest 0.49 (1,204 points)"``."""
        stats = self.stats.get(self.curve_key)
        if not self.curve or stats is None:
            return ""
        return (
            f"{self.curve_key}: last {format_value(stats.last_value)}, lowest {format_value(stats.min)} "
            f"({plural(stats.count, 'point')})"
        )

    def key_metric_json(self) -> dict[str, Any]:
        """The key metric as plain data: ``{"key", "best", "last", "test"}`` (``runs list --json``)."""
        return {"key": self.metric, "best": self.best, "last": self.last, "test": self.test}


def run_key_metric(
    keys: Iterable[str], spec: Mapping[str, Any] | None = None, train_spec: Mapping[str, Any] | None = None
) -> str:
    """The metric a run is judged by, among the metric ``keys`` it logged:
    :func:`mmstudio.vocabulary.key_metric` for the task of its model ``spec``, the metric that picked
    its best checkpoint (``train_spec``'s ``best_metric``, else its early-stopping metric) first, so the
    page ranks a run by what chose the weights it evaluated. A run that logged no validation score
    (trained without a validation split) is judged by its test score rather than by a loss."""
    keys = set(keys)
    task = (spec or {}).get("task")
    train_spec = train_spec or {}
    preferred = train_spec.get("best_metric") or train_spec.get("early_stopping_metric")
    key = key_metric(keys, task=task, preferred=preferred)
    if key in ("", *LOSS_KEYS):
        tested = key_metric(keys, task=task, split="test")
        if tested and tested not in LOSS_KEYS:
            return tested
    return key


def group_title(by: str, key: str) -> str:
    """A group's name as the page shows it: the dataset or the tag, or what it means to have none."""
    return key or {"dataset": "no dataset", "tag": "no tag"}.get(by, "none")


def sparkline_key(stats: Mapping[str, MetricStats]) -> str:
    """The metric a run's sparkline is drawn from (:data:`SPARKLINE_KEYS`), ``""`` for none."""
    return next((k for k in SPARKLINE_KEYS if k in stats and stats[k].count >= 2), "")


def sparkline(values: Any, points: int = SPARKLINE_POINTS) -> tuple[float, ...]:
    """A curve shrunk to at most ``points`` values: the mean of each of ``points`` equal slices of
    its finite values (a noisy per-step loss reads as its trend); a shorter curve as it is."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size <= points:
        return tuple(float(x) for x in v)
    edges = np.linspace(0, v.size, points + 1).astype(int)
    sums = np.add.reduceat(v, edges[:-1])
    return tuple(float(x) for x in sums / np.diff(edges))


def make_record(
    run: RunDetail,
    stats: Mapping[str, MetricStats],
    now: datetime | None = None,
    curve: tuple[str, tuple[float, ...]] = ("", ()),
) -> RunRecord:
    """The record of ``run`` with its metric ``stats`` and its sparkline ``curve`` (key, values); a
    running run's duration counts up to ``now``."""
    metric = run_key_metric(stats, run.spec, run.train_spec)
    main = stats.get(metric)
    loss = stats.get(LOSS_METRIC)
    test = stats.get(test_key(metric))
    duration = run.duration_s
    if run.status is RunStatus.RUNNING and run.started is not None:
        elapsed = ((now or datetime.now(UTC)) - run.started).total_seconds()
        duration = (duration or 0.0) + max(0.0, elapsed)
    arch, arch_tip = architecture_summary(run.spec)
    return RunRecord(
        id=run.id,
        name=run.name,
        status=run.status,
        dataset=run.dataset or "",
        architecture=arch,
        architecture_tip=arch_tip,
        metric=metric,
        best=main.best if main else None,
        last=main.last_value if main else None,
        loss_best=loss.best if loss else None,
        loss_last=loss.last_value if loss else None,
        test=test.last_value if test else None,
        duration_s=duration,
        device=run.device or "",
        created=run.created,
        tags=tuple(run.tags),
        notes=run.notes or "",
        experiment=run.experiment,
        seed=run.seed,
        spec=dict(run.spec or {}),
        train_spec=dict(run.train_spec or {}),
        dataset_spec=dict(run.dataset_spec) if run.dataset_spec else None,
        error_message=run.error_message,
        hostname=run.hostname or "",
        pid=run.pid,
        stats=dict(stats),
        curve_key=curve[0],
        curve=curve[1],
    )


def fetch_records(
    store: Store, run_ids: Iterable[int], now: datetime | None = None, *, sparklines: bool = False
) -> dict[int, RunRecord]:
    """The records of ``run_ids`` (one query for all their metric stats, one per run for its specs,
    and with ``sparklines`` one for its loss curve); a run deleted meanwhile is left out."""
    from .errors import NotFoundError

    ids = list(run_ids)
    if not ids:
        return {}
    stats = store.metric_stats(ids)
    records: dict[int, RunRecord] = {}
    for run_id in ids:
        try:
            detail = store.get_run(run_id)
        except NotFoundError:  # deleted meanwhile
            continue
        run_stats = stats.get(run_id, {})
        curve: tuple[str, tuple[float, ...]] = ("", ())
        if sparklines and (key := sparkline_key(run_stats)):
            curve = (key, sparkline(store.read_curve(run_id, key).value))
        records[run_id] = make_record(detail, run_stats, now, curve)
    return records


def summary_signature(run: RunSummary) -> Hashable:
    """What changes when a run changes in a way the table shows (notes edited elsewhere included)."""
    return (
        run.name,
        str(run.status),
        run.tags,
        run.notes,
        run.dataset,
        run.device,
        run.ended,
        run.duration_s,
        tuple(sorted((k, v) for k, v in run.metrics.items() if v is None or not math.isnan(v))),
    )


@dataclass(frozen=True)
class RunsSnapshot:
    """One poll: every run id (newest first), their signatures, and the records of the changed ones."""

    url: str | None
    order: list[int]
    signatures: dict[int, Hashable]
    records: dict[int, RunRecord]


def fetch_runs(
    task_state: Any, handle: StoreHandle, url: str | None, known: Mapping[int, Hashable]
) -> RunsSnapshot:
    """In a pool thread: list the runs and build records (with their sparklines) for those whose
    signature is not ``known``; the others' curves are not read."""
    store = handle.get(url)
    summaries = store.list_runs()
    signatures = {s.id: summary_signature(s) for s in summaries}
    changed = [s.id for s in summaries if known.get(s.id) != signatures[s.id]]
    records = fetch_records(store, changed, sparklines=True)
    for run_id in changed:
        if run_id not in records:  # deleted meanwhile
            signatures.pop(run_id, None)
    order = [s.id for s in summaries if s.id in signatures]
    return RunsSnapshot(url, order, signatures, records)


# --- the details of one run, as HTML -----------------------------------------------------------------


def details_html(rec: RunRecord) -> str:
    """Everything the record says about one run, as HTML (Qt's rich text subset, so the Experiments
    page shows it as it is): heading and status, why it stopped, facts, tags, notes, and three
    columns: the model, the training settings, every metric's last and best value."""
    colour = STATUS_COLOURS.get(rec.status, "palette(text)")
    parts = [
        f"<h3 style='margin:0'>{escape(rec.name)} <span style='font-weight:normal'>· run {rec.id}</span> "
        f"<span style='color:{colour}'>[{escape(str(rec.status))}]</span></h3>"
    ]
    if rec.error_message:
        parts.append(f"<p style='color:#d64541'><b>Why it stopped:</b> {escape(rec.error_message)}</p>")
    facts = [
        ("experiment", rec.experiment),
        ("dataset", rec.dataset or "-"),
        ("device", rec.device or "-"),
        ("seed", "" if rec.seed is None else str(rec.seed)),
        ("duration", format_duration(rec.duration_s) or "-"),
        ("created", local_time(rec.created)),
    ]
    parts.append("<p>" + " &nbsp;·&nbsp; ".join(f"{k} <b>{escape(v)}</b>" for k, v in facts if v) + "</p>")
    if rec.tags:
        parts.append(
            "<p style='margin-bottom:8px'>tags: "
            + ", ".join(f"<b>{escape(t)}</b>" for t in rec.tags)
            + "</p>"
        )
    if rec.notes.strip():
        parts.append("<p><b>Notes</b><br>" + escape(rec.notes).replace("\n", "<br>") + "</p>")

    cells = []
    spec = rec.spec
    if spec:
        model_rows = [("task", str(spec.get("task", "?")))]
        for slot in SLOTS:
            block = spec.get(slot)
            if isinstance(block, dict):
                params = ", ".join(f"{k}={v}" for k, v in block.items() if k != "name")
                name = f"{block.get('name', '?')}" + (f" ({params})" if params else "")
                model_rows.append((SLOT_TITLES[slot].lower(), name))
        cells.append(_table_html("Model", model_rows))
    train = rec.train_spec
    if train:
        rows = [(k, str(train[k])) for k in DETAIL_TRAIN_KEYS if k in train]
        rows.append(("best checkpoint by", describe_monitor(recorded_monitor(train))))
        cells.append(_table_html("Training", rows))
    if rec.stats:
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td align='right'>{format_value(s.last_value)}</td>"
            f"<td align='right'>{format_value(s.best)}</td><td align='right'>{s.count:,}</td></tr>"
            for k, s in sorted(rec.stats.items())
        )
        cells.append(
            "<b>Metrics</b><table cellspacing='0' cellpadding='2'>"
            "<tr><th align='left'>key</th><th align='right'>last</th><th align='right'>best</th>"
            f"<th align='right'>points</th></tr>{rows}</table>"
        )
    else:
        cells.append("<i>No metrics logged yet.</i>")
    parts.append(
        "<table cellspacing='0' cellpadding='0'><tr>"
        + "".join(f"<td valign='top' style='padding-right:28px'>{c}</td>" for c in cells)
        + "</tr></table>"
    )
    return "".join(parts)


def _table_html(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><td style='color:gray; padding-right:8px'>{escape(k)}</td><td>{escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<b>{escape(title)}</b><table cellspacing='0' cellpadding='2'>{body}</table>"
