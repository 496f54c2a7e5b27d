"""Format detection: what each kind of path is taken for, why, and what an unrecognisable path says."""

from __future__ import annotations

import json
import pickle

import pytest

from mmstudio.data.detect import detect_format
from mmstudio.data.types import DatasetFormatError, SeveralDatasets


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("manifest", "folder with one manifest file (data.csv): manifest"),
        ("imagefolder", "metadata.jsonl and a file_name column: Hugging Face imagefolder"),
        ("sidecar", "class folders (bird, cat, dog) of images with same-stem .txt captions: sidecar"),
        ("coco", "folder with COCO captions JSON (annotations/captions_train2017.json): coco"),
        ("webdataset", "folder with 2 .tar shards: WebDataset"),
    ],
)
def test_folders(name, reason, dataset_of):
    root = dataset_of(name)
    detection = detect_format(root)
    assert detection.format == name
    assert reason in detection.reason
    assert detection.root == root


def test_paths_are_the_index_files(dataset_of):
    assert [p.name for p in detect_format(dataset_of("webdataset")).paths] == [
        "shard-000.tar",
        "shard-001.tar",
    ]
    assert [p.name for p in detect_format(dataset_of("manifest")).paths] == ["data.csv"]
    assert detect_format(dataset_of("sidecar")).paths == []


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet"])
def test_manifest_files(tmp_path, suffix):
    path = tmp_path / f"list{suffix}"
    path.write_text("[]" if suffix == ".json" else "image,text\n", encoding="utf-8")
    detection = detect_format(path)
    assert (detection.format, detection.root, detection.paths) == ("manifest", tmp_path, [path])
    assert detection.reason.startswith(f"list{suffix}: a {suffix[1:].upper()} manifest file")


def test_json_file_is_coco_or_manifest_by_its_keys(tmp_path):
    (tmp_path / "a.json").write_text(
        json.dumps({"info": {}, "images": [], "annotations": []}), encoding="utf-8"
    )
    (tmp_path / "b.json").write_text(json.dumps({"data": [{"image": "x.png"}]}), encoding="utf-8")
    assert detect_format(tmp_path / "a.json").format == "coco"
    assert detect_format(tmp_path / "b.json").format == "manifest"


def test_coco_json_in_annotations_has_the_parent_as_root(coco_dataset):
    detection = detect_format(coco_dataset / "annotations" / "captions_train2017.json")
    assert detection.format == "coco" and detection.root == coco_dataset


def test_tar_file_and_patterns(webdataset_dataset):
    shard = webdataset_dataset / "shard-000.tar"
    assert detect_format(shard).paths == [shard]
    for pattern in ("shard-*.tar", "shard-{000..001}.tar", "shard-{000,001}.tar"):
        detection = detect_format(str(webdataset_dataset / pattern))
        assert detection.format == "webdataset" and len(detection.paths) == 2
        assert detection.root == webdataset_dataset
        assert f"the pattern {webdataset_dataset / pattern} matches 2 .tar shards" in detection.reason


def test_pattern_that_matches_nothing(tmp_path):
    with pytest.raises(DatasetFormatError, match="no file matches the pattern"):
        detect_format(str(tmp_path / "shard-*.tar"))


def test_metadata_in_split_folders_is_imagefolder(tmp_path, build):
    build.image(tmp_path / "validation" / "a.png")
    (tmp_path / "validation" / "metadata.csv").write_text(
        "file_name,text\na.png,hi there\n", encoding="utf-8"
    )
    detection = detect_format(tmp_path)
    assert detection.format == "imagefolder"
    assert detection.paths == [tmp_path / "validation" / "metadata.csv"]


def test_imagefolder_metadata_without_file_name_is_said(tmp_path):
    (tmp_path / "metadata.jsonl").write_text('{"image": "a.png", "text": "x"}\n', encoding="utf-8")
    assert "no file_name column" in detect_format(tmp_path).reason


