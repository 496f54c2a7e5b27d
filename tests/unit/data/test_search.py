"""The search index of the gallery: caption words (case-insensitive, every word) and labels."""

from __future__ import annotations

from pathlib import Path

from mmstudio.data.search import SearchIndex
from mmstudio.data.types import ImageRef, Item

WORDS = ("red fox", "blue whale", "green frog", "red panda")
LABELS = ("mammal", "mammal", "amphibian", "mammal")


def items(n: int, labels=LABELS) -> list[Item]:
    return [
        Item(i, i + 1, "data.csv", ImageRef(Path(f"/nowhere/{i}.png")), f"a {WORDS[i % 4]} number {i}",
             labels[i % 4], "train")
        for i in range(n)
    ]  # fmt: skip


def test_search_index():
    index = SearchIndex.of(items(8))
    assert index.rows() is None and index.rows("   ") is None  # nothing filtered
    assert index.rows("RED") == [0, 3, 4, 7]  # case-insensitive, anywhere in the caption
    assert index.rows("red panda") == [3, 7]  # every word must appear
    assert index.rows("panda red") == [3, 7]
    assert index.rows(label="amphibian") == [2, 6]
    assert index.rows("red", "mammal") == [0, 3, 4, 7]
    assert index.rows("frog", "mammal") == []
    assert index.rows(label="bird") == []
    assert index.by_label == {"mammal": [0, 1, 3, 4, 5, 7], "amphibian": [2, 6]}


def test_items_without_labels_are_found_by_text_only():
    index = SearchIndex.of(items(4, labels=(None, None, None, None)))
    assert index.by_label == {}
    assert index.rows("number 2") == [2] and index.rows(label="mammal") == []
    assert SearchIndex.of([]).rows("x") == []
