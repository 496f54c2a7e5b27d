import json
from pathlib import Path

import numpy as np
import pytest

from mmstudio.data.stats import MAX_BINS, Distribution, dataset_stats
from mmstudio.data.types import ImageRef, Item


def item(i, text="a caption", label="cat", split="train", width=640, height=480):
    return Item(i, i + 1, "manifest.csv", ImageRef(Path(f"{i}.jpg")), text, label, split, None, width, height)


def test_counts_labels_and_splits():
    labels = ["dog"] * 3 + ["cat"] * 3 + ["zebra"] * 5 + ["ant"] + [None] * 2
    splits = ["test", "train", "val", "holdout"] * 3 + ["train", "train"]
    items = [item(i, label=lab, split=sp) for i, (lab, sp) in enumerate(zip(labels, splits, strict=True))]
    stats = dataset_stats(items)
    assert stats.items == 14
    # By count (most first), ties by name.
    assert list(stats.labels.items()) == [("zebra", 5), ("cat", 3), ("dog", 3), ("ant", 1)]
    assert stats.unlabeled == 2
    # The known splits in their usual order, then any other name.
    assert list(stats.splits.items()) == [("train", 5), ("val", 3), ("test", 3), ("holdout", 3)]


def test_text_lengths_in_characters_and_words():
    texts = ["one", "two words", "now three words", "a  b\tc\nd", "x" * 100]
    stats = dataset_stats([item(i, text=t) for i, t in enumerate(texts)])
    chars = [len(t) for t in texts]
    assert stats.text_chars.count == 5
    assert (stats.text_chars.min, stats.text_chars.max) == (3, 100)
    assert stats.text_chars.mean == pytest.approx(np.mean(chars))
    assert stats.text_chars.median == np.median(chars)
    assert stats.text_chars.p95 == pytest.approx(np.percentile(chars, 95))
    assert [stats.text_words.min, stats.text_words.median, stats.text_words.max] == [1, 2, 4]
    assert sum(stats.text_words.bin_counts) == 5


def test_histogram_edges_and_counts_agree():
    values = np.random.default_rng(0).normal(50, 10, 1000)
    dist = Distribution.of(values)
    assert len(dist.bin_edges) == len(dist.bin_counts) + 1
    assert 1 <= len(dist.bin_counts) <= MAX_BINS
    assert sum(dist.bin_counts) == 1000
    assert dist.bin_edges[0] <= values.min() and dist.bin_edges[-1] >= values.max()
    assert all(b > a for a, b in zip(dist.bin_edges, dist.bin_edges[1:], strict=False))


def test_small_integer_ranges_get_one_bin_per_value():
    dist = Distribution.of([2, 3, 3, 5])
    assert dist.bin_edges == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert dist.bin_counts == [1, 2, 0, 1]
    single = Distribution.of([7, 7, 7])
    assert single.bin_counts == [3] and single.bin_edges == [6.5, 7.5]


def test_wide_ranges_are_capped():
    dist = Distribution.of(np.arange(100_000) ** 1.5)
    assert len(dist.bin_counts) <= MAX_BINS


def test_image_sizes():
    sizes = [(640, 480)] * 4 + [(480, 640)] * 2 + [(100, 100)] * 2 + [(300, 200), (200, 300), (50, 25)]
    items = [item(i, width=w, height=h) for i, (w, h) in enumerate(sizes)]
    items.append(item(99, width=0, height=0))  # size unknown: left out of the image statistics
    images = dataset_stats(items).images
    assert images.known == len(sizes)
    assert (images.width.min, images.width.max, images.width.median) == (50, 640, 480)
    assert (images.height.min, images.height.max, images.height.median) == (25, 640, 480)
    top = [(s.width, s.height, s.count) for s in images.common_sizes]
    assert top == [(640, 480, 4), (100, 100, 2), (480, 640, 2), (50, 25, 1), (200, 300, 1)]
    assert images.aspect_ratio.min == pytest.approx(2 / 3)
    assert images.aspect_ratio.max == 2.0
    assert images.aspect_ratio.median == pytest.approx(4 / 3)


def test_empty_dataset():
    stats = dataset_stats([])
    assert stats.items == 0 and stats.labels == {} and stats.splits == {}
    assert stats.text_chars.count == 0 and stats.text_chars.bin_counts == []
    assert stats.images.known == 0 and stats.images.common_sizes == []
    json.dumps(stats.to_dict())


def test_to_dict_is_plain_json():
    items = [item(i, text="word " * i, width=10 + i, height=20) for i in range(1, 30)]
    data = dataset_stats(items).to_dict()
    again = json.loads(json.dumps(data))
    assert again == data
    assert set(data) == {"items", "labels", "unlabeled", "splits", "text_chars", "text_words", "images"}
    assert set(data["text_chars"]) == {
        "count",
        "min",
        "max",
        "mean",
        "median",
        "p95",
        "bin_edges",
        "bin_counts",
    }
    assert data["images"]["common_sizes"][0] == {"width": 11, "height": 20, "count": 1}


def test_every_distinct_size_for_the_chart_counted_once():
    sizes = [(640, 480)] * 4 + [(480, 640)] * 2 + [(100, 100)] * 2 + [(300, 200), (200, 300), (50, 25)]
    images = dataset_stats([item(i, width=w, height=h) for i, (w, h) in enumerate(sizes)]).images
    every = [(s.width, s.height, s.count) for s in images.sizes]
    assert every[:5] == [(s.width, s.height, s.count) for s in images.common_sizes]
    assert every[5:] == [(300, 200, 1)] and sum(s.count for s in images.sizes) == images.known


def test_the_caption_histogram_leaves_the_outliers_out():
    texts = ["x" * (20 + i % 10) for i in range(200)] + ["y" * 5000, "z" * 9000]
    stats = dataset_stats([item(i, text=t) for i, t in enumerate(texts)])
    drawn = stats.text_histogram
    assert drawn.longer == 2 and drawn.cap == pytest.approx(3 * np.percentile([len(t) for t in texts], 95))
    assert drawn.lengths.count == 200 and drawn.lengths.max == 29
    # #20: the note names the lengths left out, beyond the axis (which ends at 29), not the cap (~87).
    assert drawn.note() == "2 captions of 5,000 to 9,000 characters not drawn"
    assert stats.text_chars.count == 202 and stats.text_chars.max == 9000  # the numbers count every one
    plain = dataset_stats([item(i, text="x" * (20 + i)) for i in range(30)]).text_histogram
    assert plain.cap is None and plain.longer == 0 and plain.lengths.count == 30 and plain.note() == ""
    one = dataset_stats([item(i, text="x" * 30) for i in range(40)] + [item(40, text="y" * 2418)])
    assert one.text_histogram.note() == "1 caption of 2,418 characters not drawn"
    assert dataset_stats([]).text_histogram.lengths.count == 0


def test_to_dict_leaves_the_drawing_aids_out():
    data = dataset_stats([item(i, width=10 + i, height=20) for i in range(1, 30)]).to_dict()
    assert "text_histogram" not in data and "sizes" not in data["images"]
