"""Every format reader on real (generated) files, including the awkward ways real files come."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mmstudio.data._common import Detection
from mmstudio.data.dataset import LoadOptions, load_dataset, read_source
from mmstudio.data.detect import detect_format
from mmstudio.data.formats import (
    FORMATS,
    READERS,
    FormatReader,
    available_formats,
    check_fixed_roles,
    choosable_formats,
    detection_order,
    get_reader,
    readers,
    register,
)
from mmstudio.data.formats.webdataset import expand_pattern
from mmstudio.data.preview import read_preview
from mmstudio.data.sources import can_open, file_filter, formats_text
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.types import ColumnRoles, DatasetFormatError, DatasetSource, ProblemKind, Record

EXPECTED_RECORDS = {"manifest": 12, "imagefolder": 12, "sidecar": 9, "coco": 8, "webdataset": 8}


def kinds(problems) -> list[str]:
    return [str(p.kind) for p in problems]


# --- the registry ------------------------------------------------------------------------------


def test_registry_lists_every_format():
    assert tuple(READERS) == FORMATS
    assert available_formats() == list(FORMATS)


def test_unknown_format_lists_the_formats():
    with pytest.raises(DatasetFormatError, match=r"unknown dataset format 'hdf5'.*manifest, imagefolder"):
        get_reader("hdf5")


@pytest.mark.parametrize("name", FORMATS)
def test_every_reader_declares_itself(name):
    """A format is one module that says what it is: the lists of detection, the command line and the
    GUI are made of these declarations, so each must be whole."""
    reader = get_reader(name)
    assert isinstance(reader, FormatReader) and reader.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name)
    assert reader.title and reader.looks_for and reader.expects
    assert reader.folder_rank is not None or reader.file_rank is not None
    assert all(s == s.lower() and s.strip() for s in reader.suffixes)
    assert not reader.roles_choosable or reader.preview is not None  # choosing roles shows the columns
    assert (reader.is_pattern is None) == (reader.locate_pattern is None)
    assert all(reader.opens(f"A{s.upper()}" if s.startswith(".") else s.upper()) for s in reader.suffixes)


def test_detection_order_and_choosable_roles():
    # The most specific first (an imagefolder's metadata.csv is a table too); sidecar only on folders.
    assert [r.name for r in detection_order(folder=True)] == [
        "imagefolder",
        "coco",
        "webdataset",
        "manifest",
        "sidecar",
    ]
    assert [r.name for r in detection_order(folder=False)] == [
        "imagefolder",
        "webdataset",
        "coco",
        "manifest",
    ]
    assert choosable_formats() == ["manifest", "imagefolder", "webdataset"]
    with pytest.raises(DatasetFormatError, match="only be chosen for manifest, imagefolder and webdataset"):
        check_fixed_roles(ColumnRoles(image="x"), ColumnRoles(image="(image file)"), "sidecar")


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="'coco' is registered already"):
        register(get_reader("coco"))


def test_the_names_import_no_reader():
    """A spec and the command line's ``--format`` need only the names: no reader module is imported."""
    code = (
        "import sys\n"
        "from mmstudio.data.spec import DatasetSpec\n"
        "from mmstudio.cli import build_parser\n"
        "DatasetSpec(path='x', format='coco')\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('mmstudio.data.formats.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- a format is one module and one line -------------------------------------------------------


def _locate_pairs(path: Path) -> Detection | None:
    files = sorted(path.glob("*.pairs")) if path.is_dir() else [path] * (path.suffix == ".pairs")
    root = path if path.is_dir() else path.parent
    return Detection("pairs", f"{len(files)} .pairs file(s): pairs", root, files) if files else None


def _read_pairs(detection: Detection, columns=None, *, cancel=None) -> DatasetSource:
    records = []
    for path in detection.paths:
        for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            image, text = line.split("\t")
            records.append(Record(row, path.name, image, text))
    roles = ColumnRoles(image="(first field)", text="(second field)")
    return DatasetSource("pairs", detection.root, detection.reason, roles, records, task="retrieval")


PAIRS = FormatReader(
    name="pairs",
    title="Pair lists",
    looks_for="a .pairs list (image TAB caption)",
    expects="a .pairs file, or a folder with one",
    locate=_locate_pairs,
    read=_read_pairs,
    suffixes=(".pairs",),
    folder_rank=5,
    file_rank=5,
)


def test_a_format_registered_in_one_line_is_detected_read_and_listed(tmp_path, monkeypatch, build):
    """A throwaway format, one declaration and one registration: detection, loading, ``--format``,
    a spec, the open dialog, drops and the page's text all take it, and no other file changes."""
    from mmstudio.cli import build_parser

    monkeypatch.setitem(READERS, "pairs", PAIRS)  # the one line (in FORMATS, for a built-in)
    for i in range(3):
        build.image(tmp_path / f"{i}.png")
    pairs = tmp_path / "all.pairs"
    pairs.write_text("".join(f"{i}.png\ta picture of thing {i}\n" for i in range(3)), encoding="utf-8")
    (tmp_path / "extra.csv").write_text("image,text\n0.png,a picture\n", encoding="utf-8")

    assert detect_format(tmp_path).format == "pairs"  # its rank puts it before the manifest
    assert detect_format(pairs).format == "pairs"
    dataset = DatasetSpec(path=str(tmp_path), format="pairs").load()
    assert dataset.format == "pairs" and dataset.report.valid == 3 and dataset.task == "retrieval"
    assert load_dataset(tmp_path).format == "pairs"

    check = build_parser()._subparsers._group_actions[0].choices["data"]._subparsers._group_actions[0]
    fmt = next(a for a in check.choices["check"]._actions if "--format" in a.option_strings)
    assert "pairs" in fmt.choices and "pairs" in available_formats()

    assert "*.pairs" in file_filter().split(";;")[0] and "Pair lists (*.pairs)" in file_filter()
    assert can_open([pairs]) and "a .pairs list (image TAB caption)" in formats_text()
    with pytest.raises(ValueError, match="no columns to choose"):
        read_preview("pairs", [pairs])
    (tmp_path / "none").mkdir()
    with pytest.raises(DatasetFormatError, match=r"looked for .*a \.pairs list"):
        detect_format(tmp_path / "none")
    assert [r.name for r in readers()][-1] == "pairs"


@pytest.mark.parametrize("name", FORMATS)
def test_every_reader_reads_its_dataset(name, dataset_of):
    source = read_source(dataset_of(name), format=name)
    assert source.format == name
    assert len(source.records) == EXPECTED_RECORDS[name]
    assert source.problems == []
    assert source.columns.image and source.columns.text
    dataset = load_dataset(dataset_of(name), format=name)
    assert dataset.report.valid == EXPECTED_RECORDS[name]
    assert dataset.report.problems == []


# --- manifest: CSV / TSV ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "suffix", "bom", "eol"),
    [
        (",", ".csv", False, "\n"),
        (";", ".csv", True, "\r\n"),
        ("\t", ".tsv", False, "\r\n"),
        ("\t", ".txt", True, "\n"),
        (";", ".txt", False, "\n"),
    ],
)
def test_csv_dialects(tmp_path, delimiter, suffix, bom, eol, build):
    for i in range(3):
        build.image(tmp_path / f"{i}.png")
    rows = [[f"{i}.png", f"{build.caption(i)}, with a comma; and a semicolon", "x"] for i in range(3)]
    path = build.csv(
        tmp_path / f"data{suffix}",
        ["image", "caption", "label"],
        rows,
        delimiter=delimiter,
        bom=bom,
        lineterminator=eol,
    )
    source = read_source(path)
    assert source.columns == ColumnRoles(image="image", text="caption", label="label")
    assert [r.text for r in source.records] == [row[1] for row in rows]
    assert source.available_columns == ["image", "caption", "label"]  # the BOM is not part of the name


