"""Checkpoints as safetensors + JSON: loading one never unpickles, so it can never run code.

A checkpoint ``<stem>`` is two files side by side:

* ``<stem>.<token>.safetensors``: every tensor (the model's weights, the optimiser's moments, the CPU
  random-number state...) under a namespaced key such as ``model/fc.weight`` or
  ``optimizer_state/state/0/exp_avg``;
* ``<stem>.json``, the manifest: the format version, the name and SHA-256 of the tensor file, the
  ``meta`` dict (specs, labels, tokenizer, epoch, step...) and the structure of the nested state dicts
  with each tensor replaced by a reference to its key, so they are rebuilt exactly (int keys, tuples
  and non-finite floats included).

Writes are atomic. The tensor file gets a fresh name, is written under a temporary name and renamed;
the manifest is written the same way, last. The manifest's rename is the commit: until it happens, the
previous checkpoint of that stem stays whole and loadable, and a manifest never names a half-written
tensor file (its CRC-32, computed while the file is written, catches a file damaged later; it is an
integrity check, not a signature: a replaced file cannot run code either way). Older tensor files of
the stem are removed after the commit.

:class:`CheckpointWriter` writes in the background: the tensors are copied into reusable host buffers
(milliseconds), and a thread streams them to disk while training goes on; ``last`` and ``best`` of
the same epoch share one copy. Training waits only if the previous write is still running.

Pickle-based files (``torch.save``: ``.pt``, ``.pth``, ``.ckpt``...) are refused with an explanation,
never opened: unpickling a file from elsewhere can execute anything.

A model's frozen pretrained tensors are left out (:class:`FrozenState`): the spec names the pretrained
model and its exact revision, and :func:`complete_model_state` takes them from the rebuilt model,
checked against their SHA-256 in ``meta["frozen_state"]``. A checkpoint without that entry holds every
weight and loads as it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import struct
import threading
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

CHECKPOINT_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: SHA-256 of the tensor file; 2: CRC-32
FORMAT_NAME = "mmstudio-checkpoint"
MANIFEST_SUFFIX = ".json"
TENSORS_SUFFIX = ".safetensors"
DEFAULT_STEM = "checkpoint"  # the stem used when a directory is given
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar")
STATES = ("model_state", "optimizer_state", "scheduler_state", "scaler_state")

# Markers of the JSON encoding of values JSON cannot hold as they are.
_TENSOR, _NDARRAY, _TUPLE, _ITEMS, _FLOAT = "__tensor__", "__ndarray__", "__tuple__", "__items__", "__float__"
_MARKERS = frozenset({_TENSOR, _NDARRAY, _TUPLE, _ITEMS, _FLOAT})
_TOKEN = re.compile(r"[0-9a-f]{12}")
#: The largest manifest read (its vocabulary is the bulk); a larger one is refused before it is read.
MAX_MANIFEST_BYTES = 512 << 20


class CheckpointError(ValueError):
    """A file is not a checkpoint this mmstudio can load; the message says why and what to do."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the state dicts, rebuilt as they were saved, and ``meta``.

    ``meta`` holds by convention ``format_version`` (set on save), ``model`` (the ModelSpec dict),
    ``train`` (the TrainSpec dict), ``labels``, ``tokenizer`` (its ``to_dict()``),
    ``dataset_fingerprint``, ``epoch``, ``step``, ``best`` (the best monitored metric), ``rng``
    (:func:`capture_rng_state`) and ``run_id``.
    """

    path: Path
    meta: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    scaler_state: dict[str, Any] | None = None

    @property
    def format_version(self) -> int:
        return self.meta["format_version"]

    @property
    def epoch(self) -> int | None:
        return self.meta.get("epoch")

    @property
    def step(self) -> int | None:
        return self.meta.get("step")

    @property
    def run_id(self) -> int | None:
        return self.meta.get("run_id")


# --- saving --------------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any] | None = None,
    scheduler_state: Mapping[str, Any] | None = None,
    scaler_state: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any],
) -> Path:
    """Write a checkpoint and return the path of its manifest (``<stem>.json``).

    ``path`` is the stem (``runs/7/best`` gives ``best.json`` and ``best.<token>.safetensors``), the
    manifest path, or an existing directory (stem ``checkpoint`` inside it). Tensors on any device are
    saved from CPU copies; tensors anywhere in ``meta`` (the RNG states) go to the tensor file too.
    """
    states = {
        "model_state": model_state,
        "optimizer_state": optimizer_state,
        "scheduler_state": scheduler_state,
        "scaler_state": scaler_state,
    }
    return _commit(_prepare(path, states, meta, _TensorSink()))


@dataclass
class _Prepared:
    """A checkpoint ready to write: its manifest document and its tensors (host copies)."""

    manifest: Path
    document: dict[str, Any]
    tensors: dict[str, torch.Tensor]


def _prepare(
    path: str | os.PathLike[str], states: Mapping[str, Any], meta: Mapping[str, Any], tensors: _TensorSink
) -> _Prepared:
    manifest = manifest_path(path)
    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "meta": _encode({**meta, "format_version": CHECKPOINT_FORMAT_VERSION}, "meta", tensors),
    }
    for name in STATES:
        state = states.get(name)
        document[name] = None if state is None else _encode(dict(state), name, tensors)
    return _Prepared(manifest, document, tensors.take())


def _commit(prepared: _Prepared) -> Path:
    """Write the tensor file, then the manifest (the commit), then remove the stem's older tensor files."""
    manifest, document = prepared.manifest, prepared.document
    manifest.parent.mkdir(parents=True, exist_ok=True)
    stem = manifest.name[: -len(MANIFEST_SUFFIX)]
    tensors_name = f"{stem}.{uuid.uuid4().hex[:12]}{TENSORS_SUFFIX}"
    metadata = {"format": FORMAT_NAME, "manifest": manifest.name}
    checksum: list[int] = []
    _write_atomic(
        manifest.parent / tensors_name,
        lambda tmp: checksum.append(_write_safetensors(tmp, prepared.tensors, metadata)),
    )
    document = {**document, "tensors_file": tensors_name, "crc32": f"{checksum[0]:08x}"}
    text = json.dumps(document, indent=1, allow_nan=False)
    _write_atomic(manifest, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    _fsync_dir(manifest.parent)
    _remove_stale_tensors(manifest.parent, stem, keep=tensors_name)
    return manifest


# (tag, path, states, meta) of one checkpoint for CheckpointWriter.submit.
CheckpointRequest = tuple[Any, "str | os.PathLike[str]", Mapping[str, Any], Mapping[str, Any]]


class CheckpointWriter:
    """Writes checkpoints on a background thread, so training does not wait for the disk.

    :meth:`prepare` copies the tensors of one or more checkpoints into host buffers kept from one
    call to the next under a ``slot`` name (no new memory, no page faults after the first time):
    what will be written is the state at that moment. :meth:`write` starts writing prepared
    checkpoints on a thread, one after another, each atomically as :func:`save_checkpoint` does.
    One write is in flight at a time (:meth:`write` first waits for the previous one), and
    :meth:`prepare` waits for a write still using its slot's buffers. An error of a background
    write (a full disk) is raised by the next :meth:`write` or :meth:`wait`. :meth:`completed`
    hands out the manifests written since it was last called, for the caller to announce from its
    own thread.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, dict[str, torch.Tensor]] = {}
        self._thread: threading.Thread | None = None
        self._slots_in_flight: set[str] = set()
        self._error: BaseException | None = None
        self._done: list[tuple[Any, Path]] = []
        self._lock = threading.Lock()

    def prepare(self, requests: list[CheckpointRequest], *, slot: str = "default") -> list[_PreparedTagged]:
        """Copy the tensors of ``(tag, path, states, meta)`` checkpoints (``states`` maps
        :data:`STATES` names to state dicts) into ``slot``'s buffers; ``tag`` comes back with the
        manifest from :meth:`completed`. A tensor named by several checkpoints is copied once."""
        if slot in self._slots_in_flight:
            self._join()
        snapshot = _Snapshot(self._buffers.setdefault(slot, {}))
        prepared = [
            _PreparedTagged(tag, slot, _prepare(path, states, meta, _TensorSink(snapshot)))
            for tag, path, states, meta in requests
        ]
        snapshot.synchronize()
        return prepared

    def write(self, prepared: list[_PreparedTagged]) -> None:
        """Start writing prepared checkpoints in the background, in order."""
        self.wait()
        self._slots_in_flight = {item.slot for item in prepared}
        self._thread = threading.Thread(target=self._write, args=(prepared,), name="mmstudio-checkpoints")
        self._thread.start()

    def submit(self, requests: list[CheckpointRequest]) -> None:
        """:meth:`prepare` and :meth:`write` in one call."""
        self.write(self.prepare(requests))

    def _write(self, prepared: list[_PreparedTagged]) -> None:
        try:
            for item in prepared:
                manifest = _commit(item.prepared)
                with self._lock:
                    self._done.append((item.tag, manifest))
        except BaseException as exc:  # handed to the caller's thread by wait()
            self._error = exc

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._slots_in_flight = set()

    def wait(self) -> None:
        """Wait for the write in flight; raise its error, if it failed."""
        self._join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def completed(self) -> list[tuple[Any, Path]]:
        """``(tag, manifest)`` of each checkpoint written since the last call."""
        with self._lock:
            done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Wait for the last write and free the buffers."""
        try:
            self.wait()
        finally:
            self._buffers.clear()


@dataclass
class _PreparedTagged:
    tag: Any
    slot: str
    prepared: _Prepared


def manifest_path(path: str | os.PathLike[str]) -> Path:
    """The manifest of the checkpoint at ``path`` (a stem, a manifest or a directory)."""
    path = Path(path)
    if path.is_dir():
        return path / f"{DEFAULT_STEM}{MANIFEST_SUFFIX}"
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(_pickle_message(path))
    if path.suffix == MANIFEST_SUFFIX:
        return path
    if path.suffix == TENSORS_SUFFIX:
        raise CheckpointError(
            f"{path} is the tensor file of a checkpoint; give its manifest (<stem>{MANIFEST_SUFFIX}) or stem"
        )
    return path.with_name(path.name + MANIFEST_SUFFIX)  # a dotted stem ("epoch.3") keeps its dots


def _write_atomic(path: Path, write) -> None:
    """``write(tmp)`` writes a temporary file beside ``path``; it is flushed to disk and renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; Windows cannot open a folder this way)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# safetensors' names of the dtypes a checkpoint may hold.
_SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
    torch.uint16: "U16",
    torch.uint32: "U32",
    torch.uint64: "U64",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
}


def _write_safetensors(
    path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]
) -> int:
    """Write ``tensors`` (contiguous, on the CPU) as a safetensors file and return its CRC-32.

    The format is an 8-byte little-endian header length, a JSON header (dtype, shape and byte range
    of each tensor, padded to 8 bytes) and the raw bytes. Writing it here streams each tensor's
    memory straight to the file (no serialised copy in memory, the GIL released while the kernel
    copies) and checksums it on the way.
    """
    header: dict[str, Any] = {}
    offset = 0
    for name, tensor in tensors.items():
        dtype = _SAFETENSORS_DTYPES.get(tensor.dtype)
        if dtype is None:
            raise TypeError(f"cannot store the {tensor.dtype} tensor {name!r} in a checkpoint")
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    crc = 0
    with open(path, "wb") as f:
        for chunk in (struct.pack("<Q", len(raw)), raw):
            f.write(chunk)
            crc = zlib.crc32(chunk, crc)
        for tensor in tensors.values():
            if tensor.numel():
                data = memoryview(tensor.reshape(-1).view(torch.uint8).numpy())
                f.write(data)
                crc = zlib.crc32(data, crc)
    return crc


def _remove_stale_tensors(folder: Path, stem: str, keep: str) -> None:
    for candidate in folder.glob(f"{_glob_escape(stem)}.*{TENSORS_SUFFIX}"):
        token = candidate.name[len(stem) + 1 : -len(TENSORS_SUFFIX)]
        if candidate.name != keep and _TOKEN.fullmatch(token):
            try:
                candidate.unlink()
            except OSError:
                pass  # still mapped by a reader (Windows): the next save removes it


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _checksum_matches(data: bytes, document: Mapping[str, Any]) -> bool:
    if "crc32" in document:
        return f"{zlib.crc32(data):08x}" == document["crc32"]
    return hashlib.sha256(data).hexdigest() == document.get("sha256")  # format version 1


# --- the JSON encoding of state dicts ------------------------------------------------------------


def _encode(value: Any, key: str, tensors: _TensorSink) -> Any:
    """``value`` as JSON, its tensors put into ``tensors`` under keys built from ``key`` (its path)."""
    if isinstance(value, torch.Tensor):
        return {_TENSOR: tensors.put(key, value)}
    if isinstance(value, np.ndarray):
        raw = torch.from_numpy(np.ascontiguousarray(value).reshape(-1).view(np.uint8).copy())
        return {_NDARRAY: tensors.put(key, raw), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_FLOAT: repr(value)}
    if isinstance(value, tuple | list):
        encoded = [_encode(v, f"{key}/{n}", tensors) for n, v in enumerate(value)]
        return {_TUPLE: encoded} if isinstance(value, tuple) else encoded
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and k not in _MARKERS for k in value):
            return {k: _encode(v, f"{key}/{k}", tensors) for k, v in value.items()}
        # Int keys (optimizer state is keyed by parameter id) or a reserved name: keep them exactly.
        return {
            _ITEMS: [[_encode(k, key, tensors), _encode(v, f"{key}/{k}", tensors)] for k, v in value.items()]
        }
    raise TypeError(
        f"cannot store a {type(value).__name__} at {key!r} in a checkpoint (plain data and tensors only)"
    )


class _TensorSink:
    """The tensors of one checkpoint under unique keys, each a contiguous CPU tensor.

    Without a snapshot the tensors are the state's own (or CPU copies of GPU ones), for a write that
    finishes before training goes on; with one, they are copies the training cannot change.
    """

    def __init__(self, snapshot: _Snapshot | None = None) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.snapshot = snapshot

    def put(self, key: str, tensor: torch.Tensor) -> str:
        if tensor.is_sparse or tensor.device.type == "meta":
            raise TypeError(f"cannot store the sparse or meta tensor at {key!r} in a checkpoint")
        name, n = key, 1
        while name in self.tensors:
            n += 1
            name = f"{key}#{n}"
        tensor = tensor.detach()
        if self.snapshot is not None:
            self.tensors[name] = self.snapshot.copy(name, tensor)
        else:
            self.tensors[name] = tensor.cpu().contiguous()
        return name

    def take(self) -> dict[str, torch.Tensor]:
        tensors, self.tensors = self.tensors, {}
        return tensors


class _Snapshot:
    """Copies of tensors in host buffers reused from one checkpoint to the next (no new memory,
    no page faults after the first); a tensor named twice in one snapshot is copied once."""

    def __init__(self, buffers: dict[str, torch.Tensor]) -> None:
        self._buffers = buffers
        self._copied: dict[tuple, torch.Tensor] = {}
        self._devices: set[torch.device] = set()

    def copy(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        identity = (tensor.device, tensor.data_ptr(), tensor.dtype, tensor.shape, tensor.stride())
        copied = self._copied.get(identity)
        if copied is not None:
            return copied
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != tensor.shape or buffer.dtype != tensor.dtype:
            pin = tensor.device.type == "cuda"
            buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=pin)
            self._buffers[name] = buffer
        non_blocking = tensor.device.type == "cuda"
        buffer.copy_(tensor, non_blocking=non_blocking)
        if non_blocking:
            self._devices.add(tensor.device)
        self._copied[identity] = buffer
        return buffer

    def synchronize(self) -> None:
        """Wait for the asynchronous copies from the GPU."""
        for device in self._devices:
            torch.cuda.synchronize(device)


def _decode(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        return tensors[value[_TENSOR]]
    if _NDARRAY in value:
        raw = tensors[value[_NDARRAY]].cpu().numpy()
        return raw.view(np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if _TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[_TUPLE])
    if _FLOAT in value:
        return float(value[_FLOAT])
    if _ITEMS in value:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value[_ITEMS]}
    return {k: _decode(v, tensors) for k, v in value.items()}


# --- loading -------------------------------------------------------------------------------------


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", *, verify: bool = True
) -> Checkpoint:
    """Load the checkpoint at ``path`` (its stem, manifest or directory) with tensors on ``map_location``.

    Raises :class:`CheckpointError` for a pickle file (never opened), a half-written or damaged
    checkpoint (``verify`` checks the tensor file's SHA-256), or a format version this mmstudio does
    not read.
    """
    manifest = manifest_path(path)
    document = _read_manifest(manifest)
    tensors_path = _tensors_path(manifest, document)
    data = tensors_path.read_bytes()
    if verify and not _checksum_matches(data, document):
        raise CheckpointError(
            f"{tensors_path} does not match its manifest {manifest} (it was damaged or replaced); "
            "use another checkpoint of the run"
        )
    tensors = _parse_tensors(data, tensors_path)
    if torch.device(map_location).type != "cpu":
        tensors = {k: v.to(map_location) for k, v in tensors.items()}
    states = {name: _decode_part(document, name, tensors, manifest) for name in STATES}
    return Checkpoint(manifest, _decode_part(document, "meta", tensors, manifest), **states)


def _decode_part(document: dict[str, Any], name: str, tensors: Mapping[str, Any], manifest: Path) -> Any:
    """``document[name]`` decoded; a reference to a tensor the file lacks, or a marker holding the wrong
    type (a manifest edited by hand), is a :class:`CheckpointError` naming the part."""
    try:
        return _decode(document.get(name), tensors)
    except KeyError as exc:
        raise CheckpointError(
            f"{manifest}: {name} refers to the tensor {exc.args[0]!r}, which its tensor file does not "
            f"hold; {_EDITED}"
        ) from None
    except (TypeError, ValueError, IndexError, AttributeError, RecursionError) as exc:
        raise CheckpointError(f"{manifest}: {name} cannot be read ({exc}); {_EDITED}") from None


_EDITED = "the checkpoint was edited or damaged: use another checkpoint of the run, or train again"

# What a model checkpoint's ``meta`` must hold for eval and export: key -> (types, required, what it is).
_MODEL_META: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "model": ((dict,), True, "a JSON object (the model spec)"),
    "train": ((dict,), True, "a JSON object (the training spec)"),
    "labels": ((list, type(None)), False, "a list of label names"),
    "tokenizer": ((dict, type(None)), False, "a JSON object (the vocabulary)"),
    "run_id": ((int, type(None)), False, "a whole number"),
    "epoch": ((int, type(None)), False, "a whole number"),
    "step": ((int, type(None)), False, "a whole number"),
}


def check_model_meta(meta: Any, source: str | os.PathLike[str]) -> None:
    """Raise :class:`CheckpointError` naming the first entry of a model checkpoint's ``meta`` that is
    missing or of the wrong JSON type (``source`` names the checkpoint in the message)."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source}: meta must be a JSON object, not {_json_type(meta)}; {_EDITED}")
    for key, (types, required, what) in _MODEL_META.items():
        if key not in meta:
            if required:
                raise CheckpointError(f"{source}: meta has no {key!r} entry; {_EDITED}")
            continue
        value = meta[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise CheckpointError(f"{source}: meta.{key} must be {what}, not {_json_type(value)}; {_EDITED}")
    for n, label in enumerate(meta.get("labels") or []):
        if not isinstance(label, str):
            raise CheckpointError(
                f"{source}: meta.labels[{n}] must be a label name (a string), not {_json_type(label)}; "
                f"{_EDITED}"
            )


def check_model_state(
    expected: Mapping[str, torch.Tensor],
    given: Any,
    source: str | os.PathLike[str],
    *,
    model: str = "the model",
) -> None:
    """Raise :class:`CheckpointError` naming the first tensor of ``given`` (a checkpoint's model state)
    that differs from ``expected`` (the rebuilt model's ``state_dict()``): one missing, one too many, a
    shape or a dtype that differs. A weight is never cast: a float32 model does not load int8 or float64
    weights. ``model`` names what ``expected`` comes from in the message."""
    if not isinstance(given, Mapping):
        raise CheckpointError(
            f"{source}: model_state must be a JSON object of tensors, not {_json_type(given)}; {_EDITED}"
        )
    for name, want in expected.items():
        if name not in given:
            raise CheckpointError(f"{source} has no tensor {name}, which {model} needs; {_EDITED}")
        have = given[name]
        if not isinstance(have, torch.Tensor):
            raise CheckpointError(
                f"{source}: model_state.{name} is {_json_type(have)}, not a tensor; {_EDITED}"
            )
        if tuple(have.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{source}: the tensor {name} has shape {_shape(have)}, but {model} has {_shape(want)}; "
                f"{_EDITED}"
            )
        if have.dtype != want.dtype:
            raise CheckpointError(
                f"{source}: the tensor {name} is {_dtype(have)}, but {model} has {_dtype(want)} (weights "
                f"are never cast); {_EDITED}"
            )
    extra = [name for name in given if name not in expected]
    if extra:
        raise CheckpointError(
            f"{source} holds a tensor {extra[0]} that {model} does not have"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
            + f"; {_EDITED}"
        )


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, tensor.shape)) + ")"


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name if cls is not str else f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"


