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


@pytest.fixture(scope="session")
def single_label_demo(small_demo, tmp_path_factory):
    """The small demo with every item labelled 'cat': a dataset no classification model can learn
    from (the Train page's Start and the command line refuse it)."""
    import csv
    import shutil

    root = tmp_path_factory.mktemp("single-label")
    with open(small_demo / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "label": "cat"} for row in rows)
    shutil.copytree(small_demo / "images", root / "images")
    return root


# --- shared builders: the tiny model and the job that trains it in seconds --------------------------

_TINY_MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.1},
}
_TINY_TRAIN = {
    "epochs": 2,
    "batch_size": 32,
    "image_size": 32,
    "max_len": 16,
    "device": "cpu",
    "log_every_steps": 1,
    "checkpoint_every_s": 0.0,  # a checkpoint every epoch: tests resume from them
}


@pytest.fixture
def tiny_model() -> dict:
    """A fused text + image model spec that trains on the small demo in a second or two (a copy: edit
    it freely)."""
    import copy

    return copy.deepcopy(_TINY_MODEL)


@pytest.fixture
def make_job(small_demo):
    """``make_job(db_url, *, model=None, data=None, name=None, **train)``: a :class:`RunJob` training
    the tiny model on the small demo (or ``data``) for two epochs on the CPU; ``train`` overrides."""
    import copy

    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.spec import RunJob, TrainSpec

    def make(db_url, *, model=None, data=None, name=None, **train):
        return RunJob(
            dataset=DatasetSpec(str(data or small_demo), check_images="header"),
            model=copy.deepcopy(model or _TINY_MODEL),
            train=TrainSpec(**{**_TINY_TRAIN, **train}),
            name=name,
            db_url=db_url,
        )

    return make
