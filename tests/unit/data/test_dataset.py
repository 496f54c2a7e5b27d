"""``load_dataset`` / ``read_source`` end to end, and the :class:`Dataset` the rest of mmstudio uses."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from mmstudio.data import Dataset, DatasetFormatError, LoadOptions, load_dataset, read_source
from mmstudio.data.types import ColumnRoles


def test_dataset_api(manifest_dataset):
    dataset = load_dataset(manifest_dataset)
    assert isinstance(dataset, Dataset)
    assert (dataset.format, dataset.root, dataset.task) == ("manifest", manifest_dataset, "classification")
    assert dataset.columns == ColumnRoles("image", "caption", "label")
    assert dataset.labels == ["bird", "cat", "dog"]
    assert dataset.label_counts() == {"bird": 4, "cat": 4, "dog": 4}
    assert dataset.split_counts() == {"train": 6, "val": 3, "test": 3}
    assert len(dataset.split("validation")) == 3 and dataset.split("val") == dataset.split("valid")
    assert [i.index for i in dataset.items] == list(range(12))
    assert (dataset.report.rows, dataset.report.valid, dataset.report.skipped) == (12, 12, 0)
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        dataset.split("holdout")


def test_labels_are_computed_once_and_handed_out_as_copies(manifest_dataset):
    dataset = load_dataset(manifest_dataset)
    labels = dataset.labels
    labels.append("not a label")  # the caller's own list
    assert dataset.labels == ["bird", "cat", "dog"]
    # Computed once: a dataset's items are not changed once it is made (this one is, to show it).
    dataset.items[0] = dataclasses.replace(dataset.items[0], label="zebra")
    assert dataset.labels == ["bird", "cat", "dog"]


def test_summary_dict_has_the_data_check_json_keys(manifest_dataset, build):
    (manifest_dataset / "data.csv").write_text(
        (manifest_dataset / "data.csv").read_text() + "images/missing.png,gone,cat\n", encoding="utf-8"
    )
    summary = load_dataset(manifest_dataset).summary_dict()
    for key in ("format", "reason", "columns", "rows", "valid", "skipped", "problems", "labels", "splits"):
        assert key in summary
    assert set(summary["columns"]) == {"image", "text", "label", "split"}
    assert (summary["rows"], summary["valid"], summary["skipped"]) == (13, 12, 1)
    [problem] = summary["problems"]
    assert {"kind", "row", "path", "message", "skipped"} <= set(problem)
    assert problem["kind"] == "missing_file" and problem["row"] == 13
    assert json.loads(json.dumps(summary)) == summary


def test_explicit_format_and_columns(tmp_path, build):
    build.image(tmp_path / "a.png")
    build.csv(tmp_path / "metadata.csv", ["file_name", "text", "other"], [["a.png", "hello there", "x"]])
    assert read_source(tmp_path).format == "imagefolder"
    source = read_source(tmp_path / "metadata.csv", format="manifest", columns=ColumnRoles(image="file_name"))
    assert source.format == "manifest" and source.columns.image == "file_name"
    with pytest.raises(DatasetFormatError, match="unknown dataset format 'csv'; choose one of: manifest"):
        read_source(tmp_path, format="csv")
    with pytest.raises(DatasetFormatError, match=r"column 'nope'.*available columns: file_name, text, other"):
        read_source(tmp_path, columns=ColumnRoles(text="nope"))


def test_retrieval_task_without_labels(tmp_path, build):
    build.image(tmp_path / "a.png")
    build.csv(tmp_path / "d.csv", ["image", "caption"], [["a.png", f"caption {i}"] for i in range(10)])
    dataset = load_dataset(tmp_path / "d.csv")
    assert dataset.task == "retrieval" and dataset.labels == [] and dataset.label_counts() == {}
    assert sum(dataset.split_counts().values()) == 10


def test_bad_rows_never_make_loading_fail(tmp_path, build):
    (tmp_path / "d.csv").write_text("image,caption\nmissing.png,x\n,y\n", encoding="utf-8")
    dataset = load_dataset(tmp_path / "d.csv")
    assert dataset.report.valid == 0 and not dataset.report.usable
    assert dataset.split_counts() == {"train": 0, "val": 0, "test": 0}


def test_header_check_is_fast_and_full_check_finds_more(tmp_path, build):
    rows = []
    for i in range(40):
        build.image(tmp_path / f"{i}.jpg", "JPEG", size=(32, 32))
        rows.append([f"{i}.jpg", f"caption {i}"])
    cut = tmp_path / "7.jpg"
    cut.write_bytes(cut.read_bytes()[:-200])
    build.csv(tmp_path / "d.csv", ["image", "caption"], rows)
    assert load_dataset(tmp_path / "d.csv", options=LoadOptions(check_images="header")).report.valid == 40
    full = load_dataset(tmp_path / "d.csv", options=LoadOptions(check_images="full"))
    assert full.report.valid == 39 and full.report.problems[0].path == "7.jpg"


def test_load_options_are_checked():
    with pytest.raises(ValueError, match="check_images must be one of full, header"):
        LoadOptions(check_images="fast")
    with pytest.raises(ValueError, match="positive"):
        LoadOptions(workers=0)
    assert 1 <= LoadOptions().workers <= 8


def test_seed_changes_the_splits_and_only_them(manifest_dataset):
    a = load_dataset(manifest_dataset, options=LoadOptions(seed=1))
    b = load_dataset(manifest_dataset, options=LoadOptions(seed=2))
    assert a.fingerprint == b.fingerprint
    assert [i.split for i in a.items] != [i.split for i in b.items]


def test_importing_the_dataset_layer_is_light():
    code = (
        "import sys, mmstudio.data as d; print(sorted(m for m in ('numpy', 'PIL', 'torch', 'PySide6') "
        "if m in sys.modules)); d.load_dataset; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["[]", "False"]


def test_resplit_gives_what_a_load_with_those_options_gives(tmp_path, build):
    root = tmp_path / "ds"
    rows = []
    for i in range(40):
        build.image(root / f"{i}.png")
        rows.append([f"{i}.png", build.caption(i), ("cat", "dog")[i % 2], "test" if i < 8 else "train"])
    rows.append(["0.png", "one label alone", "rare", "train"])
    manifest = build.csv(root / "data.csv", ["image", "caption", "label", "split"], rows)
    dataset = load_dataset(manifest)
    options = {"val_fraction": 0.25, "test_fraction": 0.1, "seed": 3, "stratify": True}
    again = dataset.resplit(**options)
    fresh = load_dataset(manifest, options=LoadOptions(**options))
    # the split column's test rows are kept; val is held out of train, as on a load
    assert [(i.row, i.split) for i in again.items] == [(i.row, i.split) for i in fresh.items]
    assert again.split_counts()["test"] == 8 and again.split_counts()["val"] > 0
    assert [p.to_dict() for p in again.report.problems] == [p.to_dict() for p in fresh.report.problems]
    assert again.notes == fresh.notes and again.options == fresh.options
    assert [(i.row, i.split) for i in dataset.items] != [(i.row, i.split) for i in again.items]  # a new one


def test_resplit_refuses_fractions_that_leave_no_training_rows(manifest_dataset):
    dataset = load_dataset(manifest_dataset)
    with pytest.raises(ValueError, match="leave some rows for training"):
        dataset.resplit(val_fraction=0.5, test_fraction=0.5, seed=0, stratify=True)