def read_checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` of a checkpoint without loading its weights (to list or compare checkpoints)."""
    manifest = manifest_path(path)
    document = _read_manifest(manifest)
    tensors_path = _tensors_path(manifest, document)
    wanted = set()
    _collect_tensor_keys(document["meta"], wanted)
    try:
        with safetensors.safe_open(tensors_path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in wanted}
    except Exception as exc:  # safetensors raises its own error types for a malformed file
        raise CheckpointError(f"{tensors_path} is not a valid safetensors file ({exc})") from None
    return _decode_part(document, "meta", tensors, manifest)


def _collect_tensor_keys(value: Any, keys: set[str]) -> None:
    if isinstance(value, list):
        for v in value:
            _collect_tensor_keys(v, keys)
    elif isinstance(value, dict):
        for marker in (_TENSOR, _NDARRAY):
            if isinstance(value.get(marker), str):
                keys.add(value[marker])
        for v in value.values():
            _collect_tensor_keys(v, keys)


def _read_manifest(manifest: Path) -> dict[str, Any]:
    from mmstudio.training.spec import read_limited

    try:
        raw = read_limited(manifest, MAX_MANIFEST_BYTES, "checkpoint manifest")
    except FileNotFoundError:
        raise CheckpointError(f"there is no checkpoint at {manifest} (the manifest is missing)") from None
    except OSError as exc:  # a FIFO, a device, a folder, a file far too large: refused unread
        raise CheckpointError(f"{manifest} cannot be read: {exc.strerror or exc}") from None
    if _looks_pickled(raw):
        raise CheckpointError(_pickle_message(manifest))
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise CheckpointError(f"{manifest} is not a checkpoint manifest (invalid JSON: {reason})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{manifest} is a JSON file but not an mmstudio checkpoint manifest")
    version = document.get("format_version")
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > CHECKPOINT_FORMAT_VERSION
        advice = "update mmstudio to load it" if newer else "it cannot be loaded; train the model again"
        raise CheckpointError(
            f"{manifest} has checkpoint format version {version!r}, but this mmstudio reads version "
            f"{CHECKPOINT_FORMAT_VERSION}: {advice}"
        )
    if not isinstance(document.get("meta"), dict):
        raise CheckpointError(
            f"{manifest}: meta must be a JSON object, not {_json_type(document.get('meta'))}; {_EDITED}"
        )
    for name in STATES:
        if not isinstance(document.get(name), dict | None):
            raise CheckpointError(
                f"{manifest}: {name} must be a JSON object or null, not {_json_type(document[name])}; "
                f"{_EDITED}"
            )
    return document


def _tensors_path(manifest: Path, document: dict[str, Any]) -> Path:
    name = document.get("tensors_file")
    # A plain file name beside the manifest, never a path: a crafted manifest cannot point elsewhere.
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(TENSORS_SUFFIX):
        raise CheckpointError(f"{manifest} names no valid tensor file")
    path = manifest.parent / name
    if not path.is_file():
        raise CheckpointError(
            f"the tensor file {name} of {manifest} is missing; the checkpoint is incomplete, use another one"
        )
    return path


def _parse_tensors(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    if not _looks_like_safetensors(data) and _looks_pickled(data):
        raise CheckpointError(_pickle_message(path))
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # SafetensorError and friends: the header or the data is malformed
        raise CheckpointError(f"{path} is not a valid safetensors file ({exc})") from None


def _looks_like_safetensors(data: bytes) -> bool:
    """An 8-byte header length that fits the file, then a JSON object (the first byte of the length
    may be anything, 0x80 included, so this is checked before :func:`_looks_pickled`)."""
    if len(data) < 9:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    return 8 + length <= len(data) and data[8:9] == b"{"


def _looks_pickled(data: bytes) -> bool:
    """A pickle (protocol 2+ starts with 0x80) or a ``torch.save`` zip archive."""
    return data[:1] == b"\x80" or data[:4] == b"PK\x03\x04"


def _pickle_message(path: Path) -> str:
    return (
        f"{path} looks like a pickle-based PyTorch file (torch.save). mmstudio never unpickles files, "
        "because loading one can run any code it contains. Load mmstudio checkpoints by their .json "
        "manifest; to bring in weights from elsewhere, convert a trusted file to safetensors first "
        "(safetensors.torch.save_file(state_dict, 'weights.safetensors'))."
    )


# --- frozen pretrained weights, left out -----------------------------------------------------------

#: The ``meta`` entry of a checkpoint that leaves out a model's frozen pretrained tensors.
FROZEN_META = "frozen_state"


def frozen_state_keys(model: torch.nn.Module) -> list[str]:
    """The ``state_dict()`` names of ``model``'s frozen pretrained tensors, in its order: what every
    submodule with a ``frozen_state_keys()`` (a frozen or partly frozen pretrained encoder) names."""
    wanted: set[str] = set()
    for prefix, module in model.named_modules():
        keys = getattr(module, "frozen_state_keys", None)
        if callable(keys):
            wanted.update(f"{prefix}.{k}" if prefix else k for k in keys())
    return [key for key in model.state_dict() if key in wanted]


def _digest(state: Mapping[str, torch.Tensor], keys: list[str]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``state[key]`` for ``keys``, in order."""
    h = hashlib.sha256()
    for key in keys:
        tensor = state[key].detach()
        h.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        if tensor.numel():
            h.update(memoryview(tensor.cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


@dataclass(frozen=True)
class FrozenState:
    """A model's frozen pretrained tensors, which its checkpoints leave out: a model with a frozen
    MiniLM saves 90 MB less in each of ``best`` and ``last``. The spec already names the pretrained
    model and its exact revision (or torchvision weights file), so loading rebuilds the model from
    it and takes these tensors from the rebuilt model (:func:`complete_model_state`); their SHA-256,
    taken once from the training model, proves they are the same, so the predictions are too.
    Training never changes them: they are parameters that do not train and buffers of modules kept
    in eval mode."""

    keys: tuple[str, ...]
    sha256: str
    nbytes: int

    @classmethod
    def of(cls, model: torch.nn.Module) -> FrozenState:
        state = model.state_dict()
        keys = frozen_state_keys(model)
        nbytes = sum(state[k].numel() * state[k].element_size() for k in keys)
        return cls(tuple(keys), _digest(state, keys) if keys else "", nbytes)

    def strip(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` without the frozen tensors."""
        left_out = set(self.keys)
        return {k: v for k, v in state.items() if k not in left_out}

    def meta(self) -> dict[str, Any]:
        """What a checkpoint's meta records of them (``{}``: nothing left out)."""
        if not self.keys:
            return {}
        return {FROZEN_META: {"keys": list(self.keys), "sha256": self.sha256, "bytes": self.nbytes}}


