"""Preprocessing caches: images decoded once, texts tokenized once.

Decoding a JPEG and resizing it costs milliseconds; reading the same pixels back from a memory-mapped
array costs microseconds. So the first epoch of a dataset decodes every image once, at the size the
model wants, into one ``uint8`` array file of shape (N, size, size, 3); every later epoch, and every
later run on the same dataset, reads that file. The operating system keeps the hot pages in memory
and shares them between processes (DataLoader workers map the file instead of copying it).

A cache is keyed by the dataset's fingerprint (which changes when any file changes), the image size
and fit, and :data:`CACHE_FORMAT_VERSION`, so a stale cache is never read: a changed dataset simply
gets a new file. Files are written under a temporary name and renamed into place, so a crash or a
cancelled build leaves nothing that could be mistaken for a cache. Everything here can be deleted at
any time; it is rebuilt on the next use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mmstudio import paths
from mmstudio.data.images import FITS, ImageError, decode_rgb
from mmstudio.data.text import Tokenizer, tokenizer_hash
from mmstudio.data.types import Item
from mmstudio.progress import check_cancel

CACHE_FORMAT_VERSION = 1
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress calls a second: a GUI cannot show more
_MAX_CHUNK = 256
_MIN_CHUNK = 16

ProgressCallback = Callable[[int, int], None]


class CancelFlag(Protocol):
    """Anything with ``is_set()``: a :class:`threading.Event` or a multiprocessing event."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class DecodeFailure:
    """An image that could not be decoded. ``index`` is its position in the items (its array slot)."""

    index: int
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "message": self.message}


class ImageCache:
    """A finished image cache: a read-only, memory-mapped ``uint8`` array (N, size, size, 3).

    Slot ``i`` holds ``items[i]`` as given to :func:`build_image_cache`; the slots of the images in
    :attr:`failed` are black (all zeros). Pickling keeps only the path, so a cache sent to a
    DataLoader worker process maps the file there instead of copying the pixels through a pipe.
    """

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = Path(path)
        self.meta = meta
        self.fingerprint: str = meta["fingerprint"]
        self.size: int = meta["size"]
        self.fit: str = meta["fit"]
        self.failed = [DecodeFailure(**f) for f in meta["failed"]]
        self._n: int = meta["n"]
        self._array: np.memmap | None = None
        self._pixels: np.ndarray | None = None

    @property
    def array(self) -> np.memmap:
        """The whole cache, memory-mapped read-only (mapped on first use)."""
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> np.ndarray:
        """One image, (size, size, 3) ``uint8``: a read-only view into the mapped file."""
        if self._pixels is None:
            # A plain ndarray over the same mapping: indexing it skips np.memmap's per-item
            # bookkeeping, which is a third of the cost of reading one cached image.
            self._pixels = self.array.view(np.ndarray)
        return self._pixels[index]

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["meta"])

    def __repr__(self) -> str:
        return f"ImageCache({str(self.path)!r}, n={self._n}, size={self.size}, failed={len(self.failed)})"


def image_cache_key(fingerprint: str, size: int, fit: str) -> str:
    """The file name stem of an image cache: everything that changes the pixels is in it."""
    return f"{_safe_fingerprint(fingerprint)}-{size}px-{fit}-v{CACHE_FORMAT_VERSION}"


def text_cache_key(fingerprint: str, tokenizer: Tokenizer, max_len: int) -> str:
    """The file name stem of a text cache: the dataset, the exact vocabulary and the length."""
    vocabulary = tokenizer_hash(tokenizer)[:16]
    return f"{_safe_fingerprint(fingerprint)}-{vocabulary}-L{max_len}-v{CACHE_FORMAT_VERSION}"


def build_image_cache(
    items: Sequence[Item],
    fingerprint: str,
    *,
    size: int = 128,
    fit: str = "crop",
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    workers: int | None = None,
    cache_root: str | os.PathLike[str] | None = None,
) -> ImageCache:
    """Decode every item's image once into a memory-mapped cache, or reuse the cache already built.

    Reuse is instant: nothing is decoded and ``progress`` is never called. Otherwise the images are
    decoded by ``workers`` threads (Pillow releases the GIL while decoding), chunk by chunk;
    ``progress(done, total)`` is called at most every :data:`PROGRESS_INTERVAL_S` seconds and once at
    the end, and ``cancel.is_set()`` is checked between chunks: when it is set, the partial file is
    removed and :class:`~mmstudio.data.types.Cancelled` is raised. Images that cannot be decoded do
    not stop the build: they are listed in :attr:`ImageCache.failed` for the caller to report.
    """
    if fit not in FITS:
        raise ValueError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}")
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, not {size}")
    root = Path(cache_root) if cache_root is not None else paths.cache_dir() / "images"
    key = image_cache_key(fingerprint, size, fit)
    array_path, sidecar_path = root / f"{key}.npy", root / f"{key}.json"
    existing = _open_image_cache(array_path, sidecar_path, n=len(items), size=size, fit=fit)
    if existing is not None:
        return existing

    root.mkdir(parents=True, exist_ok=True)
    partial = _temp_path(root, key, ".npy")
    try:
        failed = _decode_into(partial, items, size, fit, progress, cancel, workers)
        meta = {
            "format_version": CACHE_FORMAT_VERSION,
            "fingerprint": fingerprint,
            "size": size,
            "fit": fit,
            "n": len(items),
            "failed": [f.to_dict() for f in failed],
        }
        # The array first, the sidecar last: a sidecar on disk means its array is complete.
        os.replace(partial, array_path)
        _write_json_atomic(sidecar_path, meta)
    finally:
        partial.unlink(missing_ok=True)
    return ImageCache(array_path, meta)


