"""Checkpoints: exact round trips of real training state, atomic writes, and no unpickling ever."""

import json
import math
import pickle
import random
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

import mmstudio.training.checkpoints as checkpoints
from mmstudio.training.checkpoints import (
    CHECKPOINT_FORMAT_VERSION,
    CheckpointError,
    CheckpointWriter,
    capture_rng_state,
    load_checkpoint,
    manifest_path,
    read_checkpoint_meta,
    restore_rng_state,
    save_checkpoint,
)


class Tiny(nn.Module):
    """Embedding + batch norm + a tied output layer: the state dict kinds real models have."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.norm = nn.BatchNorm1d(6)
        self.out = nn.Linear(6, 10)
        self.out.weight = self.embed.weight  # tied weights share one storage

    def forward(self, tokens):
        return self.out(self.norm(self.embed(tokens).mean(dim=1)))


def _data(step):
    g = torch.Generator().manual_seed(step)
    return torch.randint(0, 10, (8, 5), generator=g), torch.randint(0, 10, (8,), generator=g)


def _train_step(model, optimizer, scheduler, step):
    tokens, target = _data(step)
    loss = nn.functional.cross_entropy(model(tokens), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


def _setup():
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    return model, optimizer, scheduler


def test_round_trip_restores_training_exactly(tmp_path):
    torch.manual_seed(0)
    model, optimizer, scheduler = _setup()
    for step in range(3):
        _train_step(model, optimizer, scheduler, step)
    path = save_checkpoint(
        tmp_path / "run" / "last",
        model_state=model.state_dict(),
        optimizer_state=optimizer.state_dict(),
        scheduler_state=scheduler.state_dict(),
        scaler_state={"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 3},
        meta={"epoch": 1, "step": 3, "labels": ["a", "b"], "run_id": 7, "best": {"val/loss": 0.5}},
    )
    assert path == tmp_path / "run" / "last.json"

    torch.manual_seed(1)  # a fresh model with other weights
    fresh, fresh_optimizer, fresh_scheduler = _setup()
    ckpt = load_checkpoint(tmp_path / "run" / "last")
    fresh.load_state_dict(ckpt.model_state)
    fresh_optimizer.load_state_dict(ckpt.optimizer_state)
    fresh_scheduler.load_state_dict(ckpt.scheduler_state)

    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    saved, loaded = optimizer.state_dict(), ckpt.optimizer_state
    assert loaded["param_groups"] == saved["param_groups"]  # int ids, tuple betas, floats: exact
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)
    assert set(loaded["state"]) == set(saved["state"]) and all(isinstance(k, int) for k in loaded["state"])
    for pid, state in saved["state"].items():
        for name, value in state.items():
            assert torch.equal(loaded["state"][pid][name], value), (pid, name)
    assert ckpt.scheduler_state == scheduler.state_dict()
    assert ckpt.scaler_state == {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 3}
    assert (ckpt.epoch, ckpt.step, ckpt.run_id, ckpt.format_version) == (1, 3, 7, CHECKPOINT_FORMAT_VERSION)
    assert ckpt.meta["labels"] == ["a", "b"] and ckpt.meta["best"] == {"val/loss": 0.5}

    # Continuing from the checkpoint is continuing in memory: the same next losses, bit for bit.
    for step in range(3, 6):
        assert _train_step(fresh, fresh_optimizer, fresh_scheduler, step) == _train_step(
            model, optimizer, scheduler, step
        )


def test_meta_keeps_tuples_int_keys_non_finite_floats_arrays_and_tensors(tmp_path):
    meta = {
        "tuple": (1, (2.5, "x")),
        "int_keys": {3: "three", 4: [None, True]},
        "reserved": {"__tensor__": "not a tensor"},
        "floats": [math.inf, -math.inf, 1e-300],
        "array": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "scalar": np.float32(0.25),
        "tensor": torch.arange(4, dtype=torch.bfloat16),
    }
    path = save_checkpoint(tmp_path / "m", model_state={}, meta=meta)
    loaded = load_checkpoint(path).meta
    assert loaded["tuple"] == (1, (2.5, "x"))
    assert loaded["int_keys"] == {3: "three", 4: [None, True]}
    assert loaded["reserved"] == {"__tensor__": "not a tensor"}
    assert loaded["floats"] == [math.inf, -math.inf, 1e-300]
    assert loaded["array"].dtype == np.uint32 and loaded["array"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert loaded["scalar"] == 0.25
    assert loaded["tensor"].dtype == torch.bfloat16 and loaded["tensor"].tolist() == [0, 1, 2, 3]
    assert loaded["format_version"] == CHECKPOINT_FORMAT_VERSION
    assert read_checkpoint_meta(path)["array"].tolist() == [[0, 1, 2], [3, 4, 5]]
    manifest = json.loads(path.read_text())
    assert manifest["format"] == "mmstudio-checkpoint" and "NaN" not in path.read_text()


def test_rng_state_round_trip(tmp_path):
    state = capture_rng_state()
    assert state["torch"].dtype == torch.uint8
    expected = (torch.rand(3), np.random.rand(3), random.random())
    path = save_checkpoint(tmp_path / "rng", model_state={}, meta={"rng": state})
    restore_rng_state(load_checkpoint(path).meta["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]
    with safetensors.safe_open(tmp_path / json.loads(path.read_text())["tensors_file"], "pt") as f:
        assert "meta/rng/torch" in set(f.keys())  # the CPU state is a tensor in the tensor file


def test_views_and_non_contiguous_tensors_are_saved(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    state = {"slice": base[1], "transposed": base.t(), "whole": base}
    loaded = load_checkpoint(save_checkpoint(tmp_path / "v", model_state=state, meta={})).model_state
    assert list(loaded) == ["slice", "transposed", "whole"]  # order kept
    for key, value in state.items():
        assert torch.equal(loaded[key], value)


def test_a_directory_holds_a_checkpoint_named_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path, model_state={"w": torch.ones(2)}, meta={})
    assert path == tmp_path / "checkpoint.json"
    assert torch.equal(load_checkpoint(tmp_path).model_state["w"], torch.ones(2))
    assert manifest_path(tmp_path / "epoch.3") == tmp_path / "epoch.3.json"  # dotted stems keep their dots


def test_resaving_replaces_the_old_tensor_file(tmp_path):
    save_checkpoint(tmp_path / "best", model_state={"w": torch.zeros(2)}, meta={"step": 1})
    save_checkpoint(tmp_path / "best", model_state={"w": torch.ones(2)}, meta={"step": 2})
    save_checkpoint(tmp_path / "best-other", model_state={"w": torch.ones(1)}, meta={})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len([n for n in names if n.startswith("best.") and n.endswith(".safetensors")]) == 1
    assert not [n for n in names if n.endswith(".tmp")]
    ckpt = load_checkpoint(tmp_path / "best")
    assert ckpt.step == 2 and torch.equal(ckpt.model_state["w"], torch.ones(2))


def test_a_crash_while_saving_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "last", model_state={"w": torch.zeros(2)}, meta={"step": 1})

    def crash(filename, tensors, metadata):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "_write_safetensors", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "last", model_state={"w": torch.ones(2)}, meta={"step": 2})
    monkeypatch.undo()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(tmp_path / "last").step == 1


def test_incomplete_or_damaged_checkpoints_are_detected(tmp_path):
    path = save_checkpoint(tmp_path / "c", model_state={"w": torch.arange(100.0)}, meta={})
    tensors = tmp_path / json.loads(path.read_text())["tensors_file"]
    data = bytearray(tensors.read_bytes())
    data[-3] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its manifest"):
        load_checkpoint(path)
    tensors.unlink()
    with pytest.raises(CheckpointError, match="is missing; the checkpoint is incomplete"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nothing\.json"):
        load_checkpoint(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="give its manifest"):
        load_checkpoint(tensors)


def _edit_manifest(path: Path, **changes) -> None:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


def test_unknown_format_versions_are_refused_clearly(tmp_path):
    path = save_checkpoint(tmp_path / "c", model_state={}, meta={})
    _edit_manifest(path, format_version=CHECKPOINT_FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match="format version 3, but this mmstudio reads version 2: update"):
        load_checkpoint(path)
    _edit_manifest(path, format_version=None)
    with pytest.raises(CheckpointError, match="format version None"):
        load_checkpoint(path)
    path.write_text('{"some": "json"}')
    with pytest.raises(CheckpointError, match="not an mmstudio checkpoint manifest"):
        load_checkpoint(path)


def test_a_manifest_cannot_point_outside_its_folder(tmp_path):
    path = save_checkpoint(tmp_path / "sub" / "c", model_state={}, meta={})
    save_checkpoint(tmp_path / "elsewhere", model_state={}, meta={})
    outside = next(p.name for p in tmp_path.glob("elsewhere.*.safetensors"))
    _edit_manifest(path, tensors_file=f"../{outside}")
    with pytest.raises(CheckpointError, match="names no valid tensor file"):
        load_checkpoint(path)


def test_values_that_are_not_plain_data_are_refused_when_saving(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a object at 'meta/thing'"):
        save_checkpoint(tmp_path / "c", model_state={}, meta={"thing": object()})
    assert not list(tmp_path.iterdir())


class _WritesMarker:
    """Unpickling this creates the marker file: proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_malicious_pickle_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_WritesMarker(marker))
    # The payload is live: unpickling it elsewhere does create its marker.
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_WritesMarker(probe)))
    assert probe.exists()

    evil_pt = tmp_path / "evil.pt"
    evil_pt.write_bytes(payload)
    torch_zip = tmp_path / "evil_zip.pth"
    torch.save(_WritesMarker(marker), torch_zip)
    named_like_a_manifest = tmp_path / "best.json"
    named_like_a_manifest.write_bytes(payload)
    for path in (evil_pt, torch_zip, named_like_a_manifest, tmp_path / "best"):
        with pytest.raises(CheckpointError, match=r"pickle-based PyTorch file.*never unpickles"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError):
            read_checkpoint_meta(path)

    # A genuine manifest whose tensor file was swapped for a pickle (hash updated to match).
    good = save_checkpoint(tmp_path / "swapped", model_state={"w": torch.ones(1)}, meta={})
    tensors_file = json.loads(good.read_text())["tensors_file"]
    for swapped_in in (payload, torch_zip.read_bytes()):
        (tmp_path / tensors_file).write_bytes(swapped_in)
        _edit_manifest(good, crc32=f"{zlib.crc32(swapped_in):08x}")
        with pytest.raises(CheckpointError, match="pickle-based PyTorch file"):
            load_checkpoint(good)
        with pytest.raises(CheckpointError, match="not a valid safetensors file"):
            read_checkpoint_meta(good)
    assert not marker.exists()