def complete_model_state(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], meta: Mapping[str, Any], source: Any
) -> Mapping[str, torch.Tensor]:
    """A checkpoint's model ``state`` with the frozen pretrained tensors it left out (its
    ``meta["frozen_state"]``) taken from ``model``, rebuilt from the spec, which holds them once it
    has loaded its pretrained weights; a checkpoint that left nothing out (all older ones) is
    returned as it is. Raises :class:`CheckpointError` when the rebuilt model's tensors are not
    those the run trained with (another revision or weights file)."""
    frozen = meta.get(FROZEN_META)
    if not frozen:
        return state
    try:
        keys, expected = [str(k) for k in frozen["keys"]], str(frozen["sha256"])
    except (TypeError, KeyError):
        raise CheckpointError(f"{source}: meta.{FROZEN_META} cannot be read; {_EDITED}") from None
    own = model.state_dict()
    missing = [k for k in keys if k not in own]
    sources = pretrained_sources(meta.get("model"))
    where = ", ".join(sources) or "the pretrained model"
    if missing or _digest(own, keys) != expected:
        raise CheckpointError(
            f"{source} holds only the trained weights; its frozen pretrained weights come from {where}, "
            "and the ones on this machine are not those it was trained with. Fetch that exact revision "
            f"({'; '.join(pull_commands(meta.get('model'))) or 'mmstudio models pull MODEL@REVISION'}) "
            "and try again"
        )
    return {**state, **{k: own[k] for k in keys}}


