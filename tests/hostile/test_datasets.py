"""Issue 13: hostile and damaged dataset inputs, each through the real ``mmstudio data check``.

Every input is made here by the test itself (nothing binary is committed): special files (FIFOs,
devices), links that lead out of the dataset, archives with huge members, JSON nested thousands deep,
numbers of thousands of digits, wrong JSON types, NUL bytes, control characters, unclosed quotes and
file names that are not UTF-8. Each case gives the exit code, a fragment of the message it must give,
and never a traceback. A Hypothesis pass over manifest text looks for the crashes no list foresees.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmstudio.cli import main
from mmstudio.data import LoadOptions, load_dataset
from mmstudio.data.types import DatasetFormatError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, devices and byte file names")


def png(size=(8, 6), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def csv_text(rows: list[list[str]], header=("image", "text", "label")) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def manifest(root: Path, n: int = 6, *, extra: list[list[str]] | None = None, name: str = "data.csv") -> Path:
    """A CSV manifest of ``n`` good rows (two labels) and their images, then the ``extra`` rows."""
    rows = []
    for i in range(n):
        write(root / "images" / f"{i}.png", png())
        rows.append([f"images/{i}.png", f"a picture number {i}", "ab"[i % 2]])
    return write(root / name, csv_text(rows + (extra or [])))


def sidecar(root: Path, n: int = 4) -> Path:
    for i in range(n):
        label = "ab"[i % 2]
        write(root / label / f"{i}.png", png())
        write(root / label / f"{i}.txt", f"a caption number {i}\n")
    return root


def coco(root: Path, images: list, annotations: list) -> Path:
    for image in images:
        name = image.get("file_name") if isinstance(image, dict) else None
        if isinstance(name, str) and name and "\x00" not in name:
            write(root / "images" / name, png())
    path = root / "captions.json"
    write(path, json.dumps({"images": images, "annotations": annotations}))
    return path


def coco_images(n: int) -> tuple[list, list]:
    images = [{"id": i, "file_name": f"{i}.png"} for i in range(n)]
    annotations = [{"id": i, "image_id": i, "caption": f"a caption of image {i}"} for i in range(n)]
    return images, annotations


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def samples(n: int, start: int = 0) -> dict[str, bytes]:
    out = {}
    for i in range(start, start + n):
        out[f"s{i:04d}.png"] = png()
        out[f"s{i:04d}.txt"] = f"a caption number {i}".encode()
    return out


@dataclass
class Case:
    """One hostile input: ``make(tmp_path)`` builds it and returns the ``data check`` arguments."""

    make: Callable[[Path], list[str]]
    code: int
    fragment: str
    posix: bool = False


# --- C: special files, size limits ---------------------------------------------------------------


def fifo_image(tmp: Path) -> list[str]:
    root = tmp / "ds"
    manifest(root, extra=[["images/pipe.png", "an image that is a pipe", "a"]])
    os.mkfifo(root / "images" / "pipe.png")
    return [str(root)]


def fifo_caption(tmp: Path) -> list[str]:
    root = sidecar(tmp / "ds")
    write(root / "a" / "pipe.png", png())
    os.mkfifo(root / "a" / "pipe.txt")
    return [str(root)]


def fifo_json_beside_manifest(tmp: Path) -> list[str]:
    root = tmp / "ds"
    manifest(root)
    os.mkfifo(root / "x.json")
    return [str(root)]


def caption_is_dev_zero(tmp: Path) -> list[str]:
    root = sidecar(tmp / "ds")
    write(root / "a" / "zero.png", png())
    os.symlink("/dev/zero", root / "a" / "zero.txt")
    return [str(root), "--format", "sidecar"]


def fifo_shard(tmp: Path) -> list[str]:
    root = tmp / "ds"
    write(root / "good.tar", tar_bytes(samples(4)))
    os.mkfifo(root / "pipe.tar")
    return [str(root)]


def fifo_metadata(tmp: Path) -> list[str]:
    root = tmp / "ds"
    root.mkdir()
    os.mkfifo(root / "metadata.csv")
    return [str(root / "metadata.csv"), "--format", "imagefolder"]


def huge_member_tgz(tmp: Path) -> list[str]:
    # 64 MiB of zeros compress to ~64 KiB; the limit is lowered for the test (see the fixture)
    members = {**samples(3), "big.png": bytes(64 << 20), "big.txt": b"a huge member"}
    write(tmp / "shard.tar.gz", tar_bytes(members, "w:gz"))
    return [str(tmp / "shard.tar.gz")]


# --- D: containment --------------------------------------------------------------------------------


def caption_links_outside(tmp: Path) -> list[str]:
    root = sidecar(tmp / "ds")
    write(tmp / "secret.txt", "the secret words of another file")
    write(root / "a" / "leak.png", png())
    os.symlink(tmp / "secret.txt", root / "a" / "leak.txt")
    return [str(root), "--json"]


def metadata_links_outside(tmp: Path) -> list[str]:
    root = tmp / "ds"
    write(root / "0.png", png())
    write(tmp / "elsewhere" / "metadata.csv", "file_name,text\n0.png,a caption\n")
    os.symlink(tmp / "elsewhere" / "metadata.csv", root / "metadata.csv")
    return [str(root)]


def manifest_in_folder_links_outside(tmp: Path) -> list[str]:
    root = tmp / "ds"
    manifest(tmp / "elsewhere")
    root.mkdir()
    os.symlink(tmp / "elsewhere" / "data.csv", root / "data.csv")
    return [str(root), "--format", "manifest"]


def shard_links_outside(tmp: Path) -> list[str]:
    root = tmp / "ds"
    root.mkdir()
    write(tmp / "elsewhere.tar", tar_bytes(samples(3)))
    os.symlink(tmp / "elsewhere.tar", root / "shard.tar")
    return [str(root)]


def coco_in_folder_links_outside(tmp: Path) -> list[str]:
    root = tmp / "ds"
    coco(tmp / "elsewhere", *coco_images(3))
    (root / "annotations").mkdir(parents=True)
    os.symlink(tmp / "elsewhere" / "captions.json", root / "annotations" / "captions_train.json")
    return [str(root), "--format", "coco"]


def named_manifest_link_is_read(tmp: Path) -> list[str]:
    root = tmp / "ds"
    manifest(root, name="kept-elsewhere.csv")
    (tmp / "elsewhere").mkdir()
    (root / "kept-elsewhere.csv").rename(tmp / "elsewhere" / "data.csv")
    os.symlink(tmp / "elsewhere" / "data.csv", root / "data.csv")  # the user names the link: it is read
    return [str(root / "data.csv")]


# --- F: COCO duplicate ids -------------------------------------------------------------------------


def coco_duplicate_ids(tmp: Path) -> list[str]:
    images, annotations = coco_images(4)
    images.append({"id": 2, "file_name": "other.png"})
    return [str(coco(tmp / "ds", images, annotations))]


# --- J: unclosed quotes ----------------------------------------------------------------------------


def unclosed_quote_in_text(tmp: Path) -> list[str]:
    root = tmp / "ds"
    path = manifest(root, 40)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("a picture", '"a picture')
    path.write_text("\n".join(lines) + "\n")
    return [str(path)]


def unclosed_quote_in_last_column(tmp: Path) -> list[str]:
    root = tmp / "ds"
    path = manifest(root, 40)
    lines = path.read_text().splitlines()
    lines[5] = lines[5][:-1] + '"' + lines[5][-1]
    path.write_text("\n".join(lines) + "\n")
    return [str(path)]


# --- tracebacks ------------------------------------------------------------------------------------


def deep_json_manifest(tmp: Path) -> list[str]:
    return [str(write(tmp / "data.json", "[" * 100_000 + "]" * 100_000))]


def deep_jsonl_line(tmp: Path) -> list[str]:
    root = tmp / "ds"
    rows = [json.dumps({"image": f"{i}.png", "text": f"caption {i}"}) for i in range(4)]
    for i in range(4):
        write(root / f"{i}.png", png())
    rows.append('{"image": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return [str(write(root / "data.jsonl", "\n".join(rows) + "\n"))]


def long_integer_json(tmp: Path) -> list[str]:
    doc = '[{"image": "0.png", "text": "a caption", "label": ' + "7" * 5000 + "}]"
    return [str(write(tmp / "data.json", doc))]


def long_integer_jsonl(tmp: Path) -> list[str]:
    root = tmp / "ds"
    rows = [json.dumps({"image": f"{i}.png", "text": f"caption {i}"}) for i in range(4)]
    for i in range(4):
        write(root / f"{i}.png", png())
    rows.append('{"image": "x.png", "text": "t", "n": ' + "7" * 5000 + "}")
    return [str(write(root / "data.jsonl", "\n".join(rows) + "\n"))]


def deep_coco(tmp: Path) -> list[str]:
    doc = '{"images": [], "annotations": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    return [str(write(tmp / "captions.json", doc)), "--format", "coco"]


def nul_in_image_path(tmp: Path) -> list[str]:
    root = tmp / "ds"
    return [str(manifest(root, extra=[["images/0.png\x00.jpg", "a caption", "a"]]))]


def nul_in_argument(tmp: Path) -> list[str]:
    return [str(tmp / "data\x00.csv")]


def coco_file_name_is_object(tmp: Path) -> list[str]:
    images, annotations = coco_images(3)
    images[1]["file_name"] = {"path": "1.png"}
    return [str(coco(tmp / "ds", images, annotations))]


def coco_id_is_list(tmp: Path) -> list[str]:
    images, annotations = coco_images(3)
    images[1]["id"] = [1]
    return [str(coco(tmp / "ds", images, annotations))]


def coco_image_id_is_list(tmp: Path) -> list[str]:
    images, annotations = coco_images(3)
    annotations[1]["image_id"] = [1]
    return [str(coco(tmp / "ds", images, annotations))]


def coco_images_not_objects(tmp: Path) -> list[str]:
    images, annotations = coco_images(3)
    return [str(coco(tmp / "ds", [*images, 5, "x", None], annotations))]


def non_utf8_file_name_json(tmp: Path) -> list[str]:
    root = sidecar(tmp / "ds")
    folder = os.fsencode(root / "a")
    with open(os.path.join(folder, b"caf\xe9.png"), "wb") as f:
        f.write(b"not an image")
    with open(os.path.join(folder, b"caf\xe9.txt"), "wb") as f:
        f.write(b"a caption")
    return [str(root), "--json"]


def non_utf8_file_name_text(tmp: Path) -> list[str]:
    return non_utf8_file_name_json(tmp)[:1]


def control_characters(tmp: Path) -> list[str]:
    root = tmp / "ds"
    return [
        str(manifest(root, extra=[["images/0.png", "a\x00 caption\x07 with \x1bcontrols", "a"]])),
        "--json",
    ]


# --- already held (kept in the corpus so they stay held) ------------------------------------------


def truncated_tgz(tmp: Path) -> list[str]:
    data = tar_bytes(samples(6), "w:gz")
    return [str(write(tmp / "shard.tar.gz", data[: len(data) // 2]))]


def garbage_csv(tmp: Path) -> list[str]:
    return [str(write(tmp / "data.csv", bytes(range(256)) * 40))]


def empty_csv(tmp: Path) -> list[str]:
    return [str(write(tmp / "data.csv", b""))]


def image_path_escapes(tmp: Path) -> list[str]:
    root = tmp / "ds"
    write(tmp / "outside.png", png())
    return [str(manifest(root, extra=[["../outside.png", "a caption", "a"]]))]


def shard_json_nested(tmp: Path) -> list[str]:
    members = {**samples(3), "s0009.png": png(), "s0009.json": b"[" * 100_000 + b"]" * 100_000}
    return [str(write(tmp / "shard.tar", tar_bytes(members)))]


def utf16_json_broken(tmp: Path) -> list[str]:
    return [str(write(tmp / "data.json", b"\xff\xfe[\x00{"))]


def fifo_named(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "data.csv")
    return [str(tmp / "data.csv")]


def fifo_manifest_in_folder(tmp: Path) -> list[str]:
    root = tmp / "ds"
    write(root / "0.png", png())
    root.mkdir(exist_ok=True)
    os.mkfifo(root / "data.csv")
    return [str(root)]


def unclosed_quote_tsv(tmp: Path) -> list[str]:
    root = tmp / "ds"
    rows = []
    for i in range(20):
        write(root / f"{i}.png", png())
        quote = '"' if i == 3 else ""
        rows.append(f"{i}.png\t{quote}caption {i}\t{'ab'[i % 2]}")
    return [str(write(root / "data.tsv", "image\ttext\tlabel\n" + "\n".join(rows) + "\n"))]


def deep_metadata_jsonl(tmp: Path) -> list[str]:
    root = tmp / "ds"
    rows = [json.dumps({"file_name": f"{i}.png", "text": f"caption {i}"}) for i in range(3)]
    for i in range(3):
        write(root / f"{i}.png", png())
    rows.append('{"file_name": "x.png", "text": ' + "[" * 50_000 + "]" * 50_000 + "}")
    write(root / "metadata.jsonl", "\n".join(rows) + "\n")
    return [str(root)]


def folder_as_image(tmp: Path) -> list[str]:
    root = tmp / "ds"
    (root / "images" / "dir.png").mkdir(parents=True)
    return [str(manifest(root, extra=[["images/dir.png", "a folder named like an image", "a"]]))]


def garbage_parquet(tmp: Path) -> list[str]:
    return [str(write(tmp / "data.parquet", b"PAR1 not really parquet PAR1"))]


def huge_caption(tmp: Path) -> list[str]:
    root = sidecar(tmp / "ds")
    write(root / "a" / "long.png", png())
    write(root / "a" / "long.txt", "word " * (700 << 10))  # 3.5 MB: only the first MiB is read
    return [str(root), "--json"]


def coco_without_annotations(tmp: Path) -> list[str]:
    return [
        str(write(tmp / "captions.json", json.dumps({"images": [{"id": 1, "file_name": "1.png"}]}))),
        "--format",
        "coco",
    ]


def image_link_outside(tmp: Path) -> list[str]:
    root = tmp / "ds"
    write(tmp / "outside.png", png())
    path = manifest(root, extra=[["images/link.png", "a link out", "a"]])
    os.symlink(tmp / "outside.png", root / "images" / "link.png")
    return [str(path)]


CASES: dict[str, Case] = {
    "C-fifo-named": Case(fifo_named, 2, "data.csv is a named pipe (FIFO), not a dataset file", posix=True),
    "C-fifo-manifest-in-folder": Case(fifo_manifest_in_folder, 2, "named pipe", posix=True),
    "J-unclosed-quote-tsv": Case(unclosed_quote_tsv, 0, "a quote opened on line 5 is not closed"),
    "T-deep-metadata-jsonl": Case(deep_metadata_jsonl, 0, "nested too deeply"),
    "held-folder-as-image": Case(folder_as_image, 0, "is a folder"),
    "held-garbage-parquet": Case(garbage_parquet, 2, "cannot read the Parquet file"),
    "held-huge-caption": Case(huge_caption, 0, '"text_truncated"'),
    "held-coco-without-annotations": Case(coco_without_annotations, 2, "no annotations[] list"),
    "held-image-link-outside": Case(image_link_outside, 0, "points outside the dataset folder", posix=True),
    "C-fifo-image": Case(fifo_image, 0, "named pipe", posix=True),
    "C-fifo-caption": Case(fifo_caption, 0, "named pipe", posix=True),
    "C-fifo-json-beside-manifest": Case(fifo_json_beside_manifest, 0, "6 usable pairs", posix=True),
    "C-caption-dev-zero": Case(
        caption_is_dev_zero, 0, "outside the dataset folder, to /dev/zero", posix=True
    ),
    "C-fifo-shard": Case(fifo_shard, 0, "named pipe", posix=True),
    "C-fifo-metadata": Case(fifo_metadata, 2, "metadata.csv is a named pipe (FIFO)", posix=True),
    "C-huge-member-tgz": Case(huge_member_tgz, 0, "over the limit", posix=False),
    "D-caption-link-outside": Case(caption_links_outside, 0, "points outside the dataset folder", posix=True),
    "D-metadata-link-outside": Case(
        metadata_links_outside, 2, "points outside the dataset folder", posix=True
    ),
    "D-manifest-link-outside": Case(
        manifest_in_folder_links_outside, 2, "points outside the dataset folder", posix=True
    ),
    "D-shard-link-outside": Case(shard_links_outside, 2, "points outside the dataset folder", posix=True),
    "D-coco-link-outside": Case(
        coco_in_folder_links_outside, 2, "points outside the dataset folder", posix=True
    ),
    "held-named-link-read": Case(named_manifest_link_is_read, 0, "6 usable pairs", posix=True),
    "F-coco-duplicate-ids": Case(
        coco_duplicate_ids, 0, "image id 2 is given to two images, 2.png and other.png"
    ),
    "J-unclosed-quote-text": Case(unclosed_quote_in_text, 0, "a quote opened on line 6 is not closed"),
    "J-unclosed-quote-last-column": Case(
        unclosed_quote_in_last_column, 0, "took 36 lines (to the end of the"
    ),
    "T-deep-json": Case(deep_json_manifest, 2, "nested too deeply"),
    "T-deep-jsonl-line": Case(deep_jsonl_line, 0, "nested too deeply"),
    "T-long-integer-json": Case(long_integer_json, 2, "more than 4,300 digits"),
    "T-long-integer-jsonl": Case(long_integer_jsonl, 0, "more than 4,300 digits"),
    "T-deep-coco": Case(deep_coco, 2, "nested too deeply"),
    "T-nul-in-image-path": Case(nul_in_image_path, 0, "NUL byte"),
    "held-nul-in-argument": Case(nul_in_argument, 2, "does not exist"),
    "T-coco-file-name-object": Case(coco_file_name_is_object, 0, "has a file_name that is an object"),
    "T-coco-id-list": Case(coco_id_is_list, 0, "has an id that is a list"),
    "T-coco-image-id-list": Case(coco_image_id_is_list, 0, "has an image_id that is a list"),
    "held-coco-images-not-objects": Case(coco_images_not_objects, 0, "3 usable pairs"),
    "T-non-utf8-name-json": Case(non_utf8_file_name_json, 0, "caf\\udce9.png", posix=True),
    "T-non-utf8-name-text": Case(non_utf8_file_name_text, 0, "caf\\udce9.png", posix=True),
    "ctrl-characters": Case(control_characters, 0, '"control_characters"'),
    "held-truncated-tgz": Case(truncated_tgz, 2, "cannot be read to the end"),
    "held-garbage-csv": Case(garbage_csv, 2, "error:"),
    "held-empty-csv": Case(empty_csv, 2, "is empty"),
    "held-image-path-escapes": Case(image_path_escapes, 0, "leads outside the dataset folder"),
    "held-shard-json-nested": Case(shard_json_nested, 0, "is not JSON"),
    "held-utf16-broken": Case(utf16_json_broken, 2, "not valid UTF-16"),
}


@pytest.fixture
def small_member_limit(monkeypatch):
    """The image-member limit lowered to 16 MiB, so a test needs no 1 GiB member to pass it."""
    import mmstudio.data.validate as validate

    monkeypatch.setattr(validate, "MAX_MEMBER_BYTES", 16 << 20, raising=False)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_dataset(name, tmp_path, capsys, monkeypatch, small_member_limit):
    """Issue 13 C, D, F, J, tracebacks: each hostile input gives its exit code and one clear message,
    never a traceback (and never hangs: a FIFO or a device is not read)."""
    case = CASES[name]
    if case.posix and sys.platform == "win32":
        pytest.skip("FIFOs, devices, links and byte file names")
    monkeypatch.chdir(tmp_path)
    args = case.make(tmp_path)
    code = main(["data", "check", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == case.code, out + err
    assert case.fragment in out + err, out + err
    if "--json" in args:
        json.loads(out)  # the document is whole and valid JSON


def problems_of(out: str) -> list[dict]:
    return json.loads(out)["problems"]


@posix_only
def test_caption_outside_is_not_read(tmp_path, capsys):
    """Issue 13 D: a caption linked to a file outside the dataset is refused: its words are in no item."""
    args = caption_links_outside(tmp_path)
    dataset = load_dataset(args[0], options=LoadOptions(check_images="header"))
    assert all("secret" not in item.text for item in dataset.items)
    outside = [p for p in dataset.report.problems if p.kind == "path_outside_dataset"]
    assert len(outside) == 1 and outside[0].path == "a/leak.png"


def test_coco_duplicate_ids_pair_no_caption(tmp_path):
    """Issue 13 F: the captions of an id two images share are paired with neither, and said so."""
    args = coco_duplicate_ids(tmp_path)
    dataset = load_dataset(args[0], options=LoadOptions(check_images="header"))
    assert sorted(i.group for i in dataset.items) == ["0", "1", "3"]
    messages = [p.message for p in dataset.report.problems]
    assert any("2.png and other.png" in m for m in messages)
    assert any("annotation 3 refers to image_id 2, which cannot be used" in m for m in messages)


def test_unclosed_quote_loses_only_its_row(tmp_path, capsys):
    """Issue 13 J: the rows after an unclosed quote are read; the report says where it opened."""
    for make in (unclosed_quote_in_text, unclosed_quote_in_last_column):
        args = make(tmp_path / make.__name__)
        assert main(["data", "check", *args, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["rows"] == 40 and doc["valid"] == 39
        (problem,) = doc["problems"]
        assert problem["row"] == 5 and "opened on line 6" in problem["message"]


def test_control_characters_are_removed_and_reported(tmp_path, capsys):
    """Issue 13 control characters: the row is kept with them removed, a problem of its own kind."""
    args = control_characters(tmp_path)
    assert main(["data", "check", *args]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] == 7
    (problem,) = doc["problems"]
    assert problem["kind"] == "control_characters" and problem["skipped"] is False
    assert "3 control characters" in problem["message"] and "U+0000" in problem["message"]
    dataset = load_dataset(args[0], options=LoadOptions(check_images="header"))
    assert any(i.text == "a caption with controls" for i in dataset.items)


# --- Hypothesis: manifest text never crashes the load -----------------------------------------------

_CELLS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(
    ['"', '""', "\x00", "\r", "\n", ",", ";", "\t", "images/0.png", "../x.png", "/etc/passwd", "9" * 5000]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(_CELLS, min_size=0, max_size=4),
    rows=st.lists(st.lists(_CELLS, max_size=5), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_any_csv_text_loads_or_says_why(tmp_path_factory, header, rows, delimiter):
    """Issue 13 tracebacks: any CSV text gives a report or a DatasetFormatError, nothing else."""
    root = tmp_path_factory.mktemp("csv")
    write(root / "images" / "0.png", png())
    text = "\n".join(delimiter.join(r) for r in [header, *rows])
    write(root / "data.csv", text.encode("utf-8", "surrogatepass"))
    _load_or_format_error(root / "data.csv")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["image", "text", "label", "x"]), inner)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_JSON, max_size=6), tail=st.sampled_from(["", "{", "[" * 3000, "1" * 5000, "\x00"]))
def test_any_jsonl_text_loads_or_says_why(tmp_path_factory, lines, tail):
    """Issue 13 tracebacks: any JSON Lines text gives a report or a DatasetFormatError, nothing else."""
    root = tmp_path_factory.mktemp("jsonl")
    write(root / "images" / "0.png", png())
    write(root / "data.jsonl", "\n".join([*(json.dumps(x) for x in lines), tail]))
    _load_or_format_error(root / "data.jsonl")
    write(root / "data.json", json.dumps(lines) if not tail else json.dumps(lines)[:-1] + tail)
    _load_or_format_error(root / "data.json")


def _load_or_format_error(path: Path) -> None:
    try:
        load_dataset(path, options=LoadOptions(check_images="header", workers=1))
    except DatasetFormatError:
        pass