def test_tensor_files_are_standard_safetensors(tmp_path):
    """The tensor file is written by mmstudio itself (streamed, checksummed on the way); any
    safetensors reader opens it, every dtype and shape a checkpoint holds included."""
    state = {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(5).half(),
        "bf16": torch.randn(2, 2).bfloat16(),
        "i64": torch.arange(7),
        "u8": torch.arange(9, dtype=torch.uint8).reshape(3, 3),
        "flag": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "slice": torch.arange(20.0)[5:9],  # a view into a larger storage
        "strided": torch.arange(12.0).reshape(3, 4).t(),  # not contiguous
    }
    path = save_checkpoint(tmp_path / "c", model_state=state, meta={})
    tensors_file = tmp_path / json.loads(path.read_text())["tensors_file"]
    raw = safetensors.torch.load_file(tensors_file)
    for name, tensor in state.items():
        stored = raw[f"model_state/{name}"]
        assert stored.dtype == tensor.dtype and stored.shape == tensor.shape
        assert torch.equal(stored, tensor)
    with safetensors.safe_open(tensors_file, framework="pt") as f:
        assert f.metadata() == {"format": "mmstudio-checkpoint", "manifest": "c.json"}


def test_version_1_checkpoints_still_load(tmp_path):
    """Checkpoints of format version 1 (a SHA-256 of the tensor file) load and are verified."""
    import hashlib

    path = save_checkpoint(tmp_path / "old", model_state={"w": torch.arange(4.0)}, meta={"step": 3})
    document = json.loads(path.read_text())
    data = (tmp_path / document["tensors_file"]).read_bytes()
    del document["crc32"]
    document.update(format_version=1, sha256=hashlib.sha256(data).hexdigest())
    path.write_text(json.dumps(document))
    assert torch.equal(load_checkpoint(path).model_state["w"], torch.arange(4.0))
    _edit_manifest(path, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="does not match its manifest"):
        load_checkpoint(path)


