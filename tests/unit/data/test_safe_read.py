"""Issue 13 C and D: :class:`SafeReader` reads regular files only, within a size limit, inside the root,
and checks the file it opened (not a path that may change between a check and the open)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from mmstudio.data._common import RefusedFile, SafeReader, read_text_head
from mmstudio.data.formats.sidecar import read_caption

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, devices and links")


def test_regular_file_within_the_limit(tmp_path):
    """Issue 13 C: a regular file is read whole; a larger one is refused, or cut with ``truncate``."""
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 100)
    reader = SafeReader(tmp_path)
    assert reader.read(path, 100) == b"x" * 100
    with pytest.raises(RefusedFile, match="larger than 99 bytes") as info:
        reader.read(path, 99)
    assert info.value.kind == "too_large" and info.value.size == 100
    assert reader.read(path, 10, truncate=True) == b"x" * 10


@pytest.mark.timeout(20)
def test_fifo_is_refused_at_once(tmp_path):
    """Issue 13 C: a FIFO is never waited on (before: ``open`` blocked until a writer came, for good)."""
    os.mkfifo(tmp_path / "x.json")
    start = time.monotonic()
    with pytest.raises(RefusedFile, match="named pipe") as info:
        SafeReader(tmp_path).read(tmp_path / "x.json", 1000)
    assert info.value.kind == "special" and time.monotonic() - start < 5
    assert read_text_head(tmp_path / "x.json") == ""  # detection sniffs it as nothing


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device_is_refused():
    """Issue 13 C: /dev/zero is a device, not a file: refused, not read to exhaustion."""
    with pytest.raises(RefusedFile, match="character device"):
        SafeReader(None).read("/dev/zero", 1 << 20)


def test_link_out_of_the_root_is_refused(tmp_path):
    """Issue 13 D: a file that is a link leading out of the root is refused; one inside is read."""
    root = tmp_path / "ds"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (root / "inside.txt").write_text("inside")
    os.symlink(tmp_path / "secret.txt", root / "out.txt")
    os.symlink(root / "inside.txt", root / "in.txt")
    reader = SafeReader(root)
    assert reader.read(root / "in.txt", 100) == b"inside"
    with pytest.raises(RefusedFile, match="points outside the dataset folder") as info:
        reader.read(root / "out.txt", 100)
    assert info.value.kind == "outside"
    assert SafeReader(None).read(root / "out.txt", 100) == b"secret"  # no root: a file the user named


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="the opened path is checked through /proc")
def test_folder_swapped_for_a_link_after_the_check_is_refused(tmp_path):
    """Issue 13 D: the window between the check and the open is closed. A folder resolved (and found
    inside) once, then swapped for a link to a folder outside, is caught on the opened file itself."""
    root = tmp_path / "ds"
    (root / "a").mkdir(parents=True)
    (root / "a" / "0.txt").write_text("a caption")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "1.txt").write_text("secret")
    reader = SafeReader(root)
    assert reader.read(root / "a" / "0.txt", 100) == b"a caption"  # the folder's real path is now known
    (root / "a" / "0.txt").unlink()
    (root / "a").rmdir()
    os.symlink(tmp_path / "outside", root / "a")  # the swap, between the check and the next open
    with pytest.raises(RefusedFile, match="points outside the dataset folder"):
        reader.read(root / "a" / "1.txt", 100)


def test_nul_byte_in_a_path_is_refused(tmp_path):
    """Issue 13 tracebacks: a NUL byte in a path is a refused file, not ``ValueError: embedded null byte``."""
    with pytest.raises(RefusedFile, match="NUL byte"):
        SafeReader(tmp_path).read(str(tmp_path / "a\x00.txt"), 100)


def test_caption_cut_at_a_character_boundary(tmp_path):
    """Issue 13 C: a caption over the limit is read only up to it, never through a character."""
    path = tmp_path / "c.txt"
    path.write_bytes("é".encode() * 10)  # 20 bytes of 2-byte characters
    assert read_caption(SafeReader(tmp_path), path, limit=7) == "é".encode() * 3
    assert read_caption(SafeReader(tmp_path), path, limit=8) == "é".encode() * 4
