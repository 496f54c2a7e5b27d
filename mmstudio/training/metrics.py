"""Evaluation metrics in NumPy alone (no scikit-learn: one dependency less, and every definition here
is short enough to read and to test against a hand computation).

:func:`compute_metrics` is the one entry the trainer uses: it takes a task, the model's outputs over a
split and the targets, and returns an :class:`EvaluationResult` with the metrics (keys without the split
prefix: ``accuracy``, ``macro_f1``, ``roc_auc``, ``mae``, ``r@1_i2t`` ...), the confusion matrix and
per-class scores (classification) and one prediction per item for the gallery.

Conventions, chosen to match the usual libraries where they agree:

* A ratio with an empty denominator (precision of a class never predicted) is 0.
* Macro averages run over the classes present in the targets or the predictions (scikit-learn's
  default), so a class absent from a small validation split neither helps nor hurts.
* A metric that is undefined on the data (ROC-AUC with one class present, R² of constant targets)
  is left out of ``metrics`` rather than reported as NaN, which JSON and the store cannot hold.
* Retrieval ranks ties pessimistically: a negative scored equal to the best positive counts as ranked
  above it, so a collapsed model (every embedding equal) scores chance, not 100%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmstudio.vocabulary import check_task

RECALL_KS = (1, 5, 10)
_CHUNK = 1024  # retrieval queries per similarity block: bounds memory to chunk x candidates floats


@dataclass
class EvaluationResult:
    """What one evaluation found. ``predictions`` has one dict per item with the fields of the store's
    ``Prediction`` (``item_index``, ``true_label``, ``predicted_label``, ``score``, ``probabilities``,
    ``correct``), so it can be recorded as it is."""

    metrics: dict[str, float]
    labels: list[str] | None = None
    confusion: list[list[int]] | None = None
    per_class: dict[str, dict[str, float]] | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def prefixed(self, split: str) -> dict[str, float]:
        """The metrics under ``split/`` keys (``val/accuracy``), as they are logged."""
        return {f"{split}/{key}": value for key, value in self.metrics.items()}


# --- classification ----------------------------------------------------------------------------


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The fraction of exact matches (NaN for no items)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else math.nan


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C]: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class from a confusion matrix."""
    confusion = np.asarray(confusion)
    tp = np.diag(confusion).astype(np.float64)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * tp, predicted + support),
        "support": support,
    }


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
    """The unweighted mean F1 over the classes that occur in ``y_true`` or ``y_pred``."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if not len(y_true):
        return math.nan
    if num_classes is None:
        num_classes = int(max(y_true.max(), y_pred.max())) + 1
    confusion = confusion_matrix(y_true, y_pred, num_classes)
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    return float(per_class_scores(confusion)["f1"][present].mean())


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` in ascending order, tied values sharing their average rank."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + ends - 1) / 2.0 + 1.0)[group]
    return ranks


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary ROC-AUC from ranks (the Mann-Whitney U statistic): the probability that a random positive
    scores above a random negative, ties counting one half. NaN unless both classes occur."""
    y_true = np.asarray(y_true).astype(bool)
    positives, negatives = int(y_true.sum()), int((~y_true).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = average_ranks(np.asarray(scores, dtype=np.float64))
    u = ranks[y_true].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # stable for large |logits|, unlike 1 / (1 + exp(-x))


# --- multilabel ----------------------------------------------------------------------------------


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Subset accuracy (every label of an item right), micro-F1 (pooled over all item-label pairs) and
    macro-F1 (mean over labels that occur in the targets or the predictions) of 0/1 matrices [N, C]."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    if not len(y_true):
        return {}
    tp = (y_true & y_pred).sum(axis=0).astype(np.float64)
    predicted, support = y_pred.sum(axis=0), y_true.sum(axis=0)
    f1 = _ratio(2 * tp, predicted + support)
    present = (predicted + support) > 0
    pooled = predicted.sum() + support.sum()
    return {
        "subset_accuracy": float(np.all(y_true == y_pred, axis=1).mean()),
        "micro_f1": float(2 * tp.sum() / pooled) if pooled else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }


# --- regression ----------------------------------------------------------------------------------


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² (1 - SSE / SST; NaN when the targets are constant)."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if not len(y_true):
        return {}
    error = y_pred - y_true
    sst = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1.0 - float(np.sum(error**2)) / sst if sst > 0 else math.nan,
    }