def test_manifest_beats_sidecar_when_both_fit(sidecar_dataset, build):
    build.csv(sidecar_dataset / "index.csv", ["image", "text"], [["cat/0.jpg", "a cat"]])
    assert detect_format(sidecar_dataset).format == "manifest"


def test_split_shard_folders(tmp_path, build):
    for split in ("train", "val"):
        build.tar(tmp_path / split / "shard-0.tar", {"a.jpg": build.image_bytes("JPEG"), "a.txt": b"x"})
    detection = detect_format(tmp_path)
    assert detection.format == "webdataset" and len(detection.paths) == 2


def test_explicit_format(dataset_of):
    assert detect_format(dataset_of("manifest"), format="manifest").format == "manifest"
    with pytest.raises(DatasetFormatError, match="is not a coco dataset: coco expects a COCO captions"):
        detect_format(dataset_of("manifest"), format="coco")
    with pytest.raises(DatasetFormatError, match="unknown dataset format 'tfrecord'"):
        detect_format(dataset_of("manifest"), format="tfrecord")


def test_nothing_recognisable_says_what_was_looked_for(tmp_path):
    (tmp_path / "notes.md").write_text("hello", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    with pytest.raises(DatasetFormatError) as info:
        detect_format(tmp_path)
    message = str(info.value)
    for looked_for in ("manifest", "metadata.jsonl", "COCO", ".tar shards", "sidecar"):
        assert looked_for in message
    assert "1 folder and 1 file (.md)" in message
    # no advice to name the format: each reader has been asked, and would refuse the path again
    assert "--format" not in message and "choose" not in message


def test_missing_path_image_file_and_unknown_file(tmp_path, build):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        detect_format(tmp_path / "nope")
    with pytest.raises(DatasetFormatError, match="is a single image"):
        detect_format(build.image(tmp_path / "a.png"))
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(DatasetFormatError, match=r"not a dataset file mmstudio knows.*Rename or convert"):
        detect_format(tmp_path / "weights.bin")


def test_several_unrelated_manifests_are_ambiguous(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("image,text\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"2 manifests \(a.csv, b.csv\)"):
        detect_format(tmp_path)


@pytest.mark.parametrize("format", [None, "manifest"])
def test_a_folder_of_several_manifests_names_the_files_to_choose_from(tmp_path, format):
    """#11, #1: ``manifest.csv`` beside ``manifest_train.csv`` and ``manifest_test.csv`` is no one
    dataset; the error carries the files to choose from (the Datasets page lists them), also when the
    format is given (an old run's record names the folder and its format)."""
    for name in ("manifest.csv", "manifest_train.csv", "manifest_test.csv", "notes.txt"):
        (tmp_path / name).write_text("image,text\n", encoding="utf-8")
    with pytest.raises(SeveralDatasets) as raised:
        detect_format(tmp_path, format)
    assert raised.value.folder == tmp_path
    assert [p.name for p in raised.value.choices] == [
        "manifest.csv",
        "manifest_test.csv",
        "manifest_train.csv",
    ]
    assert str(raised.value).startswith(
        f"{tmp_path} holds 3 manifests (manifest.csv, manifest_test.csv, manifest_train.csv) whose names"
    )
    assert "x_train.csv, x_val.csv, x_test.csv are read together as splits" in str(raised.value)
    assert pickle.loads(pickle.dumps(raised.value)).choices == raised.value.choices
    assert detect_format(tmp_path / "manifest_train.csv").paths == [tmp_path / "manifest_train.csv"]


@pytest.mark.parametrize("val", ["val", "validation", "valid"])
def test_manifests_named_for_their_splits_are_one_dataset(tmp_path, val):
    """#11: ``x_train.csv``, ``x_val.csv`` (or ``x_validation.csv``), ``x_test.csv``: one dataset."""
    for split in ("train", val, "test"):
        (tmp_path / f"x_{split}.csv").write_text("image,text\n", encoding="utf-8")
    detection = detect_format(tmp_path)
    assert detection.format == "manifest" and len(detection.paths) == 3
    assert "one manifest per split" in detection.reason