def test_csv_quoted_multiline_field_counts_as_one_row(tmp_path, build):
    for i in range(3):
        build.image(tmp_path / f"{i}.png")
    text = 'image,caption\r\n0.png,"first line\r\nsecond line"\r\n1.png,one\r\n2.png,two,extra\r\n'
    (tmp_path / "data.csv").write_text(text, encoding="utf-8", newline="")
    source = read_source(tmp_path / "data.csv")
    assert [(r.row, r.image) for r in source.records] == [(1, "0.png"), (2, "1.png")]
    assert source.records[0].text == "first line\r\nsecond line"
    [problem] = source.problems
    assert problem.kind == ProblemKind.MALFORMED_ROW and problem.row == 3
    assert "row 3 (line 5)" in problem.message and "3 fields but the header has 2" in problem.message


def test_csv_blank_lines_and_trailing_empty_cells_are_not_problems(tmp_path, build):
    build.image(tmp_path / "0.png")
    (tmp_path / "data.csv").write_text("image,caption\n\n0.png,hello,,\n,,\n", encoding="utf-8")
    source = read_source(tmp_path / "data.csv")
    assert len(source.records) == 1 and source.problems == []


def test_csv_empty_file_is_an_error(tmp_path):
    (tmp_path / "data.csv").write_bytes(b"")
    with pytest.raises(DatasetFormatError, match="empty"):
        read_source(tmp_path / "data.csv")