# --- retrieval -----------------------------------------------------------------------------------


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_ranks(
    image_embedding: np.ndarray, text_embedding: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """0-based ranks of the best positive for every query, both directions, by cosine similarity.

    Row ``j`` of both matrices is item ``j`` (a caption and its image); items of one group share an
    image (COCO: five captions), so the candidates for text→image are the distinct images, one per
    group, and an image query is answered by any caption of its group. Returns ``i2t`` (one rank per
    group, in ``np.unique(groups)`` order), ``t2i`` (one per item) and ``t2i_top`` (the group of each
    text's top-ranked image) and ``t2i_similarity`` (each text's similarity to its own image).
    """
    groups = np.arange(len(text_embedding)) if groups is None else np.asarray(groups)
    if not (len(image_embedding) == len(text_embedding) == len(groups)):
        raise ValueError("image embeddings, text embeddings and groups must have one row per item")
    group_ids, first, image_of_text = np.unique(groups, return_index=True, return_inverse=True)
    images = _unit_rows(image_embedding)[first]  # one image per group
    texts = _unit_rows(text_embedding)
    i2t = np.empty(len(images), dtype=np.int64)
    for start in range(0, len(images), _CHUNK):
        sims = images[start : start + _CHUNK] @ texts.T
        positive = group_ids[start : start + _CHUNK, None] == groups[None, :]
        best = np.where(positive, sims, -np.inf).max(axis=1, keepdims=True)
        i2t[start : start + len(sims)] = ((sims >= best) & ~positive).sum(axis=1)
    t2i = np.empty(len(texts), dtype=np.int64)
    top = np.empty(len(texts), dtype=groups.dtype)
    similarity = np.empty(len(texts), dtype=np.float32)
    for start in range(0, len(texts), _CHUNK):
        sims = texts[start : start + _CHUNK] @ images.T
        rows = np.arange(len(sims))
        best = sims[rows, image_of_text[start : start + len(sims)]][:, None]
        t2i[start : start + len(sims)] = (sims >= best).sum(axis=1) - 1  # minus the positive itself
        top[start : start + len(sims)] = group_ids[np.argmax(sims, axis=1)]
        similarity[start : start + len(sims)] = best[:, 0]
    return {"i2t": i2t, "t2i": t2i, "t2i_top": top, "t2i_similarity": similarity}


def retrieval_recalls(
    image_embedding: np.ndarray,
    text_embedding: np.ndarray,
    groups: np.ndarray | None = None,
    ks: Sequence[int] = RECALL_KS,
) -> dict[str, float]:
    """Recall@K both ways (``r@1_i2t`` ... ``r@10_t2i``) and their mean (``mean_recall``)."""
    return _recalls(retrieval_ranks(image_embedding, text_embedding, groups), ks)


def _recalls(ranks: dict[str, np.ndarray], ks: Sequence[int]) -> dict[str, float]:
    scores = {}
    for direction in ("i2t", "t2i"):
        for k in ks:
            scores[f"r@{k}_{direction}"] = float(np.mean(ranks[direction] < k))
    scores["mean_recall"] = float(np.mean(list(scores.values())))
    return scores


# --- the entry point -----------------------------------------------------------------------------


def compute_metrics(
    task: str,
    outputs: dict[str, np.ndarray],
    targets: np.ndarray | None,
    labels: Sequence[str] | None = None,
    groups: np.ndarray | None = None,
    indices: np.ndarray | None = None,
) -> EvaluationResult:
    """Metrics and per-item predictions of one split.

    ``outputs`` holds the model's outputs over the split, concatenated: ``logits`` [N, C]
    (classification, multilabel), ``prediction`` [N] (regression), or ``image_embedding`` and
    ``text_embedding`` [N, D] (contrastive, with ``groups`` [N]). ``targets`` are class ids [N],
    0/1 rows [N, C] or numbers [N] (None for contrastive). ``labels`` names the classes (else their
    ids are used); ``indices`` are the items' dataset indices (else 0..N-1).
    """
    outputs = {key: np.asarray(value) for key, value in outputs.items()}
    check_task(task)
    if all(len(value) == 0 for value in outputs.values()):
        return EvaluationResult({}, None if labels is None else [str(x) for x in labels])
    if task == "classification":
        return _classification(outputs["logits"], np.asarray(targets), labels, indices)
    if task == "multilabel":
        return _multilabel(outputs["logits"], np.asarray(targets), labels, indices)
    if task == "regression":
        return _regression(outputs["prediction"], np.asarray(targets), indices)
    return _contrastive(outputs["image_embedding"], outputs["text_embedding"], groups, indices)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in metrics.items() if math.isfinite(value)}


