"""What the dataset layer shares: the :class:`Detection` a reader is given, file-name rules and helpers."""

from __future__ import annotations

import heapq
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet")
TAR_SUFFIXES = (".tar", ".tgz", ".tar.gz")
IMAGEFOLDER_METADATA = ("metadata.jsonl", "metadata.csv")
JSON_LIST_KEYS = ("data", "rows", "items", "records", "examples")

# Column "names" for roles a layout plays rather than a column (what the GUI shows and may pass back).
CLASS_FOLDER = "(class folder)"
SPLIT_FOLDER = "(split folder)"
SPLIT_FILE_NAME = "(file name)"

# Every spelling of a split name a dataset may use, and the name mmstudio uses for it.
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "eval": "val",
    "test": "test",
    "testing": "test",
}
_SPLIT_TOKEN = re.compile(r"(?<![a-z])(train|training|validation|valid|val|dev|eval|test|testing)(?![a-z])")


@dataclass(frozen=True)
class Detection:
    """How a path was understood: the format, why, the dataset folder and the files to read.

    ``paths`` are the index files of the dataset: manifests, metadata files, COCO annotation files or
    tar shards (empty for ``sidecar``, whose files are the images and captions themselves).
    """

    format: str
    reason: str
    root: Path
    paths: list[Path] = field(default_factory=list)


def normalize_split(value: object) -> str | None:
    """``"Validation"`` → ``"val"``; ``None`` when the value is not a split name."""
    if value is None:
        return None
    return SPLIT_ALIASES.get(str(value).strip().lower())


def split_from_name(name: str) -> str | None:
    """The split a file or folder name mentions (``captions_train2017`` → ``train``), if exactly one."""
    found = {SPLIT_ALIASES[m] for m in _SPLIT_TOKEN.findall(name.lower())}
    return found.pop() if len(found) == 1 else None


def splits_from_names(paths: list[Path], root: Path | None = None) -> dict[Path, str] | None:
    """The split of each file when there are several and every one names a different split, else None.

    With ``root``, the path relative to it counts (``train/shard-0.tar``), else the file's stem.
    """
    if len(paths) < 2:
        return None
    splits = {}
    for p in paths:
        name = relpath(p, root) if root is not None else strip_suffixes(p.name)
        split = split_from_name(name)
        if split is None:
            return None
        splits[p] = split
    return splits if len(set(splits.values())) > 1 else None


def strip_suffixes(name: str) -> str:
    for suffix in (".tar.gz", *TABLE_EXTENSIONS, *TAR_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def is_hidden(name: str) -> bool:
    """Dot files, macOS resource forks (``._x.jpg``) and ``__MACOSX`` folders are never data."""
    return name.startswith(".") or name == "__MACOSX"


def list_dir(folder: Path) -> tuple[list[Path], list[Path]]:
    """The visible sub-folders and files of ``folder``, each sorted by name."""
    dirs, files = [], []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return [], []
    for entry in entries:
        if is_hidden(entry.name):
            continue
        try:
            (dirs if entry.is_dir() else files).append(Path(entry.path))
        except OSError:
            continue
    return sorted(dirs), sorted(files)


def relpath(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators (the form the reports and records use)."""
    return Path(os.path.relpath(path, root)).as_posix()


def list_names(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"


def read_text_head(path: Path, size: int = 1 << 20) -> str:
    """The first ``size`` bytes of a file as text (BOM removed), for sniffing what it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(size)
    except OSError:
        return ""
    return head.decode("utf-8-sig", errors="replace").lstrip()


def sniff_json(path: Path) -> str | None:
    """``"coco"`` for a COCO-style annotation file, ``"manifest"`` for a list of rows, else None.

    Only the head of the file is read: a COCO file starts ``{"info": ..., "images": [...`` and a
    manifest with ``[`` or ``{"data": [``.
    """
    head = read_text_head(path)
    if head.startswith("["):
        return "manifest"
    if not head.startswith("{"):
        return None
    if '"images"' in head and ('"annotations"' in head or '"file_name"' in head):
        return "coco"
    if any(f'"{key}"' in head for key in JSON_LIST_KEYS):
        return "manifest"
    return None


_RELEASE_SLICE = 2048


def release(*containers: list) -> None:
    """Empty large lists a slice at a time, from the end.

    Dropping the last reference to a list of 100,000 objects frees them all in one C call, which holds
    the interpreter lock throughout: 20-70 ms for rows, records or items, during which the desktop app's
    window (loading in a thread of the same process) cannot even paint. Between two slices other
    threads get their turn. Objects still referenced elsewhere are only let go of.
    """
    for objects in containers:
        while objects:
            del objects[-_RELEASE_SLICE:]


_SORT_RUN = 4096


def sorted_gently(values: Iterable[T], *, key: Callable[[T], Any] | None = None) -> list[T]:
    """``sorted(values, key=key)``, without holding the interpreter lock for long.

    A list sort is one C call: 100,000 file paths take ~100 ms, during which the desktop app's window
    (loading in a thread of the same process) cannot paint. Here runs of 4,096 are sorted, then merged
    by :func:`heapq.merge`, whose Python loop lets other threads in. Stable, like ``sorted``.
    """
    items = list(values)
    if len(items) <= _SORT_RUN:
        return sorted(items, key=key)
    runs = [sorted(items[i : i + _SORT_RUN], key=key) for i in range(0, len(items), _SORT_RUN)]
    return list(heapq.merge(*runs, key=key))


class Throttle:
    """Calls ``callback(done, total)`` at most about every 1% of ``total`` or every ``interval`` seconds,
    and always at the end (``done == total``)."""

    def __init__(self, callback, total: int, *, interval: float = 0.1, fraction: float = 0.01):
        self.callback, self.total, self.interval = callback, total, interval
        self.step = max(1, int(total * fraction))
        self.last_done, self.last_time = 0, time.monotonic()
        if callback is not None and total > 0:
            callback(0, total)

    def update(self, done: int) -> None:
        if self.callback is None or self.total <= 0 or done <= self.last_done:
            return
        now = time.monotonic()
        if done >= self.total or done - self.last_done >= self.step or now - self.last_time >= self.interval:
            self.last_done, self.last_time = done, now
            self.callback(min(done, self.total), self.total)