def test_utf16_tsv_as_excel_writes_it(tmp_path, build):
    build.image(tmp_path / "0.png")
    (tmp_path / "data.txt").write_bytes("image\tcaption\n0.png\tcafé au lait\n".encode("utf-16"))
    [record] = read_source(tmp_path / "data.txt").records
    assert record.text == "café au lait"


def test_invalid_utf8_in_one_row_is_kept_for_validation(tmp_path, build):
    for i in range(2):
        build.image(tmp_path / f"{i}.png")
    (tmp_path / "data.csv").write_bytes(b"image,caption\n0.png,caf\xe9\n1.png,fine text\n")
    dataset = load_dataset(tmp_path / "data.csv")
    [problem] = dataset.report.problems
    assert problem.kind == ProblemKind.INVALID_UTF8 and problem.row == 1 and "0xE9" in problem.message
    assert [i.text for i in dataset.items] == ["fine text"]


def test_duplicate_and_empty_header_names_are_made_unique(tmp_path, build):
    build.image(tmp_path / "0.png")
    (tmp_path / "data.csv").write_text("image,caption,caption,\n0.png,a b c,d e f,x\n", encoding="utf-8")
    source = read_source(tmp_path / "data.csv")
    assert source.available_columns == ["image", "caption", "caption.2", "column_4"]


# --- manifest: JSON Lines, JSON, Parquet --------------------------------------------------------