def _open_image_cache(
    array_path: Path, sidecar_path: Path, *, n: int, size: int, fit: str
) -> ImageCache | None:
    """The cache at these paths if it is complete and matches; None when it has to be (re)built."""
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
        expected = {"format_version": CACHE_FORMAT_VERSION, "n": n, "size": size, "fit": fit}
        if any(meta.get(k) != v for k, v in expected.items()):
            return None
        cache = ImageCache(array_path, meta)
        if cache.array.shape != (n, size, size, 3) or cache.array.dtype != np.uint8:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, half-written by an older crash, or unreadable: rebuild
    return cache


def _decode_into(
    path: Path,
    items: Sequence[Item],
    size: int,
    fit: str,
    progress: ProgressCallback | None,
    cancel: CancelFlag | None,
    workers: int | None,
) -> list[DecodeFailure]:
    """Create the array file at ``path`` and fill it with the decoded images; return the failures."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(items), size, size, 3))
    try:
        failed = _decode_all(array, items, size, fit, progress, cancel, workers)
        array.flush()
    finally:
        del array  # unmap before the file is renamed or removed (Windows can do neither while mapped)
    return failed


def _decode_all(
    array: np.ndarray,
    items: Sequence[Item],
    size: int,
    fit: str,
    progress: ProgressCallback | None,
    cancel: CancelFlag | None,
    workers: int | None,
) -> list[DecodeFailure]:
    failed: list[DecodeFailure] = []
    lock = threading.Lock()

    def decode(index: int) -> None:
        # Each thread writes its own slot of the mapped file: no copy back through the main thread.
        # A failed image leaves its slot as the new file has it: zeros.
        try:
            array[index] = decode_rgb(items[index].image, size, fit=fit)
            return
        except ImageError as exc:
            failure = DecodeFailure(index, exc.kind, exc.message)
        except Exception as exc:
            # Anything else one file can raise (a broken tar member, an odd Pillow error) must not
            # sink a build of thousands of images; it is reported with the others.
            failure = DecodeFailure(index, "corrupt_image", f"{type(exc).__name__}: {exc}")
        with lock:
            failed.append(failure)

    total = len(items)
    n_workers = workers or min(8, os.cpu_count() or 1)
    # Enough images per chunk to keep every thread busy, few enough that cancel stays prompt.
    chunk = min(_MAX_CHUNK, max(_MIN_CHUNK, n_workers * 16))
    report = _Throttled(progress, total)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="image-cache") as pool:
        for start in range(0, total, chunk):
            check_cancel(cancel, "building the image cache")
            stop = min(start + chunk, total)
            list(pool.map(decode, range(start, stop)))
            report(stop)
    report(total, force=True)
    return sorted(failed, key=lambda f: f.index)


class _Throttled:
    """Calls ``progress(done, total)`` at most every :data:`PROGRESS_INTERVAL_S` seconds."""

    def __init__(self, progress: ProgressCallback | None, total: int):
        self.progress = progress
        self.total = total
        self.last = float("-inf")
        self.last_done = -1

    def __call__(self, done: int, *, force: bool = False) -> None:
        if self.progress is None or done == self.last_done:
            return
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_INTERVAL_S:
            self.last, self.last_done = now, done
            self.progress(done, self.total)


def build_text_cache(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    max_len: int,
    fingerprint: str,
    *,
    cache_root: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids int32 [N, max_len] and lengths int32 [N] of ``texts``, tokenized once and cached.

    The key is the dataset fingerprint, the tokenizer's hash (its vocabulary and settings) and
    ``max_len``, so retraining a vocabulary or changing the length gives a new file, never stale ids.
    """
    root = Path(cache_root) if cache_root is not None else paths.cache_dir() / "text"
    key = text_cache_key(fingerprint, tokenizer, max_len)
    path = root / f"{key}.npz"
    cached = _load_text_cache(path, n=len(texts), max_len=max_len)
    if cached is not None:
        return cached
    ids, lengths = tokenizer.encode_batch(texts, max_len)
    root.mkdir(parents=True, exist_ok=True)
    partial = _temp_path(root, key, ".npz")
    try:
        with partial.open("wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, ids=ids, lengths=lengths)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return ids, lengths


def _load_text_cache(path: Path, *, n: int, max_len: int) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as data:
            ids, lengths = data["ids"], data["lengths"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if ids.shape != (n, max_len) or lengths.shape != (n,):
        return None
    return ids, lengths


def _safe_fingerprint(fingerprint: str) -> str:
    """The fingerprint itself when it is a plain short name (a hex digest), else a digest of it."""
    if not fingerprint:
        raise ValueError("a cache needs a non-empty dataset fingerprint")
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", fingerprint) and not fingerprint.startswith("."):
        return fingerprint
    return hashlib.sha256(fingerprint.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _temp_path(root: Path, key: str, suffix: str) -> Path:
    """A hidden name beside the final file, unique to this process and call (same file system)."""
    return root / f".{key}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}"


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    partial = _temp_path(path.parent, path.stem, ".json")
    try:
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
