"""Validation: every problem kind on real files, the odd-but-valid images that must load, the thread pool."""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image

from mmstudio.data import headers, images, validate
from mmstudio.data.dataset import LoadOptions, load_dataset
from mmstudio.data.types import ProblemKind
from mmstudio.progress import Cancelled

HEADER = ["image", "caption", "label"]


def load(root: Path, build, rows, *, header=HEADER, **options):
    build.csv(root / "data.csv", header, rows)
    return load_dataset(root / "data.csv", options=LoadOptions(stratify=False, **options))


def only_problem(dataset):
    [problem] = dataset.report.problems
    return problem


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


# --- every problem kind -------------------------------------------------------------------------


def test_a_clean_row_becomes_an_item(tmp_path, build):
    build.image(tmp_path / "a.png", size=(12, 7))
    dataset = load(tmp_path, build, [["a.png", "  a red square \n", "red"]])
    [item] = dataset.items
    assert (item.text, item.label, item.width, item.height, item.row) == ("a red square", "red", 12, 7, 1)
    assert item.image.path == tmp_path / "a.png" and item.source == "data.csv"


def test_malformed_row(tmp_path, build):
    build.image(tmp_path / "a.png")
    (tmp_path / "data.csv").write_text("image,caption\na.png,fine\na.png,too,many,fields\n", encoding="utf-8")
    dataset = load_dataset(tmp_path / "data.csv")
    problem = only_problem(dataset)
    assert (problem.kind, problem.row, problem.skipped, problem.source) == (
        "malformed_row",
        2,
        True,
        "data.csv",
    )
    assert (dataset.report.rows, dataset.report.valid, dataset.report.skipped) == (2, 1, 1)


def test_unknown_split_value_is_a_malformed_row(tmp_path, build):
    build.image(tmp_path / "a.png")
    rows = [["a.png", "one", "Validation"], ["a.png", "two", "holdout"], ["a.png", "three", ""]]
    dataset = load(tmp_path, build, rows, header=["image", "caption", "split"])
    assert [i.split for i in dataset.items] == ["val"]
    assert [(p.kind, p.row) for p in dataset.report.problems] == [("malformed_row", 2), ("malformed_row", 3)]
    assert "'holdout' is not train, val or test" in dataset.report.problems[0].message


def test_missing_image(tmp_path, build):
    problem = only_problem(load(tmp_path, build, [["", "text", "x"]]))
    assert problem.kind == ProblemKind.MISSING_IMAGE and problem.skipped


def test_missing_file_and_url(tmp_path, build):
    dataset = load(
        tmp_path, build, [["img/nope.png", "text", "x"], ["https://example.com/a.png", "text", "x"]]
    )
    missing, url = dataset.report.problems
    assert missing.kind == url.kind == ProblemKind.MISSING_FILE
    assert missing.path == "img/nope.png" and str(tmp_path / "img" / "nope.png") in missing.message
    assert "is a URL" in url.message


def test_paths_outside_the_dataset_are_refused(tmp_path, build):
    root = tmp_path / "ds"
    outside = build.image(tmp_path / "outside.png")
    build.image(root / "inside.png")
    (root / "escape.png").symlink_to(outside)
    (root / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    (root / "alias.png").symlink_to(root / "inside.png")
    rows = [
        ["../outside.png", "dot dot", "x"],
        [str(outside), "absolute outside", "x"],
        ["escape.png", "symlink out", "x"],
        ["linked_dir/outside.png", "linked folder out", "x"],
        [str(root / "inside.png"), "absolute inside", "x"],
        ["alias.png", "symlink inside", "x"],
        ["sub/../inside.png", "dot dot inside", "x"],
    ]
    dataset = load(root, build, rows)
    assert [p.row for p in dataset.report.problems] == [1, 2, 3, 4]
    assert {p.kind for p in dataset.report.problems} == {ProblemKind.PATH_OUTSIDE_DATASET}
    assert "leads outside the dataset folder" in dataset.report.problems[0].message
    assert "symbolic link" in dataset.report.problems[2].message
    assert [i.text for i in dataset.items] == ["absolute inside", "symlink inside", "dot dot inside"]


def test_not_an_image(tmp_path, build):
    (tmp_path / "notes.png").write_text("just some text", encoding="utf-8")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "empty.jpg").write_bytes(b"")
    dataset = load(
        tmp_path, build, [["notes.png", "a", "x"], ["folder.png", "b", "x"], ["empty.jpg", "c", "x"]]
    )
    assert [p.kind for p in dataset.report.problems] == [ProblemKind.NOT_AN_IMAGE] * 3
    assert "replace it" in dataset.report.problems[0].message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_corrupt_image_is_found_by_the_full_decode_only(tmp_path, build, fmt):
    noise = Image.effect_noise((64, 64), 80).convert("RGB")
    path = tmp_path / f"cut.{fmt.lower()}"
    noise.save(path, fmt)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    rows = [[path.name, "half an image", "x"]]
    problem = only_problem(load(tmp_path, build, rows, check_images="full"))
    assert problem.kind == ProblemKind.CORRUPT_IMAGE and "truncated" in problem.message
    assert load(tmp_path, build, rows, check_images="header").report.valid == 1


