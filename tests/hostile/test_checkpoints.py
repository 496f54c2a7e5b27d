"""Issue 13: checkpoints edited by hand or damaged, with a valid checksum, against the real command line.

One tiny run is trained per module; each case restores its checkpoint folder, tampers with the ``best``
checkpoint (the manifest JSON, or the tensor file with its CRC-32 recomputed, so the damage gets past
the integrity check) and runs ``mmstudio eval`` and ``mmstudio export`` on it. Each must exit 2 with one
line naming the first mismatch, print no traceback and record nothing.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmstudio.cli import main

TINY_MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.1},
}
EMBEDDING = "text_encoder.embedding.weight"


class Run:
    """The trained run: its store, id and checkpoint folder, with a pristine copy to restore."""

    def __init__(self, db: str, run_id: int, folder: Path, pristine: Path, data: Path, stem: str = "best"):
        self.db, self.run_id, self.folder, self.pristine, self.data = db, run_id, folder, pristine, data
        self.stem = stem

    def restore(self) -> None:
        shutil.rmtree(self.folder)
        shutil.copytree(self.pristine, self.folder)

    @property
    def manifest(self) -> Path:
        return self.folder / f"{self.stem}.json"

    def document(self) -> dict:
        return json.loads(self.manifest.read_text(encoding="utf-8"))

    def write_document(self, document: dict) -> None:
        self.manifest.write_text(json.dumps(document), encoding="utf-8")

    def edit_tensors(self, edit: Callable[[dict[str, torch.Tensor], dict], None]) -> None:
        """Rewrite the tensor file through ``edit(tensors, manifest document)`` and give the manifest
        the new file's CRC-32: a checkpoint whose checksum is valid."""
        document = self.document()
        path = self.folder / document["tensors_file"]
        tensors = safetensors.torch.load(path.read_bytes())
        edit(tensors, document)
        data = safetensors.torch.save(tensors, metadata={"format": "mmstudio-checkpoint", "manifest": "x"})
        path.write_bytes(data)
        document["crc32"] = f"{zlib.crc32(data):08x}"
        self.write_document(document)

    def evaluations(self) -> int:
        from mmstudio.store import Store

        with Store.open(self.db) as store:
            return len(store.list_evaluations(self.run_id))


