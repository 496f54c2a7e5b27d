"""Test-wide set-up: Qt runs offscreen and every test gets its own mmstudio home folder."""

import os

# Before any QApplication exists (pytest-qt creates it lazily).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def mmstudio_home(tmp_path_factory, monkeypatch):
    """Relocate the store, caches and settings so no test touches the user's real files."""
    home = tmp_path_factory.mktemp("mmstudio-home")
    monkeypatch.setenv("MMSTUDIO_HOME", str(home))
    monkeypatch.delenv("MMSTUDIO_DB", raising=False)
    return home


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """240 demo pairs at 32 px, written once per session: enough to learn from, quick to train on."""
    from mmstudio.data.demo import write_demo

    root = tmp_path_factory.mktemp("small-demo")
    write_demo(root, n_items=240, image_size=32)
    return root
