"""Loading a dataset for display: the overview, the columns the user must choose, the header's lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmstudio.data.dataset import load_dataset
from mmstudio.data.overview import (
    ChoiceNeeded,
    ColumnsNeeded,
    Overview,
    columns_needed,
    columns_text,
    display_name,
    load_overview,
    overview,
    splits_text,
    summary_line,
)
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.types import ColumnRoles, ColumnsUnknown, DatasetFormatError, SeveralDatasets
from mmstudio.progress import Cancelled, TaskState


def manifest(build, root: Path, header: list[str], row) -> Path:
    for i in range(12):
        build.image(root / "img" / f"{i}.png")
    return build.csv(root / "data.csv", header, [row(i) for i in range(12)])


def ambiguous(build, root: Path) -> Path:
    """Two columns could be the text (``text`` and ``caption``): the guess is uncertain."""
    return manifest(
        build,
        root,
        ["image", "text", "caption", "label"],
        lambda i: [f"img/{i}.png", f"short note {i}", f"the real caption of picture {i}", "ab"[i % 2]],
    )


def unnamed(build, root: Path) -> Path:
    """Names that say nothing and a text too short to guess: no column can be told to hold the text."""
    return manifest(build, root, ["c1", "c2", "c3"], lambda i: [f"img/{i}.png", f"w{i}", "xy"[i % 2]])


def test_a_clear_dataset_comes_with_its_statistics_and_search_index(manifest_dataset):
    messages = []
    state = TaskState(lambda fraction, message: messages.append(message))
    result = load_overview(DatasetSpec(str(manifest_dataset)), ask_columns=True, state=state)
    assert isinstance(result, Overview) and result.preview is None
    assert result.stats.items == len(result.dataset.items) == 12
    assert result.stats.labels == result.dataset.label_counts() == {"bird": 4, "cat": 4, "dog": 4}
    assert result.index.rows(label="cat") == [
        i for i, it in enumerate(result.dataset.items) if it.label == "cat"
    ]
    assert messages[0] == "Reading the dataset" and "Checking 12 images" in messages
    assert messages[-1] == "Summarising"


def test_roles_guessed_with_doubt_come_with_the_first_rows_when_the_user_may_be_asked(tmp_path, build):
    spec = DatasetSpec(str(ambiguous(build, tmp_path)))
    asked = load_overview(spec, ask_columns=True)
    assert isinstance(asked, Overview) and asked.dataset.columns.text == "text"  # loaded with the guess
    assert asked.preview is not None and asked.preview.columns == ["image", "text", "caption", "label"]
    assert len(asked.preview.rows) == 12
    assert load_overview(spec).preview is None  # nobody to ask
    roles = ColumnRoles(image="image", text="caption")  # roles given: nothing to ask either
    assert load_overview(DatasetSpec(spec.path, columns=roles), ask_columns=True).preview is None


def test_columns_that_cannot_be_told_apart_are_asked_for(tmp_path, build):
    spec = DatasetSpec(str(unnamed(build, tmp_path)))
    needed = load_overview(spec, ask_columns=True)
    assert isinstance(needed, ColumnsNeeded) and needed.format == "manifest"
    assert needed.preview.columns == ["c1", "c2", "c3"] and len(needed.preview.rows) == 12
    assert needed.roles.image == "c1" and needed.roles.text is None
    assert "could not tell which column" in needed.message
    with pytest.raises(ColumnsUnknown, match="could not tell which column"):
        load_overview(spec)  # nobody to ask: the error says what to do


def test_other_errors_are_not_a_question_of_columns(tmp_path, build):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        load_overview(DatasetSpec(str(tmp_path / "nowhere")), ask_columns=True)
    clear = manifest(
        build, tmp_path / "clear", ["image", "caption"], lambda i: [f"img/{i}.png", f"thing {i}"]
    )
    assert columns_needed(DatasetSpec(str(clear)), "some other failure") is None  # its columns are plain
    sidecar = tmp_path / "sidecar" / "cat"
    build.image(sidecar / "0.png")
    (sidecar / "0.txt").write_text("a cat", encoding="utf-8")
    assert columns_needed(DatasetSpec(str(sidecar.parent)), "x") is None  # no columns to choose


def test_a_cancelled_load_stops(manifest_dataset):
    state = TaskState()
    state.cancel()
    with pytest.raises(Cancelled):
        load_overview(DatasetSpec(str(manifest_dataset)), state=state)


def test_the_header_lines(manifest_dataset, tmp_path, build):
    dataset = load_dataset(manifest_dataset)
    stats = overview(dataset).stats
    assert display_name("/somewhere/else", dataset) == manifest_dataset.name
    assert display_name("/data/shards/train-{0..3}.tar") == "train-{0..3}.tar"
    assert display_name("/") == "/"
    assert summary_line(dataset, stats) == (
        "12 usable pairs, 0 skipped  ·  3 labels  ·  classification  ·  " + splits_text(stats.splits)
    )
    assert splits_text({"train": 1200, "test": 3}) == "train 1,200 / val 0 / test 3"
    assert columns_text(ColumnRoles(image="path", text="caption", split="")) == (
        "Columns: image = path, text = caption"
    )
    build.csv(tmp_path / "r" / "data.csv", ["image", "caption"], [["a.png", "a thing"]])
    build.image(tmp_path / "r" / "a.png")
    retrieval = load_dataset(tmp_path / "r")
    assert "image–text retrieval" in summary_line(retrieval, overview(retrieval).stats)
    assert "label" not in summary_line(retrieval, overview(retrieval).stats)


def test_a_folder_of_several_manifests_asks_which_one(tmp_path, build):
    """#11: with a person to ask, the files to choose from, not an error; choosing one loads it."""
    for name, n in (("all.csv", 12), ("first.csv", 6)):
        rows = []
        for i in range(n):
            build.image(tmp_path / "img" / f"{i}.png")
            rows.append([f"img/{i}.png", build.caption(i), "ab"[i % 2]])
        build.csv(tmp_path / name, ["image", "caption", "label"], rows)
    asked = load_overview(DatasetSpec(str(tmp_path)), ask_columns=True)
    assert isinstance(asked, ChoiceNeeded) and asked.folder == tmp_path
    assert asked.choices == [tmp_path / "all.csv", tmp_path / "first.csv"]
    assert "holds 2 manifests (all.csv, first.csv)" in asked.message
    with pytest.raises(SeveralDatasets):
        load_overview(DatasetSpec(str(tmp_path)))
    chosen = load_overview(DatasetSpec(str(asked.choices[1])), ask_columns=True)
    assert isinstance(chosen, Overview) and len(chosen.dataset.items) == 6


def test_one_display_name_for_a_dataset_opened_by_its_annotation_file(coco_dataset):
    """#20: a COCO set opened by ``annotations/captions_train2017.json`` is called by its folder, as
    the Datasets page's header calls it (and the window's status bar, which asks the same function),
    not "annotations"."""
    path = coco_dataset / "annotations" / "captions_train2017.json"
    dataset = load_dataset(path)
    assert display_name(str(path), dataset) == coco_dataset.name == display_name(str(coco_dataset), dataset)