def test_jsonl_malformed_line_is_reported_and_others_continue(tmp_path, build):
    for i in range(3):
        build.image(tmp_path / f"{i}.png")
    lines = [
        json.dumps({"image": "0.png", "text": build.caption(0), "label": 1}),
        '{"image": "1.png", "text": "broken',
        "",
        "[1, 2]",
        json.dumps({"image": "2.png", "text": build.caption(2), "label": 0}),
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = read_source(tmp_path / "data.jsonl")
    assert [(r.row, r.image, r.label) for r in source.records] == [(1, "0.png", "1"), (4, "2.png", "0")]
    assert [(p.row, str(p.kind)) for p in source.problems] == [(2, "malformed_row"), (3, "malformed_row")]
    assert "line 2" in source.problems[0].message and "not valid JSON" in source.problems[0].message
    assert "line 4" in source.problems[1].message and "list" in source.problems[1].message
    dataset = load_dataset(tmp_path / "data.jsonl")
    assert (dataset.report.rows, dataset.report.valid) == (4, 2)


@pytest.mark.parametrize("wrap", [None, "data", "rows", "items"])
def test_json_list_or_wrapped_list(tmp_path, wrap, build):
    build.image(tmp_path / "0.png")
    rows = [{"image": "0.png", "caption": build.caption(0)}, "not an object"]
    (tmp_path / "data.json").write_text(json.dumps({wrap: rows} if wrap else rows), encoding="utf-8")
    source = read_source(tmp_path / "data.json")
    assert source.format == "manifest" and len(source.records) == 1
    assert kinds(source.problems) == ["malformed_row"] and source.problems[0].row == 2


def test_json_of_another_shape_is_explained(tmp_path):
    (tmp_path / "data.json").write_text(json.dumps({"data": {"a": 1}}), encoding="utf-8")
    with pytest.raises(DatasetFormatError, match="expected a list of objects"):
        read_source(tmp_path / "data.json", format="manifest")


def test_parquet_manifest(tmp_path, build):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    for i in range(3):
        build.image(tmp_path / f"{i}.png")
    table = pa.table(
        {
            "image": [{"bytes": None, "path": f"{i}.png"} for i in range(3)],  # as Hugging Face writes it
            "caption": [build.caption(i) for i in range(3)],
            "label": [0, 1, None],
        }
    )
    pq.write_table(table, tmp_path / "data.parquet")
    dataset = load_dataset(tmp_path / "data.parquet")
    assert dataset.format == "manifest" and dataset.columns.image == "image"
    assert [i.label for i in dataset.items] == ["0", "1"]
    assert [str(p.kind) for p in dataset.report.problems if p.skipped] == ["missing_label"]


def test_parquet_without_pyarrow_says_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DatasetFormatError, match="install pyarrow"):
        read_source(tmp_path / "data.parquet")


def test_one_manifest_per_split(tmp_path, build):
    for split, n in (("train", 4), ("validation", 2), ("test", 2)):
        rows = []
        for i in range(n):
            build.image(tmp_path / "img" / f"{split}{i}.png")
            rows.append([f"img/{split}{i}.png", build.caption(i)])
        build.csv(tmp_path / f"{split}.csv", ["image", "caption"], rows)
    dataset = load_dataset(tmp_path)
    assert dataset.format == "manifest" and "splits from the file names" in dataset.reason
    assert dataset.split_counts() == {"train": 4, "val": 2, "test": 2}
    assert dataset.columns.split == "(file name)"


def test_manifests_named_x_train_x_val_x_test_load_as_one_dataset_with_those_splits(tmp_path, build):
    """#11: a common prefix before the split's name (``x_train.csv``) still names the split."""
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        rows = []
        for i in range(n):
            build.image(tmp_path / "img" / f"{split}{i}.png")
            rows.append([f"img/{split}{i}.png", build.caption(i), "ab"[i % 2]])
        build.csv(tmp_path / f"x_{split}.csv", ["image", "caption", "label"], rows)
    dataset = load_dataset(tmp_path)
    assert dataset.format == "manifest" and "splits from the file names" in dataset.reason
    assert dataset.split_counts() == {"train": 6, "val": 2, "test": 3}
    assert dataset.columns.split == "(file name)" and not dataset.report.problems


def test_manifest_resolves_paths_against_its_folder(tmp_path, build):
    build.image(tmp_path / "sub" / "images" / "a.png")
    build.csv(tmp_path / "sub" / "list.csv", ["path", "description"], [["images/a.png", build.caption(1)]])
    dataset = load_dataset(tmp_path / "sub" / "list.csv")
    assert dataset.root == tmp_path / "sub"
    assert dataset.items[0].image.path == tmp_path / "sub" / "images" / "a.png"


# --- imagefolder --------------------------------------------------------------------------------


def test_imagefolder_splits_and_class_folder_labels(imagefolder_dataset):
    dataset = load_dataset(imagefolder_dataset)
    assert dataset.format == "imagefolder"
    assert "test/metadata.jsonl, train/metadata.jsonl and a file_name column" in dataset.reason
    assert dataset.columns == ColumnRoles("file_name", "text", "(class folder)", "(split folder)")
    assert dataset.labels == ["bird", "cat", "dog"]
    assert dataset.split_counts()["test"] == 3
    item = dataset.split("test")[0]
    assert item.image.path == imagefolder_dataset / "test" / item.label / item.image.path.name


