"""Validation: every record is checked; a usable one becomes an :class:`Item`, a bad one a :class:`Problem`.

Cheap checks run row by row (the image path, the text, the label, the split value); then each image
is checked once (several captions may share one). ``"header"`` reads only the header (format, size,
the decompression-bomb limit); ``"full"`` also decodes the pixels, which is what finds truncated and
corrupt files, in a thread pool (Pillow decodes with the GIL released). Tar shards are read
sequentially, once each, and their members checked from memory. A row with several problems reports
each of them.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from mmstudio.data import headers, images
from mmstudio.data._common import (
    MAX_MEMBER_BYTES,
    SafeReader,
    Throttle,
    file_kind,
    normalize_split,
    release,
    sorted_gently,
)
from mmstudio.data.images import DEFAULT_MAX_PIXELS, ImageError
from mmstudio.data.types import DatasetSource, ImageRef, Item, Problem, ProblemKind, Record
from mmstudio.formatting import plural
from mmstudio.progress import check_cancel

CHECK_MODES = ("full", "header")
_CHUNK = 32  # images per task: fewer hand-offs between threads
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

Size = tuple[int, int]


@dataclass
class _Row:
    """A record after the row checks, waiting for its image check."""

    record: Record
    ref: ImageRef | None
    text: str
    label: str | None
    split: str | None
    skipped: bool


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def validate_source(
    source: DatasetSource,
    *,
    check_images: str = "full",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_text_chars: int = 10_000,
    workers: int | None = None,
    progress=None,
    cancel=None,
) -> tuple[list[Item], list[Problem]]:
    """Check every record of ``source``; return the usable items (``split`` is ``""`` where the source
    gave none) and the problems, in record order. ``progress(done, total)`` counts the images checked."""
    if check_images not in CHECK_MODES:
        raise ValueError(f"check_images must be one of {', '.join(CHECK_MODES)}, not {check_images!r}")
    resolver = PathResolver(source.root)
    resolver.resolve_all(w for r in source.records if r.shard is None and (w := (r.image or "").strip()))
    problems: list[Problem] = []
    rows = []
    for n, record in enumerate(source.records):
        if n % 2048 == 0:
            check_cancel(cancel, "dataset loading")
        rows.append(_check_row(record, source, resolver, max_text_chars, problems))
    refs = list(dict.fromkeys(r.ref for r in rows if r.ref is not None))
    sizes = check_image_refs(
        refs, mode=check_images, max_pixels=max_pixels, workers=workers, progress=progress, cancel=cancel
    )
    items = []
    for row in rows:
        result = sizes.get(row.ref) if row.ref is not None else None
        if isinstance(result, ImageError):
            problems.append(_image_problem(row.record, row.ref, result))
            continue
        if row.skipped or result is None:
            continue
        r = row.record
        split = row.split or ""
        items.append(Item(len(items), r.row, r.source, row.ref, row.text, row.label, split, r.group, *result))
    release(rows)  # an object per row, freed a slice at a time (see release)
    return items, sorted_gently(problems, key=lambda p: (p.source or "", p.row or 0))


# --- row checks -------------------------------------------------------------------------------


def _check_row(
    record: Record, source: DatasetSource, resolver: PathResolver, max_chars: int, problems: list[Problem]
) -> _Row:
    found: list[Problem] = []

    def report(kind: ProblemKind, message: str, skipped: bool = True) -> None:
        found.append(Problem(kind, record.row, record.image, message, skipped, record.source))

    ref = _image_ref(record, resolver, report)
    text, kind, message = clean_text(record.text, max_chars)
    if kind is ProblemKind.CONTROL_CHARACTERS:
        report(kind, message, skipped=False)
        text, kind, message = clean_text(text, max_chars)
    if kind is not None:
        report(kind, message, skipped=kind not in _KEPT)
    label = record.label.strip() if record.label is not None else None
    if source.task == "classification" and not label:
        column = f" ('{source.columns.label}')" if source.columns.label else ""
        report(ProblemKind.MISSING_LABEL, f"the label{column} is empty; give the row a label or remove it")
    split = _split(record, report)
    problems.extend(found)
    return _Row(record, ref, text, label or None, split, any(p.skipped for p in found))


def _image_ref(record: Record, resolver: PathResolver, report) -> ImageRef | None:
    written = (record.image or "").strip()
    if not written:
        report(ProblemKind.MISSING_IMAGE, "the image path is empty; write the image's path or remove the row")
        return None
    if record.shard is not None:
        offset, size = record.image_span if record.image_span is not None else (None, None)
        return ImageRef(record.shard, written, offset, size)
    resolved = resolver.resolve(written)
    if isinstance(resolved, ImageRef):
        return resolved
    report(*resolved)
    return None


def _split(record: Record, report) -> str | None:
    if record.split is None:
        return None
    split = normalize_split(record.split)
    if split is None:
        value = record.split.strip()
        what = f"the split value {value!r} is not" if value else "the split is empty; it must be"
        message = f"{what} train, val or test (valid, validation and dev mean val); fix it"
        report(ProblemKind.MALFORMED_ROW, message)
    return split


_KEPT = (ProblemKind.TEXT_TRUNCATED, ProblemKind.CONTROL_CHARACTERS)  # the row is still used
# C0 controls but tab, newline and carriage return (a CRLF line end inside a quoted caption).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(value: str | bytes | None, max_chars: int) -> tuple[str, ProblemKind | None, str]:
    """The text stripped (and truncated to ``max_chars``) with the problem it has, if any. Text with
    control characters comes back with them removed (nothing else done) and ``CONTROL_CHARACTERS``:
    clean it again for the problems the rest may have."""
    if isinstance(value, bytes):
        try:
            value = _decode_caption(value)
        except UnicodeDecodeError as exc:
            return "", ProblemKind.INVALID_UTF8, _invalid_utf8(value[exc.start], f"byte {exc.start}")
    elif isinstance(value, str):
        bad = _surrogate_at(value)
        if bad is not None:
            code = ord(value[bad])  # U+DC80..U+DCFF stand for the undecodable bytes 0x80..0xFF
            byte = code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code
            return "", ProblemKind.INVALID_UTF8, _invalid_utf8(byte, f"character {bad}")
    if value and (found := _CONTROL.search(value)) is not None:
        count = len(_CONTROL.findall(value))
        message = (
            f"the text holds {plural(count, 'control character')} (the first, U+{ord(found.group()):04X}, at "
            f"character {found.start()}); {'it was' if count == 1 else 'they were'} removed and the row is "
            f"used. Remove them from the source"
        )
        return _CONTROL.sub("", value), ProblemKind.CONTROL_CHARACTERS, message
    text = (value or "").strip()
    if not text:
        message = "the text is empty or only whitespace; write a caption or remove the row"
        return "", ProblemKind.EMPTY_TEXT, message
    if len(text) > max_chars:
        message = (
            f"the text has {plural(len(text), 'character')}; only the first {max_chars:,} "
            f"{'is' if max_chars == 1 else 'are'} used "
            f"(shorten it, or raise max_text_chars to keep more)"
        )
        return text[:max_chars], ProblemKind.TEXT_TRUNCATED, message
    return text, None, ""


def _decode_caption(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _surrogate_at(text: str) -> int | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _invalid_utf8(byte: int, where: str) -> str:
    return (
        f"the text is not valid UTF-8 (byte 0x{byte:02X} at {where}); it was probably saved in another "
        f"encoding such as Windows-1252: save the file as UTF-8"
    )


class PathResolver:
    """Image paths as written → files inside the dataset root. A path that leads out of the root
    (``../x.png``, an absolute path elsewhere, a symbolic link pointing out) is refused."""

    def __init__(self, root: Path):
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self._dirs: dict[str, tuple[str, Path]] = {}  # folder -> (its real path, its Path)
        self._resolved: dict[str, ImageRef | tuple[ProblemKind, str]] = {}

    def resolve(self, written: str) -> ImageRef | tuple[ProblemKind, str]:
        """The file ``written`` names, or the problem (kind, message) that refuses it."""
        if written not in self._resolved:
            self.resolve_all([written])
        return self._resolved[written]

    def resolve_all(self, written: Iterable[str]) -> None:
        """Resolve many paths (each once), their file-system calls in one tight loop.

        One ``lstat`` per row between the row's Python work would starve the desktop app's GUI thread
        while a dataset loads: each call lets go of the interpreter lock for a moment, this thread
        takes it straight back, and the waiting GUI thread never asks for its turn (stalls of 20-60
        ms, measured). In a loop of nothing but those calls, it gets the lock at once.
        """
        located: dict[str, tuple[str, Path, str] | tuple[ProblemKind, str]] = {}
        for w in written:
            if w not in self._resolved and w not in located:
                located[w] = self._locate(w)
        real_paths = [found[0] for found in located.values() if not isinstance(found[0], ProblemKind)]
        modes = {real: _lstat_mode(real) for real in real_paths}  # the tight loop
        for w, found in located.items():
            self._resolved[w] = found if isinstance(found[0], ProblemKind) else self._finish(w, *found, modes)

    def _locate(self, written: str) -> tuple[str, Path, str] | tuple[ProblemKind, str]:
        """(the path with the folders' links resolved, the folder's Path, the file name) or a problem."""
        if "\x00" in written:
            return ProblemKind.MALFORMED_ROW, (
                f"the image path {written!r} holds a NUL byte, which no file name can; fix the path"
            )
        if _URL.match(written):
            return ProblemKind.MISSING_FILE, (
                f"{written} is a URL; mmstudio reads local files only: download the images and write "
                f"their paths"
            )
        path = written.replace("\\", "/") if os.sep == "/" else written
        full = os.path.normpath(os.path.join(self.root, path))
        if not _inside(full, self.root):
            what = "the absolute path" if os.path.isabs(path) else "the path"
            return ProblemKind.PATH_OUTSIDE_DATASET, (
                f"{what} {written} leads outside the dataset folder {self.root} and was refused; move the "
                f"image into the dataset folder and write its path relative to it"
            )
        parent, name = os.path.split(full)
        known = self._dirs.get(parent)
        if known is None:
            known = self._dirs[parent] = (os.path.realpath(parent), Path(parent))
        return os.path.join(known[0], name), known[1], name

    def _finish(
        self, written: str, real: str, folder: Path, name: str, modes: dict[str, int | None]
    ) -> ImageRef | tuple[ProblemKind, str]:
        mode = modes.get(real)
        if mode is not None and not stat.S_ISREG(mode) and stat.S_ISLNK(mode):
            real = os.path.realpath(real)
            mode = _stat_mode(real)
        if not _inside(real, self.real_root):
            return ProblemKind.PATH_OUTSIDE_DATASET, (
                f"{written} is (or is in) a symbolic link that points outside the dataset folder, to {real}, "
                f"and was refused; copy the image into the dataset folder"
            )
        if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            # A FIFO named x.png would hang the image check for good; a device would never end.
            return ProblemKind.NOT_AN_IMAGE, (
                f"{written} is {file_kind(mode)}, not a file, and was not read; replace it with the image"
            )
        return ImageRef(folder / name)


def _lstat_mode(path: str) -> int | None:
    try:
        return os.lstat(path).st_mode
    except (OSError, ValueError):
        return None  # missing: the image check reports it


def _stat_mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# --- image checks -----------------------------------------------------------------------------


def check_image_refs(
    refs: list[ImageRef],
    *,
    mode: str = "full",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress=None,
    cancel=None,
) -> dict[ImageRef, Size | ImageError]:
    """Check each image once: its displayed size (EXIF rotation applied), or the :class:`ImageError`."""
    workers = workers or default_workers()
    throttle = Throttle(progress, len(refs))
    results: dict[ImageRef, Size | ImageError] = {}
    if mode == "header" or workers == 1:
        # Reading headers is short pure-Python work: threads only fight over the GIL (measured: 2-5x
        # slower than this loop). Decoding runs in C with the GIL released, so "full" uses the pool.
        for chunk in _chunks(refs):
            check_cancel(cancel, "dataset loading")
            results.update(_check_chunk(chunk, mode, max_pixels))
            throttle.update(len(results))
        return results

    def collect(done: set[Future]) -> None:
        for future in done:
            results.update(future.result())
        throttle.update(len(results))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mmstudio-validate") as pool:
        in_flight: set[Future] = set()
        try:
            for chunk in _chunks(refs):
                check_cancel(cancel, "dataset loading")
                if len(in_flight) >= 2 * workers:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    collect(done)
                in_flight.add(pool.submit(_check_chunk, chunk, mode, max_pixels))
            while in_flight:
                done, in_flight = wait(in_flight, timeout=0.1, return_when=FIRST_COMPLETED)
                check_cancel(cancel, "dataset loading")
                collect(done)
        except BaseException:  # cancelled, or Ctrl-C: the chunks not started are dropped, not run
            for future in in_flight:
                future.cancel()
            raise
    return results


Job = tuple[ImageRef, "Path | bytes | ImageError"]


def _chunks(refs: list[ImageRef]) -> Iterator[list[Job]]:
    """Files in chunks of paths; shard members in chunks of their bytes, each shard read once in order."""
    files = [r for r in refs if r.member is None]
    for i in range(0, len(files), _CHUNK):
        yield [(r, r.path) for r in files[i : i + _CHUNK]]
    by_shard: dict[Path, list[ImageRef]] = defaultdict(list)
    for r in refs:
        if r.member is not None:
            by_shard[r.path].append(r)
    for shard, members in by_shard.items():
        yield from _shard_chunks(shard, members)


def _shard_chunks(shard: Path, refs: list[ImageRef]) -> Iterator[list[Job]]:
    wanted = {r.member: r for r in refs}
    chunk: list[Job] = []
    error = None
    try:
        fd = SafeReader(None).open(shard)  # a regular file: never waits on a FIFO named x.tar
        with os.fdopen(fd, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:
            for info in tar:
                ref = wanted.pop(info.name, None)
                if ref is None:
                    if not wanted:
                        break  # every member asked for is read: the rest of a compressed shard is not
                    continue
                if info.size > MAX_MEMBER_BYTES:  # a 1 GiB member of a small .tar.gz: never in memory
                    message = (
                        f"the member is {info.size:,} bytes, over the limit of {MAX_MEMBER_BYTES:,} for an "
                        f"image; it was not read"
                    )
                    chunk.append((ref, ImageError("decompression_bomb", message)))
                    continue
                f = tar.extractfile(info)
                chunk.append((ref, f.read() if f is not None else b""))
                if len(chunk) >= _CHUNK:
                    yield chunk
                    chunk = []
    except (tarfile.TarError, OSError, EOFError) as exc:
        error = ImageError("corrupt_image", f"the shard {shard.name} cannot be read here ({exc})")
    for member, ref in wanted.items():
        missing = ImageError("missing_file", f"there is no member {member} in {shard.name}")
        chunk.append((ref, error or missing))
    if chunk:
        yield chunk


def _check_chunk(chunk: list[Job], mode: str, max_pixels: int) -> dict[ImageRef, Size | ImageError]:
    return {
        ref: src if isinstance(src, ImageError) else check_image(src, mode, max_pixels) for ref, src in chunk
    }


def check_image(
    source: Path | bytes, mode: str = "full", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Size | ImageError:
    """The displayed size of one image, or why it cannot be used (never raises for a bad image).

    The size comes from :func:`headers.image_size` when it can tell (much faster than Pillow), else from
    Pillow's header; ``"full"`` then decodes the pixels, which finds truncated and corrupt files.
    """
    try:
        size = headers.image_size(source)
        if size is None:
            info = images.probe_image(source, max_pixels=max_pixels)
            size = info.width, info.height
        elif size[0] * size[1] > max_pixels:
            w, h = size
            message = f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,}"
            return ImageError("decompression_bomb", message + "; refused without decoding")
        if mode == "full":
            images.decode_rgb(source, size=64, max_pixels=max_pixels)
        return size
    except ImageError as exc:
        return exc
    except (TypeError, AttributeError, NameError, ImportError):
        raise  # a bug, not a bad image: never report it as thousands of "corrupt" images
    except Exception as exc:  # Pillow raises many types for hostile files; each one means "unusable"
        return ImageError("corrupt_image", f"cannot be decoded: {type(exc).__name__}: {exc}")


def _image_problem(record: Record, ref: ImageRef, error: ImageError) -> Problem:
    written = record.image
    where = f"{ref.member} in {ref.path.name}" if ref.member else str(ref.path)
    kind = ProblemKind(error.kind)
    messages = {
        ProblemKind.MISSING_FILE: (
            f"{written} does not exist (looked for {where}); fix the path or add the file"
        ),
        ProblemKind.NOT_AN_IMAGE: (
            f"{written} is not an image ({error.message}); replace it with a JPEG, PNG, WebP or BMP "
            f"file or remove the row"
        ),
        ProblemKind.CORRUPT_IMAGE: (
            f"{written} is truncated or corrupt ({error.message}); re-download or re-export the image"
        ),
        ProblemKind.DECOMPRESSION_BOMB: (
            f"{written} is too large to decode safely ({error.message}); shrink it, or raise "
            f"max_pixels if you trust it"
        ),
    }
    message = messages.get(kind, f"{written}: {error.message}")
    return Problem(kind, record.row, written, message, True, record.source)