def pretrained_sources(spec: Any) -> list[str]:
    """``["text_encoder sentence-transformers/all-MiniLM-L6-v2 (revision 8b3219a)", ...]``: the
    pretrained models a model spec dict starts from."""
    found = []
    for slot, ref, revision in _pretrained_refs(spec):
        short = revision.removeprefix("sha256:")[:12] if revision else ""
        found.append(f"{slot.replace('_', ' ')} {ref}" + (f" (revision {short})" if short else ""))
    return found


def pull_commands(spec: Any) -> list[str]:
    """``mmstudio models pull REF@REVISION`` for each pretrained model of a spec dict that a pull fetches."""
    commands = []
    for _slot, ref, revision in _pretrained_refs(spec):
        if ref.startswith("torchvision:"):
            commands.append(f"mmstudio models pull {ref}")
        elif revision and not revision.startswith("sha256:") and not Path(ref).is_absolute():
            commands.append(f"mmstudio models pull {ref}@{revision}")
    return commands


def _pretrained_refs(spec: Any) -> list[tuple[str, str, str]]:
    out = []
    for slot in ("text_encoder", "image_encoder"):
        component = spec.get(slot) if isinstance(spec, dict) else None
        if not isinstance(component, dict):
            continue
        name = component.get("name")
        if name == "hf" and component.get("model"):
            out.append((slot, str(component["model"]), str(component.get("revision") or "")))
        elif name == "minilm":
            out.append((slot, str(component.get("path") or "minilm"), str(component.get("revision") or "")))
        elif component.get("pretrained") and "weights" in component:
            weights = component.get("weights_path") or f"torchvision:{name}.{component['weights']}"
            out.append((slot, str(weights), ""))
    return out


# --- random-number state -------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """The random-number states of torch (CPU, and CUDA when it is in use), NumPy's global generator
    and Python's ``random``, in a form :func:`save_checkpoint` stores (the CPU state is a uint8 tensor)."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Set the generators back to a :func:`capture_rng_state` (CUDA only when the device count matches)."""
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
