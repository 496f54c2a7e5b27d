import os
import pickle
import threading

import numpy as np
import pytest
from PIL import Image

from mmstudio.data.cache import CACHE_FORMAT_VERSION, ImageCache, build_image_cache, build_text_cache
from mmstudio.data.images import decode_rgb
from mmstudio.data.text import WordTokenizer
from mmstudio.data.types import ImageRef, Item
from mmstudio.progress import Cancelled

FP = "0123abcd" * 8  # a fingerprint as the dataset layer makes them: a sha256 hex digest


def make_items(folder, n, *, corrupt=()):
    """``n`` small images of varied sizes and modes (index ``i`` in ``corrupt``: a truncated JPEG)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        w, h = 40 + 7 * (i % 5), 30 + 11 * (i % 3)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 4 == 3:
            path = folder / f"{i:03d}.png"
            Image.fromarray(pixels[..., 0], "L").save(path)  # grayscale
        else:
            path = folder / f"{i:03d}.jpg"
            Image.fromarray(pixels).save(path, quality=90)
        if i in corrupt:
            path.write_bytes(path.read_bytes()[:60])
        items.append(Item(i, i + 1, "manifest.csv", ImageRef(path), f"caption {i}", "a", "train", None, w, h))
    return items


@pytest.fixture
def items(tmp_path):
    return make_items(tmp_path / "images", 40)


def test_cache_holds_what_decode_rgb_returns(items, tmp_path):
    cache = build_image_cache(items, FP, size=24, cache_root=tmp_path / "cache", workers=3)
    assert len(cache) == 40 and cache.failed == []
    assert cache.array.shape == (40, 24, 24, 3) and cache.array.dtype == np.uint8
    for i in (0, 3, 17, 39):
        np.testing.assert_array_equal(cache[i], decode_rgb(items[i].image, 24, fit="crop"))


@pytest.mark.parametrize("fit", ["squash", "pad"])
def test_fit_is_applied(items, tmp_path, fit):
    cache = build_image_cache(items[:5], FP, size=16, fit=fit, cache_root=tmp_path)
    np.testing.assert_array_equal(cache[2], decode_rgb(items[2].image, 16, fit=fit))


def test_array_is_memory_mapped_read_only(items, tmp_path):
    cache = build_image_cache(items, FP, size=16, cache_root=tmp_path)
    assert isinstance(cache.array, np.memmap)
    assert not cache.array.flags.writeable
    with pytest.raises(ValueError):
        cache.array[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        cache[0][0, 0, 0] = 1


def test_second_build_reuses_the_file_without_decoding(items, tmp_path):
    first = build_image_cache(items, FP, size=16, cache_root=tmp_path)
    before = first.path.stat().st_mtime_ns
    for item in items:  # nothing left to decode: a rebuild would fail on every image
        item.image.path.unlink()
    calls = []
    second = build_image_cache(items, FP, size=16, cache_root=tmp_path, progress=lambda d, t: calls.append(d))
    assert calls == []
    assert second.failed == []
    assert second.path == first.path and second.path.stat().st_mtime_ns == before
    np.testing.assert_array_equal(second.array, first.array)


def test_key_includes_fingerprint_size_fit_and_version(items, tmp_path):
    root = tmp_path / "cache"
    base = build_image_cache(items[:4], FP, size=16, cache_root=root)
    others = [
        build_image_cache(items[:4], "another-fingerprint", size=16, cache_root=root),
        build_image_cache(items[:4], FP, size=20, cache_root=root),
        build_image_cache(items[:4], FP, size=16, fit="pad", cache_root=root),
    ]
    assert len({base.path, *(c.path for c in others)}) == 4
    assert f"v{CACHE_FORMAT_VERSION}" in base.path.name and FP in base.path.name
    assert sorted(p.suffix for p in root.iterdir()) == [".json"] * 4 + [".npy"] * 4
    assert others[1].array.shape == (4, 20, 20, 3)


def test_progress_is_reported_and_ends_at_total(items, tmp_path):
    calls = []
    build_image_cache(
        items, FP, size=16, cache_root=tmp_path, workers=1, progress=lambda d, t: calls.append((d, t))
    )
    assert calls and calls[-1] == (40, 40)
    assert all(t == 40 for _, t in calls)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


def test_cancel_leaves_no_file(items, tmp_path):
    root = tmp_path / "cache"
    cancel = threading.Event()

    def progress(done, total):
        cancel.set()  # cancel as soon as the first chunk is done

    with pytest.raises(Cancelled):
        build_image_cache(items, FP, size=16, cache_root=root, workers=1, progress=progress, cancel=cancel)
    assert list(root.iterdir()) == []

    # A cancelled build is not mistaken for a cache: the next build decodes everything.
    cache = build_image_cache(items, FP, size=16, cache_root=root)
    np.testing.assert_array_equal(cache[39], decode_rgb(items[39].image, 16))


def test_cancel_before_start(items, tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        build_image_cache(items, FP, size=16, cache_root=tmp_path / "c", cancel=cancel)
    assert list((tmp_path / "c").iterdir()) == []


def test_corrupt_and_missing_images_are_listed_and_zero_filled(tmp_path):
    items = make_items(tmp_path / "images", 10, corrupt={2})
    items[5].image.path.unlink()
    cache = build_image_cache(items, FP, size=16, cache_root=tmp_path / "cache")
    assert [(f.index, f.kind) for f in cache.failed] == [(2, "corrupt_image"), (5, "missing_file")]
    assert all(f.message for f in cache.failed)
    assert not cache[2].any() and not cache[5].any()
    for i in (0, 1, 3, 9):
        np.testing.assert_array_equal(cache[i], decode_rgb(items[i].image, 16))
    # The failures are kept with the cache: a reused cache reports them again.
    again = build_image_cache(items, FP, size=16, cache_root=tmp_path / "cache")
    assert again.failed == cache.failed


def test_mmstudio_home_relocates_the_cache(items, tmp_path, monkeypatch):
    monkeypatch.setenv("MMSTUDIO_HOME", str(tmp_path / "home"))
    cache = build_image_cache(items[:3], FP, size=16)
    assert cache.path.parent == tmp_path / "home" / "cache" / "images"
    ids, _ = build_text_cache(["a b"], WordTokenizer.fit(["a b"]), 4, FP)
    assert ids.tolist() == [[2, 3, 0, 0]]
    assert [p.suffix for p in (tmp_path / "home" / "cache" / "text").iterdir()] == [".npz"]


def test_empty_item_list(tmp_path):
    cache = build_image_cache([], FP, size=16, cache_root=tmp_path)
    assert len(cache) == 0 and cache.array.shape == (0, 16, 16, 3)


def test_pickles_by_path_not_pixels(items, tmp_path):
    cache = build_image_cache(items, FP, size=32, cache_root=tmp_path)
    _ = cache.array  # mapped: pickling must still not copy the pixels
    data = pickle.dumps(cache)
    assert len(data) < 2000
    clone = pickle.loads(data)
    assert isinstance(clone, ImageCache)
    np.testing.assert_array_equal(clone[7], cache[7])


def test_a_truncated_cache_file_is_rebuilt(items, tmp_path):
    cache = build_image_cache(items, FP, size=16, cache_root=tmp_path)
    with cache.path.open("r+b") as f:
        f.truncate(1000)
    rebuilt = build_image_cache(items, FP, size=16, cache_root=tmp_path)
    np.testing.assert_array_equal(rebuilt[39], decode_rgb(items[39].image, 16))


def test_bad_arguments(items, tmp_path):
    with pytest.raises(ValueError, match="unknown fit"):
        build_image_cache(items, FP, fit="stretch", cache_root=tmp_path)
    with pytest.raises(ValueError, match="fingerprint"):
        build_image_cache(items, "", cache_root=tmp_path)


def test_odd_fingerprints_become_safe_file_names(items, tmp_path):
    cache = build_image_cache(items[:2], "../../etc/passwd", size=16, cache_root=tmp_path / "c")
    assert cache.path.parent == tmp_path / "c"
    assert "/" not in cache.path.name and ".." not in cache.path.name


def test_text_cache_tokenizes_once(tmp_path):
    texts = ["red badge for sale", "lost blue badge", "red red red"]
    tok = WordTokenizer.fit(texts)
    ids, lengths = build_text_cache(texts, tok, 5, FP, cache_root=tmp_path)
    expected_ids, expected_lengths = tok.encode_batch(texts, 5)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(lengths, expected_lengths)
    (path,) = tmp_path.iterdir()
    mtime = path.stat().st_mtime_ns

    # The same key (fingerprint, vocabulary, length) reads the file: the texts are not tokenized again.
    ids2, _ = build_text_cache(["x y z"] * 3, tok, 5, FP, cache_root=tmp_path)
    np.testing.assert_array_equal(ids2, ids)
    assert path.stat().st_mtime_ns == mtime

    # Another vocabulary or length is another file.
    build_text_cache(texts, WordTokenizer.fit(texts[:2]), 5, FP, cache_root=tmp_path)
    build_text_cache(texts, tok, 6, FP, cache_root=tmp_path)
    assert len(list(tmp_path.iterdir())) == 3


def test_text_cache_rebuilds_a_damaged_file(tmp_path):
    texts = ["a b c", "c b a"]
    tok = WordTokenizer.fit(texts)
    build_text_cache(texts, tok, 3, FP, cache_root=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not a zip file")
    ids, lengths = build_text_cache(texts, tok, 3, FP, cache_root=tmp_path)
    assert lengths.tolist() == [3, 3]
    assert ids.dtype == np.int32
    assert os.listdir(tmp_path) == [path.name]


# --- issue 13 B and H: a full disk is an ordinary error; stale files go; the caches keep to a cap ------


def _cache_files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_too_little_free_space_is_an_error_that_says_how_much_and_leaves_nothing(
    items, tmp_path, monkeypatch
):
    """Issue 13 B: the build mapped a sparse file and died of SIGBUS when the disk filled; now the free
    space is checked first."""
    import collections
    import shutil

    from mmstudio.data.cache import CacheSpaceError

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 2**20, 2**20))
    root = tmp_path / "c"
    with pytest.raises(CacheSpaceError) as raised:
        build_image_cache(items, FP, size=64, cache_root=root)
    message = str(raised.value)
    assert message.startswith(f"the image cache needs 484.0 KiB in {root} but only 1.0 MiB is free")
    assert "MMSTUDIO_HOME" in message and "[Errno" not in message
    assert _cache_files(root) == []


def test_a_disk_that_fills_while_the_file_is_reserved_is_an_error_too(items, tmp_path, monkeypatch):
    """Issue 13 B: the whole file is allocated before it is mapped, so the disk filling up meanwhile
    raises here (ENOSPC) rather than killing the process while pixels are written."""
    import errno

    from mmstudio.data.cache import CacheSpaceError

    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate on this platform")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    root = tmp_path / "c"
    with pytest.raises(CacheSpaceError, match="filled up while the image cache was reserved"):
        build_image_cache(items, FP, size=16, cache_root=root)
    assert _cache_files(root) == []  # the partial file removed


def test_a_killed_builds_temporary_file_is_removed_by_the_next_build(items, tmp_path):
    """Issue 13 H: a SIGKILL during a build left a hidden temporary file for good."""
    import subprocess
    import sys

    from mmstudio import paths

    folder = paths.cache_dir() / "images"
    folder.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphan = folder / f".{FP}-16px-crop-v{CACHE_FORMAT_VERSION}.{int(dead.stdout)}-0badf00d.tmp.npy"
    orphan.write_bytes(b"\0" * 1000)
    building = folder / f".other-16px-crop-v1.{os.getpid()}-12345678.tmp.npy"  # a live build's file
    building.write_bytes(b"\0" * 10)
    build_image_cache(items[:4], FP, size=16)
    assert not orphan.exists() and building.exists()


def test_the_caches_keep_to_their_cap_least_recently_used_first(items, tmp_path, monkeypatch):
    """Issue 13 H: every change to a dataset added a full new cache copy that nothing evicted."""
    import time

    from mmstudio.data.cache import cache_entries, clean_caches

    first = build_image_cache(items[:4], "a" * 64, size=16)
    [entry] = cache_entries()
    monkeypatch.setenv("MMSTUDIO_CACHE_MAX_GB", str(2.5 * entry.bytes / 2**30))  # room for two, not three
    time.sleep(0.05)
    second = build_image_cache(items[:4], "b" * 64, size=16)
    time.sleep(0.05)
    assert build_image_cache(items[:4], "a" * 64, size=16).path == first.path  # used again: now the newest
    time.sleep(0.05)
    third = build_image_cache(items[:4], "c" * 64, size=16)
    kept = {e.key.split("-")[0] for e in cache_entries()}
    assert kept == {"a" * 64, "c" * 64} and not second.path.exists() and third.path.exists()
    # no cap: nothing goes
    monkeypatch.setenv("MMSTUDIO_CACHE_MAX_GB", "0")
    assert clean_caches().evicted == ()
    monkeypatch.setenv("MMSTUDIO_CACHE_MAX_GB", "lots")
    from mmstudio.data.cache import cache_limit

    with pytest.raises(ValueError, match="MMSTUDIO_CACHE_MAX_GB must be a number of gigabytes"):
        cache_limit()
    build_image_cache(items[:4], "d" * 64, size=16)  # a bad setting never stops a build


def test_data_cache_shows_the_caches_and_clears_them(items, capsys, monkeypatch):
    """Issue 13 H: the caches are shown (size against the cap) and can be cleared from the command line."""
    import json

    from mmstudio.cli import main
    from mmstudio.data.cache import cache_entries

    build_image_cache(items[:4], "a" * 64, size=16)
    build_text_cache(["a b"], WordTokenizer.fit(["a b"]), 4, "a" * 64)
    assert main(["data", "cache", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in doc["caches"]] == ["text", "images"]  # the most recently used first
    assert doc["bytes"] == sum(c["bytes"] for c in doc["caches"]) > 0 and doc["cap_bytes"] == 20 * 2**30
    assert main(["data", "cache"]) == 0
    out = capsys.readouterr().out
    assert "2 caches" in out and "cap 20.0 GiB" in out
    assert main(["data", "cache", "--clear"]) == 0
    assert "freed" in capsys.readouterr().err and cache_entries() == []
    monkeypatch.setenv("MMSTUDIO_CACHE_MAX_GB", "-1")
    assert main(["data", "cache"]) == 2
    assert "MMSTUDIO_CACHE_MAX_GB must be 0 (no cap) or more" in capsys.readouterr().err
