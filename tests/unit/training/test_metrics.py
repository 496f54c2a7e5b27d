"""Metrics: each against a hand computation and, where practical, a brute-force implementation."""

import itertools
import math

import numpy as np
import pytest

from mmstudio.training.metrics import (
    accuracy,
    average_ranks,
    compute_metrics,
    confusion_matrix,
    macro_f1,
    multilabel_scores,
    per_class_scores,
    regression_scores,
    retrieval_ranks,
    retrieval_recalls,
    roc_auc,
    sigmoid,
    softmax,
)

Y_TRUE = np.array([0, 0, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 0])


def test_accuracy_and_confusion_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(3 / 5)
    assert confusion_matrix(Y_TRUE, Y_PRED, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert math.isnan(accuracy([], []))


def test_per_class_scores_by_hand_with_zero_division_as_zero():
    scores = per_class_scores(confusion_matrix(Y_TRUE, Y_PRED, 3))
    assert scores["precision"] == pytest.approx([1 / 2, 2 / 3, 0.0])  # class 2 is never predicted
    assert scores["recall"] == pytest.approx([1 / 2, 1.0, 0.0])
    assert scores["f1"] == pytest.approx([0.5, 0.8, 0.0])
    assert scores["support"].tolist() == [2, 2, 1]


def test_macro_f1_averages_the_classes_that_occur():
    assert macro_f1(Y_TRUE, Y_PRED, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # A class absent from targets and predictions neither helps nor hurts.
    assert macro_f1(Y_TRUE, Y_PRED, 5) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert macro_f1([1, 1], [1, 1]) == 1.0


def _brute_macro_f1(y_true, y_pred):
    f1s = []
    for c in sorted(set(y_true) | set(y_pred)):
        tp = sum(t == c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == c and p != c for t, p in zip(y_true, y_pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s)


def test_macro_f1_equals_a_brute_force_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y_true, y_pred = rng.integers(0, 5, 40), rng.integers(0, 5, 40)
        assert macro_f1(y_true, y_pred, 6) == pytest.approx(_brute_macro_f1(y_true.tolist(), y_pred.tolist()))


def test_roc_auc_by_hand():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts one half
    assert roc_auc([0, 1, 1], [0.9, 0.1, 0.2]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))  # one class: undefined


def _brute_auc(y, s):
    pairs = [(p, n) for p, n in itertools.product(range(len(y)), repeat=2) if y[p] == 1 and y[n] == 0]
    return sum(1.0 if s[p] > s[n] else 0.5 if s[p] == s[n] else 0.0 for p, n in pairs) / len(pairs)


def test_roc_auc_equals_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 2, 30)
        y[:2] = [0, 1]
        s = rng.integers(0, 6, 30).astype(float)  # few distinct values: many ties
        assert roc_auc(y, s) == pytest.approx(_brute_auc(y.tolist(), s.tolist()))


def test_average_ranks_share_ties():
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_softmax_and_sigmoid_are_stable():
    probs = softmax(np.array([[1000.0, 1000.0], [0.0, math.log(3.0)]]))
    assert probs == pytest.approx(np.array([[0.5, 0.5], [0.25, 0.75]]))
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


def test_multilabel_scores_by_hand():
    y_true = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    y_pred = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]])
    scores = multilabel_scores(y_true, y_pred)
    assert scores["subset_accuracy"] == pytest.approx(1 / 3)
    # tp = 3, predicted = 4, true = 5: micro F1 = 6 / 9.
    assert scores["micro_f1"] == pytest.approx(6 / 9)
    # label 0: tp 2, p 2, t 2 -> 1; label 1: tp 0, p 0, t 2 -> 0; label 2: tp 1, p 2, t 1 -> 2/3.
    assert scores["macro_f1"] == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_regression_scores_by_hand():
    scores = regression_scores([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert scores["r2"] == pytest.approx(1 - 4 / 2)
    assert math.isnan(regression_scores([2.0, 2.0], [1.0, 2.0])["r2"])


def _brute_ranks(images, texts, groups):
    """The definitions, one query at a time: rank = negatives scored at least the best positive."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    images, texts = unit(images.astype(np.float64)), unit(texts.astype(np.float64))
    group_list = sorted(set(groups.tolist()))
    first = {g: groups.tolist().index(g) for g in group_list}
    i2t, t2i = [], []
    for g in group_list:
        sims = [float(images[first[g]] @ t) for t in texts]
        best = max(s for s, h in zip(sims, groups, strict=True) if h == g)
        i2t.append(sum(1 for s, h in zip(sims, groups, strict=True) if h != g and s >= best - 1e-9))
    for j, t in enumerate(texts):
        sims = {g: float(images[first[g]] @ t) for g in group_list}
        own = sims[groups[j]]
        t2i.append(sum(1 for g, s in sims.items() if g != groups[j] and s >= own - 1e-9))
    return np.array(i2t), np.array(t2i)


def test_retrieval_ranks_equal_a_brute_force_implementation():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(12), 3)[:34]  # several captions per image, the last group shorter
    images = np.repeat(rng.normal(size=(12, 8)), 3, axis=0)[:34]
    texts = images + rng.normal(scale=1.0, size=images.shape)
    ranks = retrieval_ranks(images, texts, groups)
    i2t, t2i = _brute_ranks(images, texts, groups)
    assert ranks["i2t"].tolist() == i2t.tolist()
    assert ranks["t2i"].tolist() == t2i.tolist()


def test_an_image_query_is_right_when_any_caption_of_its_group_is_in_the_top_k():
    # Two images (groups 0 and 1), two captions each. Image 0's first caption points away from it, its
    # second caption matches it exactly: image 0 still finds its group at rank 0.
    images = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    texts = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 1.0], [0.2, 1.0]])
    groups = np.array([0, 0, 1, 1])
    ranks = retrieval_ranks(images, texts, groups)
    assert ranks["i2t"].tolist() == [0, 1]  # image 1: caption 0 ([0, 1]) outranks both of its own
    assert ranks["t2i"].tolist() == [1, 0, 0, 0]
    recalls = retrieval_recalls(images, texts, groups, ks=(1,))
    assert recalls == {"r@1_i2t": 0.5, "r@1_t2i": 0.75, "mean_recall": 0.625}


def test_perfect_and_collapsed_embeddings():
    eye = np.eye(20)
    perfect = retrieval_recalls(eye, eye)
    assert all(v == 1.0 for v in perfect.values())
    same = np.ones((20, 4))
    collapsed = retrieval_recalls(same, same)  # every score ties: ranked last, not first
    assert collapsed["r@1_i2t"] == collapsed["r@10_t2i"] == 0.0


def test_retrieval_in_several_chunks(monkeypatch):
    import mmstudio.training.metrics as metrics

    rng = np.random.default_rng(3)
    images, texts = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    groups = rng.integers(0, 20, 50)
    whole = retrieval_ranks(images, texts, groups)
    monkeypatch.setattr(metrics, "_CHUNK", 7)
    chunked = retrieval_ranks(images, texts, groups)
    for key in ("i2t", "t2i", "t2i_top"):
        assert chunked[key].tolist() == whole[key].tolist()


def test_compute_metrics_classification():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]))
    result = compute_metrics(
        "classification",
        {"logits": logits},
        np.array([0, 1, 1, 2]),
        ["a", "b", "c"],
        indices=[10, 11, 12, 13],
    )
    assert result.metrics == pytest.approx(
        {"accuracy": 0.5, "macro_f1": macro_f1([0, 1, 1, 2], [0, 1, 2, 0], 3)}
    )
    assert result.confusion == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    assert result.labels == ["a", "b", "c"]
    assert result.per_class["b"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    first = result.predictions[0]
    assert first["item_index"] == 10 and first["true_label"] == "a" and first["predicted_label"] == "a"
    assert first["score"] == pytest.approx(0.7) and first["correct"] is True
    assert first["probabilities"] == pytest.approx([0.7, 0.2, 0.1])
    assert [p["correct"] for p in result.predictions] == [True, True, False, False]
    assert result.prefixed("val")["val/accuracy"] == 0.5


def test_compute_metrics_binary_adds_roc_auc_when_defined():
    logits = np.array([[0.0, -1.0], [0.0, 1.0], [0.0, 0.5], [0.0, 2.0]])
    result = compute_metrics("classification", {"logits": logits}, np.array([0, 1, 0, 1]))
    assert result.metrics["roc_auc"] == pytest.approx(1.0)
    assert result.labels == ["0", "1"]
    one_class = compute_metrics("classification", {"logits": logits}, np.array([1, 1, 1, 1]))
    assert "roc_auc" not in one_class.metrics  # undefined: left out, never NaN


def test_compute_metrics_multilabel_regression_and_contrastive():
    logits = np.array([[2.0, -2.0, 1.0], [-1.0, -1.0, -1.0]])
    result = compute_metrics(
        "multilabel", {"logits": logits}, np.array([[1, 0, 1], [0, 1, 0]]), ["x", "y", "z"]
    )
    assert result.metrics["subset_accuracy"] == 0.5
    assert result.predictions[0]["predicted_label"] == "x|z" and result.predictions[0]["correct"]
    assert result.predictions[1]["true_label"] == "y" and result.predictions[1]["predicted_label"] == ""

    result = compute_metrics("regression", {"prediction": np.array([[1.0], [2.5]])}, np.array([1.0, 2.0]))
    assert result.metrics == pytest.approx({"mae": 0.25, "rmse": math.sqrt(0.125), "r2": 1 - 0.25 / 0.5})
    assert result.predictions[1]["predicted_label"] == "2.5" and result.predictions[1]["correct"] is None

    eye = np.eye(4)
    result = compute_metrics(
        "contrastive", {"image_embedding": eye, "text_embedding": eye}, None, groups=np.arange(4)
    )
    assert result.metrics["r@1_i2t"] == result.metrics["r@1_t2i"] == result.metrics["mean_recall"] == 1.0
    assert set(result.metrics) == {f"r@{k}_{d}" for k in (1, 5, 10) for d in ("i2t", "t2i")} | {"mean_recall"}
    assert result.predictions[2]["true_label"] == result.predictions[2]["predicted_label"] == "2"
    assert result.predictions[2]["score"] == pytest.approx(1.0)


def test_compute_metrics_on_an_empty_split_and_an_unknown_task():
    empty = compute_metrics("classification", {"logits": np.zeros((0, 3))}, np.zeros(0), ["a", "b", "c"])
    assert empty.metrics == {} and empty.predictions == [] and empty.labels == ["a", "b", "c"]
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        compute_metrics("ranking", {}, None)
