"""Reading image members out of tar shards, each compressed shard read once, in order.

An uncompressed shard's members are read by offset (:class:`~mmstudio.data.types.ImageRef` keeps it).
A compressed one (``.tar.gz``) has no random access: opening it again for each member rescans it from
the start, so a shard of 1,000 samples decompressed 1,000 times (quadratic: 143 s). Here each shard
keeps one open reader that moves forward only: members asked for in order (the image cache, a
training epoch over a shard's samples) cost one pass in all; members passed on the way are kept for a
while, within a memory budget, for the threads that ask a little out of order; only a member behind
the reader and no longer kept starts the pass again.
"""

from __future__ import annotations

import os
import tarfile
import threading
from collections import OrderedDict
from pathlib import Path

from mmstudio.data._common import MAX_MEMBER_BYTES, RefusedFile, SafeReader, is_image_name

_OPEN_SHARDS = 4  # compressed shards kept open at once (least recently used closed first)
_KEEP_BYTES = 64 << 20  # members passed on the way, kept per shard for a later ask


class _ShardReader:
    """One compressed shard, read forward; thread-safe (one member at a time)."""

    def __init__(self, path: Path, identity: tuple[int, int, int, int] | None) -> None:
        self.path, self.identity = path, identity
        self.lock = threading.Lock()
        self.file = None
        self.tar: tarfile.TarFile | None = None
        self.passed: set[str] = set()  # members the current pass has gone by
        self.kept: OrderedDict[str, bytes] = OrderedDict()
        self.kept_bytes = 0
        self.passes = 0

    def read(self, member: str, limit: int) -> bytes:
        with self.lock:
            data = self.kept.pop(member, None)
            if data is not None:
                self.kept_bytes -= len(data)
                return data
            if self.tar is None or member in self.passed:
                self._restart()
            assert self.tar is not None
            while (info := self.tar.next()) is not None:
                self.passed.add(info.name)
                if not info.isfile():
                    continue
                if info.name == member:
                    return self._extract(info, limit)
                if is_image_name(info.name) and info.size <= min(limit, _KEEP_BYTES // 4):
                    self._keep(info)
            raise FileNotFoundError(f"there is no member {member} in {self.path}")

    def _extract(self, info: tarfile.TarInfo, limit: int) -> bytes:
        if info.size > limit:
            raise RefusedFile(
                f"member {info.name} of {self.path} is {info.size:,} bytes, over the limit of {limit:,} for "
                f"an image; it was not read",
                "too_large",
                info.size,
            )
        assert self.tar is not None
        f = self.tar.extractfile(info)
        return f.read() if f is not None else b""

    def _keep(self, info: tarfile.TarInfo) -> None:
        assert self.tar is not None
        f = self.tar.extractfile(info)
        data = f.read() if f is not None else b""
        self.kept[info.name] = data
        self.kept_bytes += len(data)
        while self.kept_bytes > _KEEP_BYTES and self.kept:
            _, dropped = self.kept.popitem(last=False)
            self.kept_bytes -= len(dropped)

    def _restart(self) -> None:
        self.close()
        fd = SafeReader(None).open(self.path)
        self.file = os.fdopen(fd, "rb")
        try:
            self.tar = tarfile.open(fileobj=self.file, mode="r:*")  # noqa: SIM115 (kept open: read on later)
        except BaseException:
            self.close()
            raise
        self.passed = set()
        self.passes += 1

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
        if self.file is not None:
            self.file.close()
        self.tar = self.file = None


_readers: OrderedDict[Path, _ShardReader] = OrderedDict()
_readers_lock = threading.Lock()


def read_member(shard: Path, member: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """The bytes of ``member`` of the tar ``shard`` (any compression), at most ``limit`` of them
    (:class:`~mmstudio.data._common.RefusedFile` for a larger member)."""
    identity = _identity(shard)
    with _readers_lock:
        reader = _readers.pop(shard, None)
        if reader is not None and reader.identity != identity:  # the shard was replaced: read the new one
            with reader.lock:
                reader.close()
            reader = None
        reader = reader or _ShardReader(shard, identity)
        _readers[shard] = reader
        while len(_readers) > _OPEN_SHARDS:
            _, old = _readers.popitem(last=False)
            with old.lock:
                old.close()
    return reader.read(member, limit)


def _identity(shard: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(shard)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def close_shards() -> None:
    """Close every shard kept open (after a cache build, before a shard is replaced)."""
    with _readers_lock:
        readers = list(_readers.values())
        _readers.clear()
    for reader in readers:
        with reader.lock:
            reader.close()


def passes(shard: Path) -> int:
    """How many times the open reader of ``shard`` started reading it (0: none open); for tests."""
    reader = _readers.get(shard)
    return reader.passes if reader is not None else 0