def test_imagefolder_metadata_csv_with_label_column(tmp_path, build):
    rows = []
    for i in range(4):
        build.image(tmp_path / f"{i}.png")
        rows.append([f"{i}.png", build.caption(i), "yes" if i % 2 else "no"])
    build.csv(tmp_path / "metadata.csv", ["file_name", "caption", "answer"], rows)
    source = read_source(tmp_path, columns=ColumnRoles(label="answer"))
    assert source.format == "imagefolder"
    assert source.columns == ColumnRoles("file_name", "caption", "answer", None)
    assert [r.label for r in source.records] == ["no", "yes", "no", "yes"]


def test_imagefolder_split_folder_named_validation(tmp_path, build):
    for split in ("train", "validation"):
        build.image(tmp_path / split / "a.png")
        build.jsonl(
            tmp_path / split / "metadata.jsonl", [{"file_name": "a.png", "caption": build.caption(0)}]
        )
    source = read_source(tmp_path)
    assert sorted(r.split for r in source.records) == ["train", "val"]
    assert source.task == "retrieval"  # no label column and no class folders


# --- sidecar ------------------------------------------------------------------------------------


def test_sidecar_labels_from_class_folders(sidecar_dataset, build):
    source = read_source(sidecar_dataset)
    assert source.format == "sidecar" and "class folders (bird, cat, dog)" in source.reason
    assert {r.label for r in source.records} == {"bird", "cat", "dog"}
    assert isinstance(source.records[0].text, bytes)  # decoded by validation
    dataset = load_dataset(sidecar_dataset)
    assert dataset.items[0].text == build.caption(0)  # trailing newline stripped


def test_sidecar_split_level_and_missing_caption(tmp_path, build):
    for split in ("train", "val"):
        for i in range(2):
            build.image(tmp_path / split / "cat" / f"{i}.png")
            if not (split == "val" and i == 1):
                (tmp_path / split / "cat" / f"{i}.txt").write_text(build.caption(i), encoding="utf-8")
    build.image(tmp_path / "train" / "cat" / "._0.png")  # macOS resource fork: never data
    dataset = load_dataset(tmp_path)
    assert dataset.format == "sidecar" and dataset.columns.split == "(split folder)"
    assert dataset.report.rows == 4 and dataset.report.valid == 3
    [problem] = dataset.report.problems
    assert problem.kind == ProblemKind.EMPTY_TEXT and problem.path == "val/cat/1.png"
    assert "no 1.txt beside it" in problem.message


def test_sidecar_caption_that_is_not_utf8(tmp_path, build):
    build.image(tmp_path / "dog" / "a.png")
    (tmp_path / "dog" / "a.txt").write_bytes(b"na\xefve")
    build.image(tmp_path / "dog" / "b.png")
    (tmp_path / "dog" / "b.txt").write_bytes("\ufeffnaïve".encode())  # a BOM is fine
    dataset = load_dataset(tmp_path)
    assert [str(p.kind) for p in dataset.report.problems if p.skipped] == ["invalid_utf8"]
    assert [i.text for i in dataset.items] == ["naïve"]


def test_sidecar_roles_are_fixed(sidecar_dataset):
    source = read_source(sidecar_dataset)
    assert read_source(sidecar_dataset, columns=source.columns).columns == source.columns
    with pytest.raises(DatasetFormatError, match="takes its text from its layout"):
        read_source(sidecar_dataset, columns=ColumnRoles(text="caption"))


# --- coco ---------------------------------------------------------------------------------------


