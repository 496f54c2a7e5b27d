"""The words mmstudio uses everywhere, defined once (standard library only).

Tasks, splits, ablations, which way a metric improves and which metric a run is judged by: the
command line, the trainer, the store and every page read them from here, so a name means the same
thing in each of them. Display text for these words lives here too, so that ``runs list``, the
Experiments page and the compare report call a thing by the same name.

Importing this module costs nothing: it is the bottom layer of the package (see
``docs/architecture.md``), below ``data``, ``models``, ``store`` and ``training``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

# --- tasks ------------------------------------------------------------------------------------------

#: What a model is trained to do. A captions dataset (several texts per image, no labels) trains a
#: contrastive model; every other dataset trains one of the three predictive tasks.
TASKS = ("classification", "multilabel", "regression", "contrastive")
PREDICTIVE_TASKS = ("classification", "multilabel", "regression")
TASK_TITLES = {
    "classification": "Classification",
    "multilabel": "Multi-label classification",
    "regression": "Regression",
    "contrastive": "Contrastive retrieval",
}
TASK_HELP = {
    "classification": "One label per item, from the dataset's label column",
    "multilabel": "Several labels per item (a label cell like 'cat|dog'), each yes or no",
    "regression": "A number per item, from a numeric label column",
    "contrastive": "Match texts with images (CLIP-style); needs both encoders and no fusion",
}


def check_task(task: str) -> str:
    """``task`` if it is one of :data:`TASKS`; else a ``ValueError`` that lists them."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    return task


def default_task(dataset_task: str) -> str:
    """The model task training picks for a dataset of kind ``dataset_task`` (``Dataset.task``): a
    captions dataset (``retrieval``) is contrastive, every other one a classification."""
    return "contrastive" if dataset_task == "retrieval" else "classification"


# --- splits -----------------------------------------------------------------------------------------

SPLITS = ("train", "val", "test")
#: The splits a run may monitor (early stopping, the best checkpoint). Never ``test``: choosing a model
#: on the test split leaks it.
MONITOR_SPLITS = ("val", "train")

# --- ablations --------------------------------------------------------------------------------------

#: Evaluations with one modality masked, and the modality each one masks.
ABLATIONS = {"text_masked": "text", "image_masked": "image"}
#: The conditions of the modality comparison: title and ablation (``None``: nothing masked).
CONDITIONS = (("fused", None), ("text masked", "text_masked"), ("image masked", "image_masked"))


def ablation_title(ablation: str | None) -> str:
    """``"text masked"`` for ``text_masked``; ``"fused"`` for no ablation."""
    return next((title for title, a in CONDITIONS if a == ablation), str(ablation).replace("_", " "))


# --- metrics ----------------------------------------------------------------------------------------

#: Words of a metric name that make it an error (lower is better); every other metric is a score.
_MINIMISED_WORDS = frozenset({"loss", "err", "error", "errors", "mae", "mse", "rmse", "perplexity", "ppl"})
_WORD = re.compile(r"[a-z]+")

#: Per task, the metrics a run is judged by, in order of preference (the first one it logged wins).
KEY_METRICS = {
    "classification": ("accuracy", "macro_f1"),
    "multilabel": ("macro_f1", "micro_f1", "subset_accuracy"),
    "regression": ("rmse", "mae"),
    "contrastive": ("mean_recall", "r@1_i2t"),
}
#: The same, for a run whose task is not known: every task's first choice, then the rest.
_ANY_TASK = ("accuracy", "macro_f1", "mean_recall", "r@1_i2t", "rmse", "mae", "micro_f1", "subset_accuracy")
LOSS_KEYS = ("val/loss", "train/loss")
#: The metrics the trainer may monitor for early stopping, offered first where one is chosen.
MONITOR_CHOICES = ("val/loss", "val/accuracy", "val/macro_f1", "val/mean_recall", "val/rmse")


def lower_is_better(key: str) -> bool:
    """Whether smaller values of metric ``key`` are better: losses and errors (``val/loss``,
    ``val/top1_err``, ``test/rmse``, ``train/epoch_loss``); every other metric is a score."""
    name = key.rsplit("/", 1)[-1].lower()
    return any(word in _MINIMISED_WORDS or word.endswith("loss") for word in _WORD.findall(name))


def metric_mode(key: str) -> str:
    """``"min"`` when lower values of ``key`` are better (:func:`lower_is_better`), else ``"max"``."""
    return "min" if lower_is_better(key) else "max"


def metric_split(key: str) -> str:
    """``"val"`` for ``val/accuracy``; ``""`` for a key without a split."""
    return key.split("/", 1)[0] if "/" in key else ""


def metric_name(key: str) -> str:
    """``"accuracy"`` for ``val/accuracy``."""
    return key.split("/", 1)[1] if "/" in key else key


def key_metric(
    keys: Collection[str], *, task: str | None = None, preferred: str | None = None, split: str = "val"
) -> str:
    """The metric a run is judged by, among the metric ``keys`` it logged: ``preferred`` (its early
    stopping metric) when it is a score it logged; else the first of the task's :data:`KEY_METRICS`
    on ``split`` (any task's, when ``task`` is unknown); else ``val/loss`` or ``train/loss``; ``""``
    for a run without metrics. The Experiments page ranks by it and the compare view opens on it."""
    if preferred and preferred in keys and preferred not in LOSS_KEYS:
        return preferred
    names = KEY_METRICS.get(task or "", _ANY_TASK)
    for name in names:
        if f"{split}/{name}" in keys:
            return f"{split}/{name}"
    for key in LOSS_KEYS:
        if key in keys:
            return key
    return ""


