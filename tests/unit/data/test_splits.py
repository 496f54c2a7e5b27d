"""Deterministic, stratified, group-aware splits."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

import pytest

from mmstudio.data.dataset import LoadOptions, load_dataset
from mmstudio.data.splits import allocate, assign_splits
from mmstudio.data.types import ImageRef, Item

ROOT = Path("/data/set")


def make_items(labels, *, split="", groups=None) -> list[Item]:
    return [
        Item(
            index=n,
            row=n + 1,
            source="data.csv",
            image=ImageRef(ROOT / "img" / f"{n}.png"),
            text=f"caption {n}",
            label=label,
            split=split,
            group=groups[n] if groups else None,
        )
        for n, label in enumerate(labels)
    ]


def assignment(items, **kwargs) -> dict[str, str]:
    placed, _, _ = assign_splits(items, ROOT, **kwargs)
    return {str(i.image.path): i.split for i in placed}


def test_same_seed_same_assignment_and_another_seed_differs():
    items = make_items(["a", "b"] * 200)
    assert assignment(items, seed=3) == assignment(items, seed=3)
    assert assignment(items, seed=3) != assignment(items, seed=4)


def test_assignment_does_not_depend_on_row_order():
    items = make_items(["a", "b", "c"] * 100)
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    # the rows are renumbered as a reordered file would number them
    renumbered = [Item(n, n + 1, i.source, i.image, i.text, i.label, i.split) for n, i in enumerate(shuffled)]
    assert assignment(items) == assignment(renumbered)


def test_the_order_is_the_documented_hash_so_saved_splits_stay_where_they_are():
    """Each label's first rows by blake2b(seed, image path, text) go to test, the next to val: the
    splits of saved experiments depend on this order, whatever sorts it."""
    items = make_items(["a"] * 60 + ["b"] * 40)
    seed = 7
    placed, _, _ = assign_splits(items, ROOT, val_fraction=0.2, test_fraction=0.1, seed=seed)
    for label, n in (("a", 60), ("b", 40)):
        mine = [i for i in items if i.label == label]
        digest = {  # the key: the image path inside the root, then the text
            i.row: hashlib.blake2b(
                f"{seed}\x1fimg/{i.index}.png\x1f{i.text}".encode(), digest_size=8
            ).digest()
            for i in mine
        }
        order = sorted(mine, key=lambda i: (digest[i.row], i.row))
        expected = ["test"] * round(n * 0.1) + ["val"] * round(n * 0.2)
        expected += ["train"] * (n - len(expected))
        got = {i.row: i.split for i in placed}
        assert [got[i.row] for i in order] == expected


def test_stratified_proportions():
    items = make_items(["a"] * 700 + ["b"] * 300)
    placed, problems, notes = assign_splits(items, ROOT, val_fraction=0.1, test_fraction=0.2)
    counts = Counter((i.label, i.split) for i in placed)
    assert counts == {
        ("a", "train"): 490,
        ("a", "val"): 70,
        ("a", "test"): 140,
        ("b", "train"): 210,
        ("b", "val"): 30,
        ("b", "test"): 60,
    }
    assert problems == [] and notes == []
    assert [i.index for i in placed] == list(range(1000))


def test_small_labels_still_reach_every_split():
    placed, _, _ = assign_splits(make_items(["a"] * 5 + ["b"] * 3), ROOT)
    assert {s for i in placed if i.label == "b" for s in [i.split]} == {"train", "val", "test"}


def test_without_stratify_only_the_total_counts():
    placed, problems, _ = assign_splits(make_items(["a"] * 99 + ["b"]), ROOT, stratify=False)
    assert Counter(i.split for i in placed) == {"train": 80, "val": 10, "test": 10}
    assert problems == []


def test_rare_labels_stay_in_train_and_are_reported():
    placed, problems, _ = assign_splits(make_items(["a"] * 30 + ["rare"] * 2), ROOT)
    assert [i.split for i in placed if i.label == "rare"] == ["train", "train"]
    assert [(p.kind, p.row, p.skipped) for p in problems] == [
        ("rare_label", 31, False),
        ("rare_label", 32, False),
    ]
    assert "fewer than the 3 splits (train, val, test)" in problems[0].message
    assert problems[0].path == "img/30.png"
    _, problems, _ = assign_splits(make_items(["a"] * 30 + ["rare"] * 2), ROOT, test_fraction=0)
    assert problems == []  # two splits only: 2 examples are enough


def test_groups_stay_together():
    groups = [str(n // 5) for n in range(200)]  # 40 images with 5 captions each
    placed, _, _ = assign_splits(make_items([None] * 200, groups=groups), ROOT)
    splits_of_group = {}
    for item in placed:
        splits_of_group.setdefault(item.group, set()).add(item.split)
    assert all(len(s) == 1 for s in splits_of_group.values())
    assert Counter(next(iter(s)) for s in splits_of_group.values()) == {"train": 32, "val": 4, "test": 4}


def test_given_splits_are_kept_and_missing_ones_held_out_of_train():
    items = make_items(["a", "b"] * 50, split="train") + make_items(["a", "b"] * 10, split="test")
    items = [
        Item(n, n + 1, "data.csv", ImageRef(ROOT / f"{n}.png"), i.text, i.label, i.split)
        for n, i in enumerate(items)
    ]
    placed, _, notes = assign_splits(items, ROOT, val_fraction=0.2)
    counts = Counter(i.split for i in placed)
    assert counts == {"train": 80, "val": 20, "test": 20}
    assert all(i.split == "test" for i in placed[100:])
    assert notes == [
        "the dataset's splits have no val rows: of the train rows, 20% as val were held out (seed 0)"
    ]


def test_allocate():
    assert allocate(10, {"test": 0.1, "val": 0.1}) == {"test": 1, "val": 1}
    assert allocate(3, {"test": 0.1, "val": 0.1}) == {"test": 0, "val": 0}
    assert allocate(3, {"test": 0.1, "val": 0.1}, at_least_one=True) == {"test": 1, "val": 1}
    assert allocate(2, {"test": 0.5, "val": 0.5}, at_least_one=True) == {"test": 0, "val": 1}
    assert allocate(0, {"test": 0.5}) == {"test": 0}


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)])
def test_bad_fractions(val, test):
    with pytest.raises(ValueError, match="leave some rows for training"):
        assign_splits([], ROOT, val_fraction=val, test_fraction=test)
    with pytest.raises(ValueError):
        LoadOptions(val_fraction=val, test_fraction=test)


def test_split_column_values_are_normalised(tmp_path, build):
    build.image(tmp_path / "a.png")
    values = ["train", "TRAIN", "valid", "validation", "dev", "test", "Test"]
    build.csv(
        tmp_path / "d.csv", ["image", "text", "split"], [["a.png", f"t {i}", v] for i, v in enumerate(values)]
    )
    dataset = load_dataset(tmp_path / "d.csv")
    assert [i.split for i in dataset.items] == ["train", "train", "val", "val", "val", "test", "test"]
    assert dataset.split_counts() == {"train": 2, "val": 3, "test": 2}
    assert dataset.notes == []


def test_reordered_manifest_gives_the_same_splits(tmp_path, build):
    rows = []
    for i in range(60):
        build.image(tmp_path / "img" / f"{i}.png")
        rows.append([f"img/{i}.png", f"caption {i}", "ab"[i % 2]])
    build.csv(tmp_path / "a.csv", ["image", "text", "label"], rows)
    build.csv(tmp_path / "b.csv", ["image", "text", "label"], rows[::-1])
    first = {
        i.image.path: i.split for i in load_dataset(tmp_path / "a.csv", options=LoadOptions(seed=7)).items
    }
    second = {
        i.image.path: i.split for i in load_dataset(tmp_path / "b.csv", options=LoadOptions(seed=7)).items
    }
    assert first == second