def test_the_background_writer_saves_what_the_state_was_when_submitted(tmp_path):
    """Training goes on while the files are written: what lands on disk is the state at submit
    time, ``last`` and ``best`` share one copy of the weights, and buffers are reused."""
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randint(0, 10, (4, 3))).sum().backward()
    optimizer.step()
    writer = CheckpointWriter()
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    states = {"model_state": model.state_dict(), "optimizer_state": optimizer.state_dict()}
    writer.submit(
        [
            ("last", tmp_path / "last", states, {"step": 1}),
            ("best", tmp_path / "best", {"model_state": model.state_dict()}, {"step": 1}),
        ]
    )
    with torch.no_grad():  # training changes the weights while the write may still be running
        for p in model.parameters():
            p.add_(100.0)
    writer.wait()
    assert [tag for tag, _ in writer.completed()] == ["last", "best"]
    assert writer.completed() == []
    for stem in ("last", "best"):
        saved = load_checkpoint(tmp_path / stem).model_state
        assert all(torch.equal(saved[k], expected[k]) for k in expected)
    assert load_checkpoint(tmp_path / "last").optimizer_state is not None
    buffers = dict(writer._buffers)
    assert len(buffers) == len({id(b) for b in buffers.values()})  # weights copied once for both
    writer.submit([("last", tmp_path / "last", {"model_state": model.state_dict()}, {"step": 2})])
    writer.wait()
    assert all(writer._buffers[k] is buffers[k] for k in buffers)  # the same host memory again
    assert load_checkpoint(tmp_path / "last").step == 2
    assert torch.equal(
        load_checkpoint(tmp_path / "last").model_state["norm.weight"], model.norm.weight.detach()
    )
    writer.close()


