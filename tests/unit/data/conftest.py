"""Fixtures that generate small datasets in ``tmp_path``: tiny images (Pillow), manifests, tar shards.

Nothing is checked in: every test builds exactly the files it needs, with the oddities it needs.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

LABELS = ("cat", "dog", "bird")


def image_bytes(fmt: str = "PNG", size=(8, 6), mode: str = "RGB", color=None, **save) -> bytes:
    """A tiny image in ``fmt`` (``PNG``, ``JPEG``, ``GIF``, ``BMP``, ``WEBP``)."""
    if color is None:
        color = {"L": 128, "1": 1, "I;16": 40000, "I": 40000, "LA": (128, 200), "P": 3}.get(
            mode, (200, 30, 30)
        )
        if mode == "RGBA":
            color = (200, 30, 30, 128)
        if mode == "CMYK":
            color = (0, 200, 200, 0)
    img = Image.new(mode, size, color)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def write_image(path: Path, fmt: str = "PNG", size=(8, 6), mode: str = "RGB", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(fmt, size, mode, **save))
    return path


def write_csv(path: Path, header, rows, *, delimiter=",", bom=False, lineterminator="\n") -> Path:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return path


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def caption(i: int) -> str:
    return f"a small picture of thing number {i}"


class Build:
    """What the ``build`` fixture gives a test: ``build.image(path, "JPEG", size=(8, 6), mode="CMYK")``,
    ``build.image_bytes(...)``, ``build.csv(...)``, ``build.jsonl(...)``, ``build.tar(...)``,
    ``build.caption(i)``."""

    image = staticmethod(write_image)
    image_bytes = staticmethod(image_bytes)
    csv = staticmethod(write_csv)
    jsonl = staticmethod(write_jsonl)
    tar = staticmethod(write_tar)
    caption = staticmethod(caption)


@pytest.fixture
def build() -> type[Build]:
    return Build


@pytest.fixture
def manifest_dataset(tmp_path) -> Path:
    """``data.csv`` (image, caption, label) with 12 rows, 4 per label, and its PNGs in ``images/``."""
    root = tmp_path / "manifest_ds"
    rows = []
    for i in range(12):
        write_image(root / "images" / f"{i:03d}.png", size=(8 + i, 6))
        rows.append([f"images/{i:03d}.png", caption(i), LABELS[i % 3]])
    write_csv(root / "data.csv", ["image", "caption", "label"], rows)
    return root


@pytest.fixture
def imagefolder_dataset(tmp_path) -> Path:
    """Hugging Face imagefolder: ``train/`` and ``test/`` with ``metadata.jsonl``, class folders as labels."""
    root = tmp_path / "hf_ds"
    for split, n in (("train", 9), ("test", 3)):
        rows = []
        for i in range(n):
            label = LABELS[i % 3]
            write_image(root / split / label / f"{i}.png")
            rows.append({"file_name": f"{label}/{i}.png", "text": caption(i)})
        write_jsonl(root / split / "metadata.jsonl", rows)
    return root


@pytest.fixture
def sidecar_dataset(tmp_path) -> Path:
    """Class folders of JPEGs with same-stem ``.txt`` captions, 3 per class."""
    root = tmp_path / "sidecar_ds"
    for label in LABELS:
        for i in range(3):
            write_image(root / label / f"{i}.jpg", "JPEG")
            (root / label / f"{i}.txt").write_text(caption(i) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def coco_dataset(tmp_path) -> Path:
    """``annotations/captions_train2017.json`` with 4 images, 2 captions each, images in ``train2017/``."""
    root = tmp_path / "coco_ds"
    images, annotations = [], []
    for i in range(4):
        write_image(root / "train2017" / f"{i:012d}.jpg", "JPEG")
        images.append({"id": 100 + i, "file_name": f"{i:012d}.jpg", "width": 8, "height": 6})
        for k in range(2):
            annotations.append(
                {"id": len(annotations), "image_id": 100 + i, "caption": f"{caption(i)}, take {k}"}
            )
    path = root / "annotations" / "captions_train2017.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"info": {}, "images": images, "annotations": annotations}), encoding="utf-8")
    return root


@pytest.fixture
def webdataset_dataset(tmp_path) -> Path:
    """Two shards of 4 samples each: ``KEY.jpg``, ``KEY.txt``, ``KEY.cls``."""
    root = tmp_path / "wds"
    for s in range(2):
        members = {}
        for i in range(4):
            key = f"sample{s}{i:03d}"
            members[f"{key}.jpg"] = image_bytes("JPEG")
            members[f"{key}.txt"] = caption(i).encode()
            members[f"{key}.cls"] = str(i % 2).encode()
        write_tar(root / f"shard-{s:03d}.tar", members)
    return root


@pytest.fixture
def dataset_of(request) -> Callable[[str], Path]:
    """``dataset_of("coco")``: the small dataset of that format (the fixture ``<format>_dataset``)."""
    return lambda name: request.getfixturevalue(f"{name}_dataset")