#: The metric that picked the best checkpoint of a run recorded before ``best_metric`` existed (and
#: without an early-stopping metric): training then always monitored the validation loss.
LEGACY_MONITOR = "val/loss"


def default_monitor(task: str | None) -> str:
    """The metric that picks a run's best checkpoint (and drives early stopping) when the user chose
    none: the task's key metric on the validation split, the first of :data:`KEY_METRICS` (the one
    :func:`key_metric` ranks the run by), so the checkpoint evaluated is the one the Experiments page
    ranks (``val/accuracy`` for a classification, ``val/rmse`` for a regression)."""
    names = KEY_METRICS.get(task or "classification", KEY_METRICS["classification"])
    return f"val/{names[0]}"


def recorded_monitor(train_spec: Mapping[str, Any] | None) -> str:
    """The metric that picked a recorded run's best checkpoint, from its stored train spec: its
    ``best_metric``; for a spec stored before that field existed, its early-stopping metric, else
    :data:`LEGACY_MONITOR` (what training monitored then); ``""`` with no spec."""
    if not train_spec:
        return ""
    if "best_metric" in train_spec:
        return str(train_spec.get("best_metric") or train_spec.get("early_stopping_metric") or "")
    return str(train_spec.get("early_stopping_metric") or LEGACY_MONITOR)


def describe_monitor(key: str) -> str:
    """``"val/accuracy (max)"``: a monitored metric and which way it improves."""
    return f"{key} ({'min' if lower_is_better(key) else 'max'})" if key else ""


def test_key(key: str) -> str:
    """The test-split twin of a validation metric (``val/accuracy`` -> ``test/accuracy``); ``""`` for
    any other key."""
    return f"test/{metric_name(key)}" if metric_split(key) == "val" else ""


def best_value(key: str, low: float | None, high: float | None) -> float | None:
    """The better of a metric's extremes: ``low`` for an error, ``high`` for a score."""
    return low if lower_is_better(key) else high


#: The metrics the trainer logs as a run goes, per step (their x is the step): the loss of every
#: step, and the learning rate and throughput of every logging window.
STEP_METRICS = ("train/loss", "train/lr", "train/samples_per_s")
#: The metrics logged once an epoch (their x is the epoch): the validation metrics and the epoch's
#: mean training loss (``train/epoch_loss``).
EPOCH_METRIC_PREFIXES = ("val/", "train/epoch_")


def is_epoch_metric(key: str) -> bool:
    """Whether ``key`` is logged once an epoch (``val/accuracy``, ``train/epoch_loss``)."""
    return key.startswith(EPOCH_METRIC_PREFIXES)


def is_live_metric(key: str) -> bool:
    """Whether the trainer logs ``key`` as the run goes, per step (:data:`STEP_METRICS`) or once an
    epoch: the curves the Train page plots live, and reads back from the store for a resumed run
    (``test/*`` and the ablations come once, at the end)."""
    return key in STEP_METRICS or is_epoch_metric(key)


# --- run statuses -----------------------------------------------------------------------------------

RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
#: A run in one of these can be resumed from its last checkpoint into the same run.
RESUMABLE_STATUSES = ("failed", "cancelled", "interrupted")
#: How a status reads for people: a run the user stopped is "stopped" (stored as ``cancelled``).
RUN_STATUS_TITLES = {"cancelled": "stopped"}


def run_status_title(status: str) -> str:
    """``"stopped"`` for ``cancelled``; every other status reads as itself."""
    return RUN_STATUS_TITLES.get(str(status), str(status))


# --- pages ------------------------------------------------------------------------------------------

#: The pages of the desktop app, in the order of its page bar (``mmstudio gui --page``).
PAGES = ("datasets", "model", "train", "experiments", "compare")


# --- model specs --------------------------------------------------------------------------------------

#: The four components of a model spec, in the order a batch flows through them.
SLOTS = ("text_encoder", "image_encoder", "fusion", "head")
SLOT_TITLES = {
    "text_encoder": "Text encoder",
    "image_encoder": "Image encoder",
    "fusion": "Fusion",
    "head": "Head",
}


def component_name(block: Any) -> str | None:
    """The ``name`` of a spec component (``{"name": "textcnn", ...}``); None for none or a missing one."""
    name = block.get("name") if isinstance(block, Mapping) else None
    return None if name in (None, "", "none") else str(name)


def architecture_summary(spec: Mapping[str, Any] | None) -> tuple[str, str]:
    """``("bag + small_cnn · concat", tooltip)`` for a model spec; ``("", "")`` without one. The label
    is what the runs table, ``runs list`` / ``runs show`` and the Train page call the architecture;
    the tooltip names the task and every component."""
    if not spec:
        return "", ""
    text, image = component_name(spec.get("text_encoder")), component_name(spec.get("image_encoder"))
    fusion = component_name(spec.get("fusion")) or "?"
    if text and image:
        short = f"{text} + {image} · {fusion}"
    elif text:
        short = f"{text} (text only)"
    elif image:
        short = f"{image} (image only)"
    else:
        short = "?"
    head = component_name(spec.get("head")) or "?"
    tip = (
        f"task {spec.get('task', '?')}; text encoder {text or 'none'}; image encoder {image or 'none'}; "
        f"fusion {fusion}; head {head}"
    )
    return short, tip
