"""The shared vocabulary: one rule for which way a metric improves, one for a run's key metric."""

import pytest

from mmstudio import formatting, vocabulary
from mmstudio.vocabulary import (
    STEP_METRICS,
    is_epoch_metric,
    is_live_metric,
    key_metric,
    lower_is_better,
    metric_mode,
)


@pytest.mark.parametrize(
    "key",
    [
        "val/loss",
        "train/loss",
        "train/epoch_loss",
        "val/mae",
        "val/rmse",
        "val/mse",
        "val/top1_err",
        "val/error_rate",
        "val/perplexity",
        "test/nll_loss",
    ],
)
def test_losses_and_errors_are_minimised(key):
    assert lower_is_better(key) and metric_mode(key) == "min"


@pytest.mark.parametrize(
    "key",
    ["val/accuracy", "val/macro_f1", "val/r@1_t2i", "val/r2", "val/mean_recall", "val/roc_auc", "val/recall"],
)
def test_scores_are_maximised(key):
    assert not lower_is_better(key) and metric_mode(key) == "max"


def test_every_users_direction_is_the_vocabularys():
    """The trainer's monitor, the store's best value and the compare view's best point all follow it."""
    from mmstudio.store.compare import best_index
    from mmstudio.store.types import MetricStats
    from mmstudio.training.spec import TrainSpec

    assert TrainSpec(early_stopping_metric="val/top1_err").monitor_mode == "min"
    stats = MetricStats(
        key="val/top1_err", count=3, last_step=3, last_epoch=3, last_value=0.2, last_time=0, min=0.1, max=0.5
    )
    assert stats.best == 0.1
    import numpy as np

    assert best_index(np.array([0.5, 0.1, 0.3]), "val/top1_err") == 1


def test_key_metric_prefers_the_early_stopping_metric_then_the_tasks_own():
    keys = {"val/loss", "val/accuracy", "val/macro_f1", "train/loss"}
    assert key_metric(keys) == "val/accuracy"
    assert key_metric(keys, preferred="val/macro_f1") == "val/macro_f1"
    assert key_metric(keys, preferred="val/loss") == "val/accuracy"  # a loss is never the key metric
    assert key_metric(keys, preferred="val/absent") == "val/accuracy"
    assert key_metric(keys, task="multilabel") == "val/macro_f1"
    assert key_metric({"val/rmse", "val/mae", "val/loss"}, task="regression") == "val/rmse"
    assert key_metric({"val/mean_recall", "val/r@1_i2t"}, task="contrastive") == "val/mean_recall"
    assert key_metric({"val/loss", "train/loss"}) == "val/loss"
    assert key_metric({"train/loss"}) == "train/loss"
    assert key_metric(set()) == ""
    assert key_metric({"test/accuracy", "val/accuracy"}, split="test") == "test/accuracy"


def test_every_tasks_key_metrics_are_metrics_it_computes():
    """A key metric no task logs would never be chosen: each one is computed for its task."""
    import numpy as np

    from mmstudio.training.metrics import compute_metrics

    rng = np.random.default_rng(0)
    outputs = {
        "classification": {"logits": rng.normal(size=(8, 3))},
        "multilabel": {"logits": rng.normal(size=(8, 3))},
        "regression": {"prediction": rng.normal(size=8)},
        "contrastive": {
            "image_embedding": rng.normal(size=(8, 4)),
            "text_embedding": rng.normal(size=(8, 4)),
        },
    }
    targets = {
        "classification": rng.integers(0, 3, 8),
        "multilabel": rng.integers(0, 2, (8, 3)).astype(float),
        "regression": rng.normal(size=8),
        "contrastive": None,
    }
    for task in vocabulary.TASKS:
        result = compute_metrics(task, outputs[task], targets[task], groups=np.arange(8))
        assert set(vocabulary.KEY_METRICS[task]) <= set(result.metrics), task


def test_formatting():
    assert formatting.format_value(None) == ""
    assert formatting.format_value(float("nan")) == "nan"
    assert formatting.format_value(0.123456) == "0.1235"
    assert formatting.format_value([1, 0.5]) == "1, 0.5"
    assert formatting.format_duration(None) == ""
    assert formatting.format_duration(247) == "04:07"
    assert formatting.format_duration(3723) == "1:02:03"
    assert formatting.format_count(738_496) == "738.5 K"
    assert formatting.format_bytes(48_033_504) == "45.8 MiB"
    assert formatting.plural(1, "folder") == "1 folder"
    assert formatting.plural(1204, "item") == "1,204 items"
    assert formatting.format_metrics({"b": 0.5, "a": 1, "c": "x"}) == "a 1  b 0.5"


def test_live_metrics_are_the_per_step_ones_and_the_per_epoch_ones():
    assert all(is_live_metric(key) and not is_epoch_metric(key) for key in STEP_METRICS)
    for key in ("val/accuracy", "val/loss", "train/epoch_loss"):
        assert is_live_metric(key) and is_epoch_metric(key)
    for key in ("test/accuracy", "test_text_masked/loss", "train/grad_norm", "loss"):
        assert not is_live_metric(key) and not is_epoch_metric(key)