def test_decompression_bomb_is_refused_without_decoding(tmp_path, build, monkeypatch):
    (tmp_path / "bomb.png").write_bytes(png_header_only(40_000, 40_000))
    build.image(tmp_path / "small.webp", "WEBP", size=(10, 10))  # sized by Pillow, not the fast path
    build.image(tmp_path / "small.png", size=(10, 10))
    decoded = []
    monkeypatch.setattr(images, "decode_rgb", lambda src, *a, **k: decoded.append(src))
    dataset = load(tmp_path, build, [["bomb.png", "huge", "x"]])
    problem = only_problem(dataset)
    assert problem.kind == ProblemKind.DECOMPRESSION_BOMB and "1,600,000,000 pixels" in problem.message
    assert decoded == []
    dataset = load(tmp_path, build, [["small.webp", "a", "x"], ["small.png", "b", "x"]], max_pixels=99)
    assert [p.kind for p in dataset.report.problems] == [ProblemKind.DECOMPRESSION_BOMB] * 2
    assert decoded == []


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text(tmp_path, build, text):
    build.image(tmp_path / "a.png")
    problem = only_problem(load(tmp_path, build, [["a.png", text, "x"]]))
    assert problem.kind == ProblemKind.EMPTY_TEXT and problem.skipped and problem.path == "a.png"


def test_invalid_utf8(tmp_path, build):
    build.image(tmp_path / "a.png")
    (tmp_path / "data.csv").write_bytes(b"image,caption\na.png,\x93smart quotes\x94\n")
    problem = only_problem(load_dataset(tmp_path / "data.csv"))
    assert (
        problem.kind == ProblemKind.INVALID_UTF8 and "0x93" in problem.message and "UTF-8" in problem.message
    )


def test_text_truncated_is_a_warning(tmp_path, build):
    build.image(tmp_path / "a.png")
    dataset = load(tmp_path, build, [["a.png", "word " * 100, "x"]], max_text_chars=50)
    problem = only_problem(dataset)
    assert problem.kind == ProblemKind.TEXT_TRUNCATED and problem.skipped is False
    assert "499 characters" in problem.message and "max_text_chars" in problem.message
    assert dataset.report.valid == 1 and len(dataset.items[0].text) == 50


def test_missing_label(tmp_path, build):
    build.image(tmp_path / "a.png")
    dataset = load(tmp_path, build, [["a.png", "labelled", "x"], ["a.png", "unlabelled", "  "]])
    problem = only_problem(dataset)
    assert (problem.kind, problem.row, problem.skipped) == (ProblemKind.MISSING_LABEL, 2, True)
    assert "the label ('label') is empty" in problem.message


def test_rare_label_is_kept_in_train(tmp_path, build):
    build.image(tmp_path / "a.png")
    rows = [["a.png", f"common {i}", "common"] for i in range(10)] + [["a.png", "rare one", "rare"]]
    build.csv(tmp_path / "data.csv", HEADER, rows)
    dataset = load_dataset(tmp_path / "data.csv")
    problem = only_problem(dataset)
    assert (problem.kind, problem.row, problem.skipped) == (ProblemKind.RARE_LABEL, 11, False)
    assert "only 1 example" in problem.message and "kept in train only" in problem.message
    assert dataset.report.valid == 11 and [i.split for i in dataset.items if i.label == "rare"] == ["train"]


