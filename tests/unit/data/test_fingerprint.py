"""The dataset fingerprint changes with the data, only with the data, and never reads the images."""

from __future__ import annotations

import os

import pytest

from mmstudio.data import fingerprint as fingerprint_module
from mmstudio.data.dataset import load_dataset, read_source
from mmstudio.data.fingerprint import fingerprint
from mmstudio.data.types import ColumnRoles


def fp(path, **kwargs) -> str:
    return fingerprint(read_source(path, **kwargs))


@pytest.mark.parametrize("name", ["manifest", "imagefolder", "sidecar", "coco", "webdataset"])
def test_stable_for_unchanged_data(name, dataset_of):
    root = dataset_of(name)
    first = fp(root)
    assert len(first) == 64 and int(first, 16) >= 0
    assert fp(root) == first
    assert load_dataset(root).fingerprint == first


def test_changes_when_a_manifest_row_changes(manifest_dataset):
    before = fp(manifest_dataset)
    path = manifest_dataset / "data.csv"
    path.write_text(path.read_text().replace("number 3", "number three"), encoding="utf-8")
    assert fp(manifest_dataset) != before


def test_changes_when_an_image_changes(manifest_dataset, build):
    before = fp(manifest_dataset)
    image = manifest_dataset / "images" / "005.png"
    build.image(image, size=(30, 30))  # new content, new size
    after = fp(manifest_dataset)
    assert after != before
    st = image.stat()
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same bytes, touched
    assert fp(manifest_dataset) != after


def test_unreferenced_files_do_not_count(manifest_dataset, build):
    before = fp(manifest_dataset)
    build.image(manifest_dataset / "images" / "unused.png")
    (manifest_dataset / "README.md").write_text("hello", encoding="utf-8")
    assert fp(manifest_dataset) == before


def test_column_roles_count(manifest_dataset):
    assert fp(manifest_dataset) != fp(manifest_dataset, columns=ColumnRoles(label=""))


def test_sidecar_caption_change_counts(sidecar_dataset):
    before = fp(sidecar_dataset)
    (sidecar_dataset / "cat" / "1.txt").write_text("a different caption", encoding="utf-8")
    assert fp(sidecar_dataset) != before


def test_shards_count_by_size_and_time(webdataset_dataset):
    before = fp(webdataset_dataset)
    shard = webdataset_dataset / "shard-001.tar"
    st = shard.stat()
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert fp(webdataset_dataset) != before


def test_images_are_stat_ed_not_read(manifest_dataset, monkeypatch):
    source = read_source(manifest_dataset)
    opened = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(fingerprint_module, "open", spy, raising=False)
    fingerprint(source)
    assert opened == [str(manifest_dataset / "data.csv")]