def test_coco_captions_with_images_in_a_sibling_folder(coco_dataset):
    dataset = load_dataset(coco_dataset)
    assert dataset.format == "coco" and dataset.task == "retrieval" and dataset.labels == []
    assert dataset.root == coco_dataset and "images in train2017" in dataset.reason
    assert dataset.items[0].image.path == coco_dataset / "train2017" / "000000000000.jpg"
    assert {i.group for i in dataset.items} == {"100", "101", "102", "103"}


def test_coco_json_given_directly(coco_dataset):
    dataset = load_dataset(coco_dataset / "annotations" / "captions_train2017.json")
    assert dataset.format == "coco" and dataset.report.valid == 8


def test_coco_unknown_image_id_and_bad_caption(tmp_path, build):
    build.image(tmp_path / "images" / "a.jpg", "JPEG")
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [
            {"image_id": 1, "caption": "a red square"},
            {"image_id": 7, "caption": "an orphan caption"},
            {"image_id": 1, "caption": ["not", "a", "string"]},
            {"caption": "no image id"},
        ],
    }
    (tmp_path / "captions.json").write_text(json.dumps(doc), encoding="utf-8")
    dataset = load_dataset(tmp_path)
    assert dataset.report.rows == 4 and dataset.report.valid == 1
    assert [(p.row, str(p.kind)) for p in dataset.report.problems] == [
        (2, "malformed_row"),
        (3, "malformed_row"),
        (4, "malformed_row"),
    ]
    assert "image_id 7, which is not in images[]" in dataset.report.problems[0].message


def test_coco_instances_file_is_refused_with_a_reason(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1]}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DatasetFormatError, match="instances"):
        read_source(tmp_path / "ann.json")


def test_coco_train_and_val_files_are_splits(coco_dataset):
    ann = coco_dataset / "annotations"
    doc = json.loads((ann / "captions_train2017.json").read_text())
    (ann / "captions_val2017.json").write_text(json.dumps(doc), encoding="utf-8")
    shutil.copytree(coco_dataset / "train2017", coco_dataset / "val2017")
    dataset = load_dataset(coco_dataset)
    assert dataset.split_counts() == {"train": 8, "val": 8, "test": 0}
    assert dataset.columns.split == "(file name)" and "images in train2017, val2017" in dataset.reason
    assert dataset.split("val")[0].image.path.parent.name == "val2017"


# --- webdataset ---------------------------------------------------------------------------------


def test_webdataset_records_refer_to_members(webdataset_dataset):
    source = read_source(webdataset_dataset)
    assert source.format == "webdataset" and source.columns == ColumnRoles("jpg", "txt", "cls", None)
    record = source.records[0]
    assert record.shard == webdataset_dataset / "shard-000.tar"
    assert (record.image, record.row, record.source, record.label) == (
        "sample0000.jpg",
        1,
        "shard-000.tar",
        "0",
    )
    dataset = load_dataset(webdataset_dataset)
    item = dataset.items[0]
    assert item.image.member == "sample0000.jpg" and item.image.path == record.shard
    assert (item.width, item.height) == (8, 6) and dataset.labels == ["0", "1"]


