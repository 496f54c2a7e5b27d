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

A third kind holds the outputs of frozen encoders (:class:`FeatureCache`, written by
:mod:`mmstudio.training.features`): a ``float32`` array (N + 1, D), one row per item and a last row for
the masked input, with a sidecar that records its key and a checksum of the array. A sidecar that
does not match, an array of another shape or dtype, or an array whose checksum differs is never read:
the features are computed again.

Disk space is handled as an ordinary error: before an image cache is written the free space is checked
and the whole file is allocated (``posix_fallocate``), so a full disk raises :class:`CacheSpaceError`
instead of killing the process with SIGBUS when a page of the mapped file cannot be written. The
caches are kept under a size cap (:func:`cache_limit`, ``MMSTUDIO_CACHE_MAX_GB`` in GiB, 20 by default): after
each build the least recently used caches are removed until they fit, and the temporary files a killed
build left behind are removed (:func:`clean_caches`). ``mmstudio data cache`` shows them and clears them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
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
from mmstudio.formatting import format_bytes
from mmstudio.progress import check_cancel

CACHE_FORMAT_VERSION = 1
#: The caches' size cap in bytes unless ``MMSTUDIO_CACHE_MAX_GB`` says otherwise (0: no cap).
DEFAULT_MAX_BYTES = 20 * 2**30
CACHE_MAX_ENV = "MMSTUDIO_CACHE_MAX_GB"
#: Room left free beside a new image cache: the system and other writers need some too.
FREE_SPACE_MARGIN = 256 * 2**20
#: A temporary file of a live process is left alone unless it is older than this (the pid was reused).
STALE_TEMP_S = 7 * 24 * 3600
_KINDS = ("images", "text", "features")
_TEMP = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp\.(npy|npz|json)$")
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress calls a second: a GUI cannot show more
_MAX_CHUNK = 256
_MIN_CHUNK = 16

ProgressCallback = Callable[[int, int], None]


class CacheSpaceError(OSError):
    """The disk cannot hold a cache: the message says how much is needed, where, and what to do."""

    def __str__(self) -> str:  # the sentence, without OSError's "[Errno 28]"
        return str(self.strerror)


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
        _mark_used(sidecar_path)
        return existing

    root.mkdir(parents=True, exist_ok=True)
    if cache_root is None:  # the user's cache folder: make room first (never a folder a caller chose)
        clean_caches(keep={key})
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
    if cache_root is None:
        clean_caches(keep={key})
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
    """Create the array file at ``path``, allocated in full (a full disk is then an error here, not a
    SIGBUS while the mapping is written), and fill it with the decoded images; return the failures."""
    shape = (len(items), size, size, 3)
    needed = int(np.prod(shape)) + 4096
    _check_free_space(path.parent, needed)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    try:
        _allocate(path, needed)
    except BaseException:
        del array
        raise
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
        _mark_used(path)
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


# --- frozen features -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureCache:
    """A frozen encoder's features on disk: ``array`` (N + 1, D) ``float32``, memory-mapped read-only
    (rows 0..N-1: the items, row N: the masked input); ``meta``: the sidecar (key, n, dim, checksum and
    whatever the writer added: what the key was made of, the seconds it took)."""

    path: Path
    meta: dict[str, Any]
    array: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)


def feature_cache_paths(key: str, cache_root: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """``(array, sidecar)`` of the feature cache ``key`` under ``cache_root`` (the user's cache folder's
    ``features/``)."""
    root = Path(cache_root) if cache_root is not None else paths.cache_dir() / "features"
    return root / f"{key}.npy", root / f"{key}.json"


def open_feature_cache(
    key: str, *, n: int, dim: int, cache_root: str | os.PathLike[str] | None = None
) -> FeatureCache | None:
    """The feature cache ``key`` if it is complete, of shape (n + 1, dim) ``float32`` and its checksum
    matches; None when it is missing, damaged or of another shape (compute it again)."""
    array_path, sidecar_path = feature_cache_paths(key, cache_root)
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
        expected = {
            "format_version": CACHE_FORMAT_VERSION,
            "key": key,
            "n": n,
            "dim": dim,
            "dtype": "float32",
        }
        if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in expected.items()):
            return None
        array = np.load(array_path, mmap_mode="r")
        if array.shape != (n + 1, dim) or array.dtype != np.float32:
            return None
        if _array_digest(array) != meta.get("sha256"):
            return None
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None  # missing, truncated or unreadable: compute again
    _mark_used(sidecar_path)
    return FeatureCache(array_path, meta, array)


