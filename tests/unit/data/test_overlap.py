"""Counting the evaluated items whose image a run trained on: by content (copies under other names and
in shards count), reading only the images whose size occurs on both sides, and cancellable."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from mmstudio.data import overlap
from mmstudio.data.overlap import shared_images
from mmstudio.data.types import ImageRef, Item
from mmstudio.progress import Cancelled


def item(ref: ImageRef | Path, n: int = 0, split: str = "train") -> Item:
    image = ref if isinstance(ref, ImageRef) else ImageRef(Path(ref))
    return Item(index=n, row=n, source="m.csv", image=image, text=f"t{n}", label="a", split=split)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def files(tmp_path):
    train = [write(tmp_path / "train" / f"{n}.png", bytes([n]) * (100 + n)) for n in range(6)]
    return tmp_path, train


def test_copies_under_other_names_count_and_distinct_images_do_not(files):
    root, train = files
    evaluated = [
        write(root / "other" / "copy-of-0.png", train[0].read_bytes()),  # a copy: shared
        write(root / "other" / "renamed-3.jpg", train[3].read_bytes()),  # renamed copy: shared
        write(root / "other" / "same-size.png", b"\xff" * 101),  # the size of train[1], other bytes
        write(root / "other" / "new.png", b"\x07" * 999),  # a size no training image has
    ]
    found = shared_images([item(p, n) for n, p in enumerate(evaluated)], [item(p) for p in train])
    assert (found.shared, found.items, found.training, found.images) == (2, 4, 6, 2)
    assert found.fraction == pytest.approx(0.5)
    assert found.to_dict()["by"] == "image content"


def test_the_same_file_counts_without_being_read_and_other_sizes_are_never_read(files, monkeypatch):
    root, train = files
    read: list[Path] = []
    digest = overlap._digest
    monkeypatch.setattr(overlap, "_digest", lambda ref: read.append(ref.path) or digest(ref))
    link = root / "link.png"
    os.symlink(train[2], link)
    evaluated = [
        item(train[1], 0),
        item(train[1], 1),
        item(link, 2),
        item(write(root / "x.png", b"z" * 5), 3),
    ]
    found = shared_images(evaluated, [item(p) for p in train])
    # two captions of one training image and a symlink to another: three items, two images
    assert (found.shared, found.images) == (3, 2)
    assert read == []  # nothing had to be read: same files, and a size no training image has


def test_a_shard_member_is_compared_by_its_bytes(files):
    root, train = files
    shard = root / "eval-000.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in (("k1.png", train[4].read_bytes()), ("k2.png", b"q" * 104)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(shard) as tar:
        refs = [ImageRef(shard, m.name, m.offset_data, m.size) for m in tar.getmembers()]
    found = shared_images([item(r, n) for n, r in enumerate(refs)], [item(p) for p in train])
    assert (found.shared, found.images) == (1, 1)


def test_missing_files_are_not_shared(files):
    root, train = files
    found = shared_images([item(root / "gone.png")], [item(p) for p in train] + [item(root / "gone2.png")])
    assert (found.shared, found.items) == (0, 1)


def test_progress_counts_the_images_read_and_cancel_stops_it(files):
    root, train = files
    copies = [write(root / "c" / f"{n}.png", p.read_bytes()) for n, p in enumerate(train)]
    seen: list[tuple[int, int]] = []
    shared_images(
        [item(p, n) for n, p in enumerate(copies)],
        [item(p) for p in train],
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (12, 12)  # six copies and the six training images of their sizes

    stop = threading.Event()

    def progress(done: int, _total: int) -> None:
        if done == 2:
            stop.set()

    with pytest.raises(Cancelled):
        shared_images(
            [item(p, n) for n, p in enumerate(copies)],
            [item(p) for p in train],
            progress=progress,
            cancel=stop,
        )
