"""Issue 13 I: members of a compressed shard are read in one pass, not one rescan per member."""

from __future__ import annotations

import io
import tarfile
import threading

import pytest

from mmstudio.data import shards
from mmstudio.data._common import RefusedFile
from mmstudio.data.types import ImageRef


def write_tgz(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(autouse=True)
def _closed():
    shards.close_shards()
    yield
    shards.close_shards()


@pytest.fixture
def counted_opens(monkeypatch):
    opened = []
    real_open = tarfile.open

    def spy(*args, **kwargs):
        opened.append(kwargs.get("mode"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(tarfile, "open", spy)
    return opened


def test_members_in_order_take_one_pass(tmp_path, counted_opens):
    """Issue 13 I: 200 members read in order open and decompress the shard once (before: 200 times,
    which made 1,000 samples take 143 s)."""
    members = {f"s{i:04d}.png": f"image {i}".encode() * 10 for i in range(200)}
    shard = write_tgz(tmp_path / "s.tar.gz", {**members, "s0000.txt": b"caption"})
    counted_opens.clear()
    for name, data in members.items():
        assert ImageRef(shard, name).read_bytes() == data
    assert len(counted_opens) == 1 and shards.passes(shard) == 1


def test_members_a_little_out_of_order_need_no_new_pass(tmp_path):
    """Issue 13 I: threads of the image cache ask a little out of order: members passed are kept."""
    members = {f"s{i:04d}.png": bytes([i]) * 100 for i in range(64)}
    shard = write_tgz(tmp_path / "s.tar.gz", members)
    order = [n for i in range(0, 64, 8) for n in reversed(list(members)[i : i + 8])]
    for name in order:
        assert ImageRef(shard, name).read_bytes() == members[name]
    assert shards.passes(shard) == 1
    assert ImageRef(shard, "s0000.png").read_bytes() == members["s0000.png"]  # behind: a new pass
    assert shards.passes(shard) == 2


def test_threads_read_every_member(tmp_path):
    """Issue 13 I: the shard's one reader is shared safely by the threads of a cache build."""
    members = {f"s{i:04d}.png": bytes([i]) * 500 for i in range(120)}
    shard = write_tgz(tmp_path / "s.tar.gz", members)
    names = list(members)
    got, errors = {}, []

    def work(part):
        try:
            for name in part:
                got[name] = ImageRef(shard, name).read_bytes()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(names[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == members


def test_missing_and_oversized_members(tmp_path, monkeypatch):
    """Issue 13 C: a member over the size limit is refused unread; a missing one is FileNotFoundError."""
    shard = write_tgz(tmp_path / "s.tar.gz", {"a.png": b"x" * 5000, "b.png": b"y"})
    with pytest.raises(RefusedFile, match="over the limit"):
        shards.read_member(shard, "a.png", limit=1000)
    with pytest.raises(FileNotFoundError):
        ImageRef(shard, "nope.png").read_bytes()
    assert ImageRef(shard, "b.png").read_bytes() == b"y"


def test_a_replaced_shard_is_read_anew(tmp_path):
    """Issue 13 I: a shard rewritten between reads is not served from the old open reader."""
    shard = write_tgz(tmp_path / "s.tar.gz", {"a.png": b"old"})
    assert ImageRef(shard, "a.png").read_bytes() == b"old"
    write_tgz(tmp_path / "new.tar.gz", {"a.png": b"new!"}).replace(shard)
    assert ImageRef(shard, "a.png").read_bytes() == b"new!"