def write_feature_cache(
    key: str,
    n: int,
    dim: int,
    fill: Callable[[np.ndarray], None],
    *,
    meta: dict[str, Any] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
) -> FeatureCache:
    """Write the feature cache ``key``: ``fill(array)`` writes the (n + 1, dim) ``float32`` rows of a
    new file (it may raise, e.g. :class:`~mmstudio.progress.Cancelled`: nothing is left behind), which
    is then renamed into place, and the sidecar last (a sidecar on disk means its array is whole)."""
    array_path, sidecar_path = feature_cache_paths(key, cache_root)
    root = array_path.parent
    root.mkdir(parents=True, exist_ok=True)
    if cache_root is None:
        clean_caches(keep={key})
    partial = _temp_path(root, key, ".npy")
    shape = (n + 1, dim)
    try:
        _check_free_space(root, int(np.prod(shape)) * 4 + 4096, "the feature cache")
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
        try:
            fill(array)
            array.flush()
            digest = _array_digest(array)
        finally:
            del array
        info = {
            **(meta or {}),
            "format_version": CACHE_FORMAT_VERSION,
            "key": key,
            "n": n,
            "dim": dim,
            "dtype": "float32",
            "sha256": digest,
        }
        os.replace(partial, array_path)
        _write_json_atomic(sidecar_path, info)
    finally:
        partial.unlink(missing_ok=True)
    if cache_root is None:
        clean_caches(keep={key})
    return FeatureCache(array_path, info, np.load(array_path, mmap_mode="r"))