def test_a_row_reports_each_of_its_problems(tmp_path, build):
    dataset = load(tmp_path, build, [["missing.png", " ", ""]])
    assert sorted(p.kind for p in dataset.report.problems) == ["empty_text", "missing_file", "missing_label"]
    assert dataset.report.skipped == 1


# --- odd but valid images -----------------------------------------------------------------------


def exif_rotated_jpeg(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.new("RGB", (12, 7), (10, 200, 10)).save(path, "JPEG", exif=exif.tobytes())
    return path


def exif_rotated_png(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (12, 7)).save(path, "PNG", exif=exif.tobytes())
    return path


ODD_IMAGES = {
    "grayscale.png": (lambda p, build: build.image(p, mode="L"), (8, 6)),
    "palette.png": (lambda p, build: build.image(p, mode="P"), (8, 6)),
    "palette_alpha.png": (lambda p, build: build.image(p, mode="P", transparency=0), (8, 6)),
    "palette.gif": (lambda p, build: build.image(p, "GIF", mode="P"), (8, 6)),
    "cmyk.jpg": (lambda p, build: build.image(p, "JPEG", mode="CMYK"), (8, 6)),
    "16bit.png": (lambda p, build: build.image(p, mode="I;16"), (8, 6)),
    "rgba.png": (lambda p, build: build.image(p, mode="RGBA"), (8, 6)),
    "gray_alpha.png": (lambda p, build: build.image(p, mode="LA"), (8, 6)),
    "bilevel.png": (lambda p, build: build.image(p, mode="1"), (8, 6)),
    "rotated.jpg": (lambda p, build: exif_rotated_jpeg(p), (7, 12)),
    "rotated.png": (lambda p, build: exif_rotated_png(p), (7, 12)),
    "jpeg_named.png": (lambda p, build: build.image(p, "JPEG"), (8, 6)),
    "image.bmp": (lambda p, build: build.image(p, "BMP"), (8, 6)),
    "image.webp": (lambda p, build: build.image(p, "WEBP"), (8, 6)),
    "progressive.jpg": (lambda p, build: build.image(p, "JPEG", progressive=True), (8, 6)),
    "image.tiff": (lambda p, build: build.image(p, "TIFF"), (8, 6)),
}


@pytest.mark.parametrize("name", ODD_IMAGES)
def test_odd_but_valid_images_load(tmp_path, build, name):
    make, size = ODD_IMAGES[name]
    make(tmp_path / name, build)
    dataset = load(tmp_path, build, [[name, "an odd one", "x"]], check_images="full")
    assert dataset.report.problems == []
    assert (dataset.items[0].width, dataset.items[0].height) == size  # the displayed size
    assert images.decode_rgb(tmp_path / name).shape == (size[1], size[0], 3)


#: The formats headers.image_size reads itself; any other is left to Pillow (it answers None).
FAST_FORMATS = ("PNG", "JPEG", "GIF", "BMP")


@pytest.mark.parametrize("name", ODD_IMAGES)
def test_fast_header_sizes_agree_with_pillow(tmp_path, build, name):
    """The fast path answers for every file of the formats it reads, as Pillow would (a reader that
    gave up on them all would pass a check that only compares the answers it gives), and leaves the
    other formats to Pillow."""
    make, _ = ODD_IMAGES[name]
    path = make(tmp_path / name, build)
    fast = headers.image_size(path)
    info = images.probe_image(path)
    if info.format in FAST_FORMATS:
        assert fast == (info.width, info.height)
    else:
        assert fast is None
    assert headers.image_size(path.read_bytes()) == fast


def test_the_fast_header_check_fails_on_a_reader_that_gives_up(tmp_path, build, monkeypatch):
    monkeypatch.setattr(headers, "image_size", lambda source: None)
    with pytest.raises(AssertionError):
        test_fast_header_sizes_agree_with_pillow(tmp_path, build, "grayscale.png")


def test_fast_header_gives_up_on_damage(tmp_path):
    assert headers.image_size(b"\xff\xd8\xff") is None
    assert headers.image_size(b"\x89PNG\r\n\x1a\n" + b"\0" * 30) is None
    assert headers.image_size(b"GIF89a\0\0\0\0") is None
    assert headers.image_size(tmp_path / "missing.png") is None


# --- images in shards, pool, progress, cancel ---------------------------------------------------


def test_corrupt_and_missing_members_of_a_shard(tmp_path, build):
    noise = Image.effect_noise((64, 64), 80).convert("RGB")
    path = tmp_path / "n.png"
    noise.save(path)
    members = {
        "good.png": build.image_bytes(),
        "good.txt": b"good",
        "cut.png": path.read_bytes()[:300],
        "cut.txt": b"cut",
        "text.png": b"not an image",
        "text.txt": b"text",
    }
    shard = build.tar(tmp_path / "s.tar", members)
    dataset = load_dataset(shard, options=LoadOptions(check_images="full"))
    assert [i.image.member for i in dataset.items] == ["good.png"]
    assert [(p.path, p.kind) for p in dataset.report.problems] == [
        ("cut.png", "corrupt_image"),
        ("text.png", "not_an_image"),
    ]


def test_each_image_is_checked_once(tmp_path, build, monkeypatch):
    build.image(tmp_path / "a.png")
    calls = []
    real = validate.check_image
    monkeypatch.setattr(validate, "check_image", lambda src, *a: calls.append(src) or real(src, *a))
    dataset = load(tmp_path, build, [["a.png", f"caption {i}", "x"] for i in range(5)])
    assert dataset.report.valid == 5 and calls == [tmp_path / "a.png"]


def many_images(root: Path, build, n: int) -> Path:
    data = build.image_bytes()
    (root / "img").mkdir(parents=True)
    for i in range(n):
        (root / "img" / f"{i}.png").write_bytes(data)
    return build.csv(root / "data.csv", HEADER, [[f"img/{i}.png", f"caption {i}", "x"] for i in range(n)])


def test_progress_is_throttled_and_ends_at_the_total(tmp_path, build):
    path = many_images(tmp_path, build, 1000)
    calls = []
    load_dataset(path, options=LoadOptions(check_images="header"), progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 1000) and calls[-1] == (1000, 1000)
    assert 2 <= len(calls) <= 102
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_cancel(tmp_path, build):
    path = many_images(tmp_path, build, 300)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        load_dataset(path, cancel=cancel)
    cancel.clear()

    def progress(done, total):
        cancel.set()  # as a GUI's Cancel button would, while images are being checked

    with pytest.raises(Cancelled):
        load_dataset(path, progress=progress, cancel=cancel)


def test_full_check_uses_the_thread_pool(tmp_path, build, monkeypatch):
    path = many_images(tmp_path, build, 200)
    threads = set()
    real = images.decode_rgb

    def spy(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "decode_rgb", spy)
    dataset = load_dataset(path, options=LoadOptions(check_images="full", workers=4))
    assert dataset.report.valid == 200
    assert threads and all(name.startswith("mmstudio-validate") for name in threads)


def test_path_resolver_keeps_paths_inside_the_root(tmp_path):
    resolver = validate.PathResolver(tmp_path)
    assert resolver.resolve("a/b.png").path == tmp_path / "a" / "b.png"
    kind, _ = resolver.resolve("a/../../b.png")
    assert kind == ProblemKind.PATH_OUTSIDE_DATASET
    if os.sep == "/":
        assert resolver.resolve("a\\b.png").path == tmp_path / "a" / "b.png"  # Windows-written paths


def test_ctrl_c_drops_the_image_checks_not_started(tmp_path, monkeypatch):
    """Issue 13 C: Ctrl-C during the image checks returns after the chunks already running, without
    running the queued ones first (before: every queued chunk was checked before the interrupt)."""
    import time

    from mmstudio.data import validate
    from mmstudio.data.types import ImageRef

    calls = []

    def slow_check(source, mode, max_pixels):
        calls.append(source)
        time.sleep(0.01)
        return (8, 6)

    class Interrupt:
        asked = 0

        def is_set(self):
            self.asked += 1
            if self.asked == 5:  # four chunks submitted: two running, two queued
                raise KeyboardInterrupt
            return False

    monkeypatch.setattr(validate, "check_image", slow_check)
    refs = [ImageRef(tmp_path / f"{i}.png") for i in range(32 * 8)]
    with pytest.raises(KeyboardInterrupt):
        validate.check_image_refs(refs, mode="full", workers=2, cancel=Interrupt())
    assert len(calls) < 32 * 4