def _names(labels: Sequence[str] | None, num_classes: int) -> list[str]:
    return [str(x) for x in labels] if labels is not None else [str(k) for k in range(num_classes)]


def _indices(indices: np.ndarray | None, n: int) -> list[int]:
    return np.arange(n).tolist() if indices is None else np.asarray(indices, dtype=np.int64).tolist()


def _classification(
    logits: np.ndarray, targets: np.ndarray, labels: Sequence[str] | None, indices: np.ndarray | None
) -> EvaluationResult:
    probabilities = softmax(logits)
    names = _names(labels, probabilities.shape[1])
    predicted = probabilities.argmax(axis=1)
    targets = targets.astype(np.int64)
    confusion = confusion_matrix(targets, predicted, len(names))
    scores = per_class_scores(confusion)
    metrics = {"accuracy": accuracy(targets, predicted), "macro_f1": macro_f1(targets, predicted, len(names))}
    if len(names) == 2:
        metrics["roc_auc"] = roc_auc(targets == 1, probabilities[:, 1])
    per_class = {
        name: {
            "precision": float(scores["precision"][k]),
            "recall": float(scores["recall"][k]),
            "f1": float(scores["f1"][k]),
            "support": int(scores["support"][k]),
        }
        for k, name in enumerate(names)
    }
    predictions = [
        {
            "item_index": index,
            "true_label": names[t],
            "predicted_label": names[p],
            "score": float(probs[p]),
            "probabilities": [float(x) for x in probs],
            "correct": bool(t == p),
        }
        for index, t, p, probs in zip(
            _indices(indices, len(targets)), targets, predicted, probabilities, strict=True
        )
    ]
    return EvaluationResult(_finite(metrics), names, confusion.tolist(), per_class, predictions)


def _multilabel(
    logits: np.ndarray, targets: np.ndarray, labels: Sequence[str] | None, indices: np.ndarray | None
) -> EvaluationResult:
    probabilities = sigmoid(logits)
    names = _names(labels, probabilities.shape[1])
    predicted = probabilities >= 0.5
    truth = targets.astype(bool)

    def joined(row: np.ndarray) -> str:
        return "|".join(name for name, on in zip(names, row, strict=True) if on)

    predictions = [
        {
            "item_index": index,
            "true_label": joined(t),
            "predicted_label": joined(p),
            "score": float(probs.max()) if len(probs) else None,
            "probabilities": [float(x) for x in probs],
            "correct": bool(np.array_equal(t, p)),
        }
        for index, t, p, probs in zip(
            _indices(indices, len(truth)), truth, predicted, probabilities, strict=True
        )
    ]
    return EvaluationResult(_finite(multilabel_scores(truth, predicted)), names, predictions=predictions)


def _regression(prediction: np.ndarray, targets: np.ndarray, indices: np.ndarray | None) -> EvaluationResult:
    prediction = prediction.astype(np.float64).ravel()
    targets = targets.astype(np.float64).ravel()
    predictions = [
        {
            "item_index": index,
            "true_label": f"{t:.6g}",
            "predicted_label": f"{p:.6g}",
            "score": float(p),
            "probabilities": None,
            "correct": None,
        }
        for index, t, p in zip(_indices(indices, len(targets)), targets, prediction, strict=True)
    ]
    return EvaluationResult(_finite(regression_scores(targets, prediction)), predictions=predictions)


def _contrastive(
    image_embedding: np.ndarray,
    text_embedding: np.ndarray,
    groups: np.ndarray | None,
    indices: np.ndarray | None,
) -> EvaluationResult:
    """Recall@K both ways; a prediction per caption: its group, and the group of its top image."""
    n = len(text_embedding)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    ranks = retrieval_ranks(image_embedding, text_embedding, groups)
    predictions = [
        {
            "item_index": index,
            "true_label": str(g),
            "predicted_label": str(top),
            "score": float(similarity),  # cosine similarity of the caption and its own image
            "probabilities": None,
            "correct": bool(rank == 0),
        }
        for index, g, top, rank, similarity in zip(
            _indices(indices, n), groups, ranks["t2i_top"], ranks["t2i"], ranks["t2i_similarity"], strict=True
        )
    ]
    return EvaluationResult(_recalls(ranks, RECALL_KS), predictions=predictions)