def _array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes, read in slices (a mapped file is never copied whole)."""
    digest = hashlib.sha256()
    flat = array.reshape(len(array), -1) if array.ndim else array.reshape(1, -1)
    step = max(1, (8 << 20) // max(1, flat[:1].nbytes))
    for start in range(0, len(flat), step):
        digest.update(np.ascontiguousarray(flat[start : start + step]).tobytes())
    return digest.hexdigest()


# --- disk space, the size cap, stale temporary files -------------------------------------------------


def _check_free_space(folder: Path, needed: int, what: str = "the image cache") -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the allocation below still fails cleanly
    if free - needed < FREE_SPACE_MARGIN:
        raise CacheSpaceError(
            errno.ENOSPC,
            f"{what} needs {format_bytes(needed)} in {folder} but only {format_bytes(free)} "
            "is free; free some space, set MMSTUDIO_HOME to a disk with room, "
            "or train at a smaller image size",
        )


def _allocate(path: Path, size: int) -> None:
    """Reserve ``size`` bytes for ``path`` so writing its mapping never meets a full disk."""
    if not hasattr(os, "posix_fallocate"):
        return  # macOS, Windows: the free-space check stands alone
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CacheSpaceError(
                exc.errno,
                f"the disk holding {path.parent} filled up while the image cache was reserved "
                f"({format_bytes(size)}); free some space or set MMSTUDIO_HOME to a disk with room",
            ) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _mark_used(path: Path) -> None:
    """Note that a cache was just used (its access time; the modification time stays the build's), for
    the least-recently-used order."""
    try:
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
    except OSError:
        pass  # a read-only cache folder: it is still used, only its age is not updated


@dataclass(frozen=True)
class CacheEntry:
    """One cache: its files (an image cache's array and sidecar, a text cache's archive), their size
    and when it was last used."""

    kind: str
    key: str
    files: tuple[Path, ...]
    bytes: int
    last_used: float


def cache_limit() -> int:
    """The caches' size cap in bytes: ``MMSTUDIO_CACHE_MAX_GB`` (gigabytes of 2**30 bytes; 0: no cap), else
    :data:`DEFAULT_MAX_BYTES`. A value that is not a number is an error naming the variable."""
    text = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{CACHE_MAX_ENV} must be a number of gigabytes, such as 20, not {text!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"{CACHE_MAX_ENV} must be 0 (no cap) or more, not {text!r}")
    return int(value * 2**30)


def cache_entries(root: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """The caches under ``root`` (the user's cache folder), least recently used first."""
    base = Path(root) if root is not None else paths.cache_dir()
    entries = []
    for kind in _KINDS:
        folder = base / kind
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        groups: dict[str, list[Path]] = {}
        for name in names:
            if name.startswith("."):
                continue
            stem, dot, ext = name.rpartition(".")
            if dot and ext in ("npy", "json", "npz"):
                groups.setdefault(stem, []).append(folder / name)
        for key, files in groups.items():
            stats = []
            for f in files:
                try:
                    stats.append(f.stat())
                except OSError:
                    continue
            if stats:
                entries.append(
                    CacheEntry(kind, key, tuple(sorted(files)), sum(st.st_size for st in stats),
                               max(max(st.st_atime, st.st_mtime) for st in stats))
                )  # fmt: skip
    return sorted(entries, key=lambda e: e.last_used)


def stale_temp_files(root: str | os.PathLike[str] | None = None, *, now: float | None = None) -> list[Path]:
    """The temporary files of builds that died: their process is gone (or they are older than
    :data:`STALE_TEMP_S`, the pid long since reused)."""
    base = Path(root) if root is not None else paths.cache_dir()
    now = time.time() if now is None else now
    stale = []
    for kind in _KINDS:
        folder = base / kind
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            match = _TEMP.match(name)
            if match is None:
                continue
            path = folder / name
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            if age > STALE_TEMP_S or not _alive(int(match.group(1))):
                stale.append(path)
    return stale


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: alive
    return True


@dataclass(frozen=True)
class CleanResult:
    """What :func:`clean_caches` removed: stale temporary files and evicted caches, and the bytes."""

    temp_files: int
    evicted: tuple[str, ...]
    freed: int


def clean_caches(
    *, keep: set[str] | frozenset[str] = frozenset(), limit: int | None = None,
    root: str | os.PathLike[str] | None = None,
) -> CleanResult:  # fmt: skip
    """Remove stale temporary files, then the least recently used caches until the rest fit ``limit``
    (:func:`cache_limit` by default; 0: no cap). Caches named in ``keep`` (keys) are never removed, nor is
    anything a process has mapped lost to it: on POSIX a removed file stays readable while mapped.
    Never raises for a file it cannot remove (another process may have taken it first)."""
    freed, temps = 0, 0
    for path in stale_temp_files(root):
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        freed, temps = freed + size, temps + 1
    try:
        cap = cache_limit() if limit is None else limit
    except ValueError:
        cap = DEFAULT_MAX_BYTES  # a bad setting never stops a build; `data cache` says what is wrong
    evicted = []
    if cap > 0:
        entries = cache_entries(root)
        total = sum(e.bytes for e in entries)
        for entry in entries:
            if total <= cap:
                break
            if entry.key in keep:
                continue
            for f in entry.files:
                try:
                    f.unlink()
                except OSError:
                    pass
            total -= entry.bytes
            freed += entry.bytes
            evicted.append(f"{entry.kind}/{entry.key}")
    return CleanResult(temps, tuple(evicted), freed)


def clear_caches(root: str | os.PathLike[str] | None = None) -> int:
    """Remove every cache and temporary file of a dead build; the bytes freed. Caches being built now
    keep their temporary files."""
    base = Path(root) if root is not None else paths.cache_dir()
    freed = 0
    for entry in cache_entries(base):
        for f in entry.files:
            try:
                freed += f.stat().st_size
                f.unlink()
            except OSError:
                pass
    freed += clean_caches(limit=0, root=base).freed
    return freed