def test_webdataset_members_are_read_by_offset(webdataset_dataset, tmp_path, build):
    """Items of a plain shard know where their bytes are: one seek, not a scan of the tar."""
    dataset = load_dataset(webdataset_dataset)
    for item in dataset.items:
        assert item.image.offset is not None and item.image.size is not None
        with tarfile.open(item.image.path) as tar:
            assert item.image.read_bytes() == tar.extractfile(item.image.member).read()
    # A compressed shard has no usable offsets: its members are read through tarfile.
    gz = tmp_path / "gz" / "shard-000.tar.gz"
    gz.parent.mkdir()
    with tarfile.open(gz, "w:gz") as tar:
        for name, data in {"k.png": build.image_bytes(), "k.txt": b"a caption", "k.cls": b"1"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (item,) = load_dataset(gz, format="webdataset").items
    assert item.image.offset is None
    assert item.image.read_bytes() == build.image_bytes()


def test_webdataset_keys_json_fields_and_incomplete_samples(tmp_path, build):
    members = {
        "a/b/x.png": build.image_bytes(),  # key "a/b/x": the path up to the first dot of the base name
        "a/b/x.seg.png": build.image_bytes(),  # field "seg.png": a mask, not the image
        "a/b/x.json": json.dumps({"caption": "caption from json", "label": "red"}).encode(),
        "a/c/x.jpg": build.image_bytes("JPEG"),  # another key: the directory is part of it
        "a/c/x.txt": b"a text member",
        "a/c/x.json": json.dumps({"label": "blue"}).encode(),
        "._a.jpg": b"AppleDouble junk",
        "lonely.txt": b"text without image",
        "mute.png": build.image_bytes(),
        "broken.png": build.image_bytes(),
        "broken.json": b"{not json",
    }
    build.tar(tmp_path / "data.tar", members)
    source = read_source(tmp_path / "data.tar")
    images = {r.image: (r.text, r.label) for r in source.records}
    assert images == {"a/b/x.png": ("caption from json", "red"), "a/c/x.jpg": (b"a text member", "blue")}
    assert sorted((str(p.kind), p.path) for p in source.problems) == [
        ("empty_text", "mute"),
        ("malformed_row", "broken"),
        ("missing_image", "lonely"),
    ]
    assert source.available_columns == ["jpg", "json.caption", "json.label", "png", "txt"]


def test_webdataset_labels_are_the_names_the_json_gives_the_cls_ids(tmp_path, build):
    """#10: ``.cls`` holds an id ("5"), the ``.json`` its name ("people"): the label is the name, the
    id-to-name mapping is kept (a sample with only a ``.cls`` is named as the others with that id),
    and an id named two ways is a warning on the sample that disagrees."""
    members = {}
    for i, (class_id, doc) in enumerate(
        [
            ("5", {"label": "people"}),
            ("5", {"label": "people"}),
            ("7", {"label": "animals"}),
            ("7", {}),  # no name: its id's name, from the other samples
            ("5", {"label": "persons"}),  # the id named another way: kept, and said
            ("9", {}),  # an id no sample names: the id
        ]
    ):
        members[f"{i:03d}.jpg"] = build.image_bytes("JPEG")
        members[f"{i:03d}.txt"] = build.caption(i).encode()
        members[f"{i:03d}.cls"] = class_id.encode()
        members[f"{i:03d}.json"] = json.dumps(doc).encode()
    build.tar(tmp_path / "named" / "s.tar", members)
    dataset = load_dataset(tmp_path / "named")
    assert [i.label for i in dataset.items] == ["people", "people", "animals", "animals", "persons", "9"]
    assert dataset.source.label_names == {"5": "people", "7": "animals"}
    assert dataset.columns.label == "json.label"
    assert "5 → people, 7 → animals" in dataset.reason
    [mismatch] = [p for p in dataset.report.problems if p.kind != ProblemKind.RARE_LABEL]
    assert mismatch.kind == ProblemKind.LABEL_MISMATCH and not mismatch.skipped and mismatch.row == 5
    assert "names its .cls id 5 'persons', where 2 other samples name it 'people'" in mismatch.message

    # The ids asked for by name: the ids as they are, nothing mapped.
    ids = load_dataset(tmp_path / "named", columns=ColumnRoles(label="cls"))
    assert [i.label for i in ids.items] == ["5", "5", "7", "7", "5", "9"]
    assert ProblemKind.LABEL_MISMATCH not in {p.kind for p in ids.report.problems}
    assert ids.source.label_names == {}
    # A .label member is a name too.
    build.tar(
        tmp_path / "member" / "s.tar",
        {"k.jpg": build.image_bytes("JPEG"), "k.txt": b"a cap", "k.cls": b"2", "k.label": b"birds\n"},
    )
    assert [i.label for i in load_dataset(tmp_path / "member").items] == ["birds"]


def test_webdataset_chosen_fields(tmp_path, build):
    members = {"k.jpg": build.image_bytes("JPEG"), "k.txt": b"short", "k.caption": b"the long caption"}
    build.tar(tmp_path / "s.tar", members)
    [record] = read_source(tmp_path / "s.tar", columns=ColumnRoles(text="caption")).records
    assert record.text == b"the long caption"
    with pytest.raises(DatasetFormatError, match="available fields: caption, jpg, txt"):
        read_source(tmp_path / "s.tar", columns=ColumnRoles(text="json.text"))


def test_webdataset_truncated_shard_keeps_what_was_read(tmp_path, build):
    members = {}
    for i in range(6):
        members[f"{i:03d}.png"] = build.image_bytes(size=(40, 40))
        members[f"{i:03d}.txt"] = build.caption(i).encode()
    path = build.tar(tmp_path / "s.tar", members)
    with tarfile.open(path) as tar:
        cut = tar.getmember("003.png")
    path.write_bytes(path.read_bytes()[: cut.offset_data + cut.size // 2])  # a download that stopped
    dataset = load_dataset(path)
    assert dataset.report.valid == 3  # samples 000-002; 003's image is cut, 004 and 005 are lost
    shard_problems = [p for p in dataset.report.problems if p.row is None]
    assert len(shard_problems) == 1 and "s.tar cannot be read to the end" in shard_problems[0].message


def test_shard_patterns(tmp_path, webdataset_dataset, build):
    build.tar(webdataset_dataset / "shard-002.tar", {"z.jpg": build.image_bytes("JPEG"), "z.txt": b"zed"})
    assert [p.name for p in expand_pattern(str(webdataset_dataset / "shard-{000..001}.tar"))] == [
        "shard-000.tar",
        "shard-001.tar",
    ]
    assert len(expand_pattern(str(webdataset_dataset / "shard-*.tar"))) == 3
    assert len(expand_pattern(str(webdataset_dataset / "shard-{000,002}.tar"))) == 2
    source = read_source(str(webdataset_dataset / "shard-{000..001}.tar"))
    assert len(source.records) == 8 and source.root == webdataset_dataset


def test_webdataset_validation_reads_each_shard_once(webdataset_dataset, monkeypatch):
    opened = []
    real_open = tarfile.open

    def spy(name=None, *args, **kwargs):
        fileobj = kwargs.get("fileobj")
        opened.append(str(name) if fileobj is None else os.path.realpath(f"/proc/self/fd/{fileobj.fileno()}"))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(tarfile, "open", spy)
    load_dataset(webdataset_dataset, options=LoadOptions(check_images="full"))
    # one pass to read the samples and one to check the images, per shard, never one per member (the
    # shards are opened as checked regular files, given to tarfile as file objects)
    shards = [os.path.realpath(p) for p in webdataset_dataset.glob("*.tar")]
    if os.path.isdir("/proc/self/fd"):
        assert sorted(opened) == sorted(shards * 2)
    else:
        assert len(opened) == len(shards) * 2


@pytest.mark.parametrize(
    "text",
    ['a,b\r\nc,"d\r\ne"\r\nf,g', "a,b\nc,d\n", "a,b\rc,d\r", "", "x", 'a,"b\nc"\nd,e\n', "a,b\r\nc\rd\n"],
)
def test_csv_lines_are_split_as_stringio_splits_them(text):
    """The manifest reader feeds csv one line at a time (no call over the whole text), with the same
    records as io.StringIO(newline="") gives, quoted newlines and every line ending included."""
    import csv
    import io

    from mmstudio.data.formats._table import _lines

    assert list(csv.reader(_lines(text))) == list(csv.reader(io.StringIO(text, newline="")))


def test_large_files_decode_in_pieces_exactly():
    from pathlib import Path

    from mmstudio.data.formats._table import decode_text

    data = b"\xef\xbb\xbf" + ("é" * 700_000 + "ü,ok\n").encode() * 2 + b"\xff tail"  # pieces split a char
    assert decode_text(data, Path("m.csv")) == data[3:].decode("utf-8", errors="surrogateescape")