@pytest.fixture(scope="module")
def run(small_demo, tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("hostile-checkpoints")
    spec = root / "tiny.json"
    spec.write_text(json.dumps(TINY_MODEL), encoding="utf-8")
    db = f"sqlite:///{root / 'runs.db'}"
    argv = ["train", str(spec), "--data", str(small_demo), "--epochs", "1", "--batch-size", "32"]
    argv += ["--image-size", "32", "--max-len", "16", "--device", "cpu", "--quiet", "--db", db]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMSTUDIO_HOME", str(root / "home"))
        assert main(argv) == 0
    from mmstudio.store import Store

    with Store.open(db) as store:
        (record,) = store.list_runs()
        paths = [Path(a.path) for a in store.list_artifacts(record.id)]
    folder = next(p for p in paths if p.name == "best.json").parent
    pristine = root / "pristine"
    shutil.copytree(folder, pristine)
    return Run(db, record.id, folder, pristine, small_demo)


# --- the tamperings: each edits the run's best checkpoint ----------------------------------------------


def _meta(edit: Callable[[dict], None]) -> Callable[[Run], None]:
    def tamper(run: Run) -> None:
        document = run.document()
        edit(document["meta"])
        run.write_document(document)

    return tamper


def _document(edit: Callable[[dict], None]) -> Callable[[Run], None]:
    def tamper(run: Run) -> None:
        document = run.document()
        edit(document)
        run.write_document(document)

    return tamper


def _tensors(edit: Callable[[dict[str, torch.Tensor], dict], None]) -> Callable[[Run], None]:
    return lambda run: run.edit_tensors(edit)


def _raw(text: str) -> Callable[[Run], None]:
    """Put ``text`` (JSON that json.dumps cannot write: too deep, too long a number) as meta.best."""

    def tamper(run: Run) -> None:
        document = run.document()
        document["meta"]["best"] = "@@RAW@@"
        run.manifest.write_text(json.dumps(document).replace('"@@RAW@@"', text), encoding="utf-8")

    return tamper


def _first_key(document: dict) -> str:
    return next(iter(document["model_state"]))


def _set(mapping: dict, key: str, value) -> None:
    mapping[key] = value


def _drop_state_entry(document: dict) -> None:
    document["model_state"].pop(EMBEDDING)


def _add_extra(tensors: dict, document: dict) -> None:
    tensors["model_state/extra.weight"] = torch.zeros(3)
    document["model_state"]["extra.weight"] = {"__tensor__": "model_state/extra.weight"}


def _reshape(tensors: dict, document: dict) -> None:
    key = f"model_state/{EMBEDDING}"
    tensors[key] = torch.zeros(tensors[key].shape[0], 7)


def _cast(dtype: torch.dtype) -> Callable[[dict, dict], None]:
    def edit(tensors: dict, document: dict) -> None:
        for key in tensors:
            if key.startswith("model_state/") and tensors[key].is_floating_point():
                tensors[key] = tensors[key].to(dtype)

    return edit


def _remove_from_file(tensors: dict, document: dict) -> None:
    del tensors[f"model_state/{EMBEDDING}"]


CASES = {
    # the manifest's meta: missing entries and wrong JSON types
    "meta without model": (_meta(lambda m: m.pop("model")), "meta has no 'model' entry"),
    "meta without train": (_meta(lambda m: m.pop("train")), "meta has no 'train' entry"),
    "model spec a string": (_meta(lambda m: _set(m, "model", "abc")), "meta.model must be a JSON object"),
    "model spec a list": (_meta(lambda m: _set(m, "model", [1, 2])), "meta.model must be a JSON object"),
    "model spec without task": (
        _meta(lambda m: m["model"].pop("task")),
        "its model spec cannot be used (the model spec needs a task",
    ),
    "unknown head": (
        _meta(lambda m: _set(m["model"], "head", {"name": "nope"})),
        "its model spec cannot be used (the head: unknown head 'nope'",
    ),
    "train epochs a string": (
        _meta(lambda m: _set(m["train"], "epochs", "many")),
        "its training spec cannot be used (epochs must be a whole number",
    ),
    "labels a number": (_meta(lambda m: _set(m, "labels", 5)), "meta.labels must be a list of label names"),
    "labels of numbers": (_meta(lambda m: _set(m, "labels", [1, 2, 3])), "meta.labels[0] must be a label"),
    "labels shorter than the head": (
        _meta(lambda m: _set(m, "labels", m["labels"][:3])),
        "has shape (6, 32), but the model its manifest describes (classification, 3 labels",
    ),
    "epoch a string": (_meta(lambda m: _set(m, "epoch", "1")), "meta.epoch must be a whole number"),
    "tokenizer without version": (
        _meta(lambda m: _set(m, "tokenizer", {"kind": "word"})),
        "its vocabulary cannot be used",
    ),
    "tokenizer a list": (_meta(lambda m: _set(m, "tokenizer", ["a"])), "meta.tokenizer must be"),
    # the manifest's structure
    "meta a list": (_document(lambda d: _set(d, "meta", [1])), "meta must be a JSON object, not a list"),
    "model_state a list": (_document(lambda d: _set(d, "model_state", [1])), "model_state must be a JSON"),
    "model_state null": (
        _document(lambda d: _set(d, "model_state", None)),
        "model_state must be a JSON object of tensors, not null",
    ),
    "a weight left out of the manifest": (_document(_drop_state_entry), f"has no tensor {EMBEDDING}"),
    "a reference to no tensor": (
        _document(lambda d: _set(d["model_state"], _first_key(d), {"__tensor__": "nope"})),
        "model_state refers to the tensor 'nope'",
    ),
    "a reference that is a list": (
        _document(lambda d: _set(d["model_state"], _first_key(d), {"__tensor__": [1]})),
        "model_state cannot be read",
    ),
    "a weight that is a number": (
        _document(lambda d: _set(d["model_state"], _first_key(d), 3)),
        "is the number 3, not a tensor",
    ),
    "a bad float marker": (
        _meta(lambda m: _set(m, "best", {"__float__": "abc"})),
        "meta cannot be read",
    ),
    "a bad items marker": (
        _document(lambda d: _set(d, "scheduler_state", {"__items__": 5})),
        "scheduler_state cannot be read",
    ),
    "JSON nested 100,000 deep": (_raw("[" * 100_000 + "]" * 100_000), "invalid JSON: nested too deeply"),
    "an integer of 5,000 digits": (_raw("1" * 5000), "is not a checkpoint manifest (invalid JSON: Exceeds"),
    "not UTF-8": (
        lambda run: run.manifest.write_bytes(run.manifest.read_bytes().replace(b'"labels"', b'"l\xffabels"')),
        "is not a checkpoint manifest (invalid JSON",
    ),
    # the tensor file, rewritten with a valid checksum
    "a tensor removed from the file": (_tensors(_remove_from_file), "refers to the tensor 'model_state/"),
    "an extra tensor": (_tensors(_add_extra), "holds a tensor extra.weight that the model"),
    "a shape that does not match the spec": (_tensors(_reshape), f"the tensor {EMBEDDING} has shape"),
    "weights swapped to int8": (_tensors(_cast(torch.int8)), "is int8, but the model"),
    "weights swapped to float64": (_tensors(_cast(torch.float64)), "is float64, but the model"),
    "weights swapped to float16": (_tensors(_cast(torch.float16)), "has float32 (weights are never cast)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "export"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_checkpoint_is_one_line_naming_the_mismatch(run, case, command, tmp_path, capsys):
    """Issue 13: a checkpoint edited by hand or damaged but carrying a valid checksum is refused by eval
    and export with exit 2 and one line naming the first mismatch; no traceback, nothing recorded."""
    tamper, fragment = CASES[case]
    run.restore()
    tamper(run)
    before = run.evaluations()
    if command == "eval":
        argv = ["eval", str(run.run_id), "--data", str(run.data), "--quiet", "--db", run.db]
    else:
        out = tmp_path / "model.pt"
        argv = ["export", str(run.run_id), "--format", "torchscript", "-o", str(out), "--db", run.db]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and fragment in last, err
    assert str(run.manifest) in last
    assert run.evaluations() == before
    if command == "export":
        assert not (tmp_path / "model.pt").exists()


def test_the_restored_checkpoint_loads(run):
    """Issue 13: the control: the untampered checkpoint passes the same checks (the forging helpers
    change only what each case says)."""
    from mmstudio.store import Store
    from mmstudio.training.inference import load_run

    run.restore()
    run.edit_tensors(lambda tensors, document: None)  # rewritten, checksum recomputed: still valid
    with Store.open(run.db) as store:
        loaded = load_run(store, run.run_id)
    assert loaded.spec.task == "classification" and len(loaded.meta["labels"]) == 6


@pytest.fixture
def stopped(run, tmp_path, monkeypatch) -> Run:
    """A run stopped at its third step (resumable) in the module's store, its ``last`` checkpoint to
    tamper with; MMSTUDIO_HOME points at its data folder."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training import events as ev
    from mmstudio.training.runner import TrainingControl, run_job
    from mmstudio.training.spec import RunJob, TrainSpec

    control = TrainingControl()

    def stop_at_step_3(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 3 for p in event.points):
            control.stop()

    train = {"epochs": 2, "batch_size": 32, "image_size": 32, "max_len": 16, "device": "cpu"}
    job = RunJob(
        dataset=DatasetSpec(str(run.data), check_images="header"),
        model=TINY_MODEL,
        train=TrainSpec(**train, log_every_steps=1, checkpoint_every_s=0.0),
        db_url=run.db,
    )
    monkeypatch.setenv("MMSTUDIO_HOME", str(tmp_path / "home"))
    result = run_job(job, on_event=stop_at_step_3, control=control)
    assert result.status == "cancelled", result.message
    from mmstudio.store import Store

    with Store.open(run.db) as store:
        folder = store.run_dir(result.run_id)  # the store's own checkpoint folder (issue 13 A)
    assert (folder / "last.json").is_file()
    return Run(run.db, result.run_id, folder, folder, run.data, stem="last")


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "weights swapped to int8",
        "a shape that does not match the spec",
        "an extra tensor",
        "meta a list",
        "meta without model",
        "model spec without task",
    ],
)
def test_resuming_from_a_tampered_checkpoint_is_one_line(stopped, case, capsys):
    """Issue 13: ``train --resume`` from a ``last`` checkpoint edited by hand (valid checksum) says which
    tensor or entry is wrong, exit 2, no traceback and no "run None" (int8 weights were cast and trained)."""
    tamper, fragment = CASES[case]
    tamper(stopped)
    code = main(["train", "--resume", str(stopped.run_id), "--quiet", "--db", stopped.db])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "run None" not in err
    assert fragment in err and "last.json" in err, err


# --- property-based: one entry of a real manifest's meta set to any JSON, or removed ----------------


def _meta_paths(meta: dict) -> list[tuple[str, ...]]:
    """Every path of the meta's top level and of its dicts one level down (the tokenizer's token list is
    one path, not thousands)."""
    paths = []
    for key, value in meta.items():
        paths.append((key,))
        if isinstance(value, dict):
            paths.extend((key, sub) for sub in value)
    return paths


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_DELETE = object()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_edit_of_one_meta_entry_loads_or_is_a_checkpoint_error(run, data):
    """Issue 13: whatever one entry of a checkpoint's meta is edited to (any JSON, or removed), loading
    the run either works or raises CheckpointError naming the manifest; never a KeyError, TypeError or
    a torch error."""
    from mmstudio.store import Store
    from mmstudio.training.checkpoints import CheckpointError
    from mmstudio.training.inference import load_run

    run.restore()
    document = run.document()
    meta = document["meta"]
    path = data.draw(st.sampled_from(_meta_paths(meta)), label="path")
    value = data.draw(_JSON | st.just(_DELETE), label="value")
    parent = meta if len(path) == 1 else meta[path[0]]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    run.write_document(document)
    with Store.open(run.db) as store:
        try:
            load_run(store, run.run_id)
        except CheckpointError as exc:
            assert str(run.manifest) in str(exc)