def test_a_failed_background_write_is_raised_to_the_caller(tmp_path, monkeypatch):
    writer = CheckpointWriter()
    writer.submit([("last", tmp_path / "last", {"model_state": {"w": torch.zeros(2)}}, {"step": 1})])
    writer.wait()
    started = threading.Event()

    def crash(filename, tensors, metadata):
        started.set()
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoints, "_write_safetensors", crash)
    writer.submit([("last", tmp_path / "last", {"model_state": {"w": torch.ones(2)}}, {"step": 2})])
    assert started.wait(10)
    with pytest.raises(OSError, match="No space left"):
        writer.wait()
    writer.wait()  # reported once
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "last").step == 1  # the previous checkpoint is whole
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_header_length_that_starts_like_a_pickle_is_still_a_safetensors_file(tmp_path):
    """The tensor file starts with its header's length, little-endian: 0x80 as its first byte (as a
    pickle starts) is a legitimate length and must load."""
    for n in range(1, 300):
        path = save_checkpoint(tmp_path / "c", model_state={"w" * n: torch.zeros(3)}, meta={})
        tensors_file = tmp_path / json.loads(path.read_text())["tensors_file"]
        if tensors_file.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no header length with a first byte of 0x80 was produced")
    assert torch.equal(load_checkpoint(path).model_state["w" * n], torch.zeros(3))
