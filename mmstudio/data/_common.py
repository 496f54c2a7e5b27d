"""What the dataset layer shares: the :class:`Detection` a reader is given, file-name rules and helpers."""

from __future__ import annotations

import heapq
import os
import re
import stat
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
    # The file the user named, when they named one (set by detection): read even where it is a link to
    # a file elsewhere. Every other file a reader opens must lie inside ``root`` (see :class:`SafeReader`).
    named: Path | None = None

    def contain(self, path: Path) -> Path | None:
        """The folder ``path`` must lie in to be read: ``root``, or None for the file the user named."""
        return None if self.named is not None and path == self.named else self.root


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
    """The first ``size`` bytes of a file as text (BOM removed), for sniffing what it is ("" for a file
    that cannot be read or is no regular file: a FIFO named ``x.json`` must not hang detection)."""
    try:
        head = SafeReader(None).read(path, size, truncate=True)
    except (OSError, ValueError):
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


# --- reading files safely ----------------------------------------------------------------------------

MAX_TABLE_BYTES = 2 << 30  # a manifest, metadata or COCO file (100,000 rows are ~20 MB)
MAX_CAPTION_BYTES = 1 << 20  # a caption file: only its first MiB is read (text is truncated far below)
MAX_MEMBER_BYTES = 256 << 20  # a tar member read into memory (an image; text members are far smaller)

# Non-blocking: opening a FIFO for reading would wait for a writer for good (a regular file ignores it).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS |= getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_PIECE = 16 << 20


class RefusedFile(OSError):
    """A file a reader will not read: ``kind`` is ``"special"`` (a FIFO, a device, a socket, a folder),
    ``"outside"`` (a link that leads out of the dataset folder), ``"too_large"`` or ``"bad_name"``. The
    message says which file, why, and what to do. An :class:`OSError`, so every handler of unreadable
    files reports it."""

    def __init__(self, message: str, kind: str, size: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.size = kind, size

    def __reduce__(self):
        return type(self), (str(self), self.kind, self.size)


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, name in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies under it (both absolute and normalised)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class SafeReader:
    """Opens files for the readers: regular files only (never waits on a FIFO or reads a device), each
    within a size limit and, with a ``root``, only when the file really lies inside it.

    A file is opened once and the opened file is checked (``fstat``; on Linux the path the kernel
    opened, from ``/proc/self/fd``), so a link swapped in between a check and the open is caught. The
    real path of each folder is resolved once (100,000 captions in a few folders cost one ``open``,
    ``fstat`` and ``readlink`` each).
    """

    def __init__(self, root: Path | str | None) -> None:
        self.real_root = os.path.realpath(root) if root is not None else None
        self._dirs: dict[str, str] = {}

    def read(self, path: Path | str, limit: int, *, truncate: bool = False) -> bytes:
        """The bytes of ``path``: at most ``limit`` with ``truncate``, else :class:`RefusedFile` when the
        file is larger. Raises :class:`RefusedFile` for a special file or a file outside the root, and
        :class:`OSError` for a missing or unreadable one."""
        fd = self.open(path)
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            want = min(size, limit) + 1
            data = f.read(want)
            if len(data) == want and want <= limit:  # the file grew since: read on, a piece at a time
                pieces = [data]
                total = len(data)
                while total <= limit and (piece := f.read(min(_READ_PIECE, limit + 1 - total))):
                    pieces.append(piece)
                    total += len(piece)
                data = b"".join(pieces)
        if len(data) > limit:
            if truncate:
                return data[:limit]
            raise RefusedFile(
                f"{path} is larger than {_size_text(limit)} ({_size_text(max(size, len(data)))}), more than "
                f"mmstudio reads for such a file; split it or shorten it",
                "too_large",
                max(size, len(data)),
            )
        return data

    def open(self, path: Path | str) -> int:
        """A file descriptor of ``path`` opened for reading, checked to be a regular file inside the root."""
        text = os.fspath(path)
        if "\x00" in text:
            raise RefusedFile(f"{text!r} holds a NUL byte, which no file name can; fix the path", "bad_name")
        folder, name = os.path.split(os.path.abspath(text))
        real_dir = self._dirs.get(folder)
        if real_dir is None:
            real_dir = self._dirs[folder] = os.path.realpath(folder)
        real = os.path.join(real_dir, name)
        if not _NOFOLLOW:  # no O_NOFOLLOW (Windows): resolve the last link here, before the open
            real = os.path.realpath(real)
        self._check_inside(text, real_dir)
        try:
            fd = os.open(real, _OPEN_FLAGS | _NOFOLLOW)
        except OSError:
            if not (_NOFOLLOW and os.path.islink(real)):
                raise
            real = os.path.realpath(real)  # the file is a link: where it leads must be inside too
            self._check_inside(text, real)
            fd = os.open(real, _OPEN_FLAGS | _NOFOLLOW)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise RefusedFile(
                    f"{text} is {file_kind(st.st_mode)}, not a regular file, so it is not read; replace "
                    f"it with a file",
                    "special",
                )
            self._check_inside(text, _opened_path(fd) or real)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check_inside(self, text: str, real: str) -> None:
        if self.real_root is not None and not inside(real, self.real_root):
            raise RefusedFile(
                f"{text} is (or is in) a symbolic link that points outside the dataset folder, to {real}, "
                f"and was refused; copy the file into the dataset folder",
                "outside",
            )


def _opened_path(fd: int) -> str | None:
    """The path the kernel opened for ``fd`` (Linux), whatever links led there; None elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _size_text(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def read_file(path: Path | str, limit: int, *, root: Path | None = None) -> bytes:
    """The bytes of one file, as :meth:`SafeReader.read` reads them (a regular file, within ``limit``)."""
    return SafeReader(root).read(path, limit)
