"""``TrainSpec`` (how to train) and ``RunJob`` (everything a worker process needs to run one training).

Both are plain, validated, JSON-safe data: the GUI edits them, the store keeps them with every run, and
the worker receives a :class:`RunJob` through a ``spawn`` process boundary (it pickles as plain data).
This module imports neither torch nor :mod:`mmstudio.models`, so the GUI and the store can use it
cheaply; the runner turns ``RunJob.model`` (a ModelSpec as a dict) into a ModelSpec.

The defaults train the demo dataset well in a few minutes on a 2-core CPU: AdamW at 3e-3 with a short
warm-up and cosine decay (a small from-scratch model on a few thousand pairs needs a fairly high rate to
converge in 5 epochs, and the decay makes the last epochs settle instead of bouncing), batches of 64,
gradients clipped at 1.0 (a cheap guard against an early spike), 64-pixel images, 32-token captions.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mmstudio.data.spec import DatasetSpec
from mmstudio.formatting import plural
from mmstudio.vocabulary import (
    LEGACY_MONITOR,
    MONITOR_SPLITS,
    SLOTS,
    check_task,
    component_name,
    default_monitor,
    metric_mode,
)

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step", "plateau")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TOKENIZERS = ("word", "bpe")  # the keys of mmstudio.data.text.TOKENIZERS (a test keeps them in step)
IMAGE_FITS = ("crop", "squash", "pad")  # mmstudio.data.images.FITS, without importing Pillow
AUGMENT_LEVELS = ("none", "light", "strong")  # mmstudio.training.augment builds each level
DEFAULT_MONITOR = LEGACY_MONITOR  # kept for older callers; a new run monitors its task's key metric
#: What the fields that default to None (chosen from the dataset) are when no dataset chose them.
DEFAULT_PATIENCE = 3
DEFAULT_MAX_LEN = 32
#: The fields a dataset may choose when the user left them at None (``suggest_defaults``).
DATA_DEFAULT_FIELDS = ("patience", "max_len", "class_weights")
RUN_JOB_VERSION = 1
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_MAX_SEED = 2**63 - 1
# --- field checks: each takes (field name, value) and returns the value, normalised ------------------


def _integer(low: int, high: int | None = None, *, optional: bool = False) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        # bool is an int subclass, and a float like 5.0 usually means a hand-edited file: refuse both.
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number{' or null' if optional else ''}, not {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"{name} must be {bound}, not {value}")
        return value

    return check


def _number(
    low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False, optional=False
) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number{' or null' if optional else ''}, not {value!r}")
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            interval = f"{left}{low}, {high}{right}" if high is not None else f"{left}{low}, ∞)"
            raise ValueError(f"{name} must be in {interval}, not {value}")
        return float(value)

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def _flag(name: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not {value!r}")
    return value


def _optional_flag(name: str, value: Any) -> Any:
    return None if value is None else _flag(name, value)


def _device(name: str, value: Any) -> Any:
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ValueError(f"{name} must be auto, cpu, cuda, cuda:N or mps, not {value!r}")
    return value


def _monitor(name: str, value: Any) -> Any:
    if value is None:
        return None
    split, _, metric = value.partition("/") if isinstance(value, str) else ("", "", "")
    if split not in MONITOR_SPLITS or not metric:
        raise ValueError(
            f"{name} must be a metric key such as val/accuracy or val/loss (split/name, split one of "
            f"{', '.join(MONITOR_SPLITS)}: the test split never chooses a model), not {value!r}"
        )
    return value


@dataclass(frozen=True)
class TrainSpec:
    """How to train. Every field is checked on construction; the errors name the field.

    Schedules: ``constant``; ``cosine`` (decays to 0 over the run); ``step`` (multiply the rate by
    ``gamma`` every ``step_size`` epochs); ``plateau`` (multiply by ``gamma`` when :attr:`monitor` has
    not improved for ``plateau_patience`` evaluations). Every schedule starts with a linear warm-up of
    ``warmup_steps`` optimiser steps, or ``warmup_fraction`` of all steps when ``warmup_steps`` is None.
    ``accumulation`` sums gradients over that many batches per optimiser step. ``precision="auto"``
    means bf16 on a CUDA device that supports it, fp16 with loss scaling on an older CUDA device, and
    fp32 elsewhere (:func:`mmstudio.training.device.resolve_precision`).
    ``best_metric`` picks the best checkpoint (the weights evaluated at the end, and exported), drives
    early stopping and the ``plateau`` schedule; None means the task's key metric on the validation
    split (:func:`~mmstudio.vocabulary.default_monitor`: ``val/accuracy`` for a classification, the
    metric the Experiments page ranks by), filled in when the run starts so the stored spec names it.
    ``early_stopping_metric`` is the older way to name it (it is the monitor when ``best_metric`` is
    None, and turns early stopping on). With ``early_stopping`` (on by default) the run stops after
    ``patience`` evaluations without improvement; whether lower or higher is better follows from the
    metric's name (:func:`metric_mode`). ``patience``, ``max_len`` and ``class_weights`` left at None are
    chosen from the dataset when the run starts (:func:`mmstudio.training.defaults.suggest_defaults`;
    without a dataset: 3, 32 and off). ``modality_dropout``: in training, per item, the features of one
    modality (chosen at random) are zeroed with this probability, so a fused model cannot lean on one
    modality alone and stays usable when the other is uninformative; only for a model that fuses both.
    ``fusion_guard``: when training ends, the best weights of such a model are scored on val as they
    are and with each modality's features zeroed; if one modality alone scores better than both, the
    other is ignored from then on (evaluation, export, inference), and the run's log says so: the
    fused model is never worse on val than its better modality.
    ``augment_image`` / ``augment_text`` (``none``, ``light``, ``strong``): random changes to the training
    batches only, never to val or test (:mod:`mmstudio.training.augment`); ``augment_flip=False`` forbids
    horizontal flips (text in images, left/right labels). ``feature_cache``: a frozen pretrained
    encoder whose inputs are not augmented runs once per item, and its outputs are read back from a
    cache on disk in every later epoch and run (:meth:`augments` says which modalities are).
    ``vocab_max_size`` bounds the word vocabulary, or is the target BPE vocabulary size.
    ``num_threads=None`` leaves torch's CPU thread count as it is.
    ``backbone_lr_scale``: the pretrained weights that are fine-tuned (an ``hf`` encoder's ``top:N`` or
    ``full``) train at ``lr`` times this; what is new (heads, fusion, LoRA adapters) at ``lr``.
    ``gradient_checkpointing``: the fine-tuned blocks of a pretrained encoder (``top:N``, ``full``)
    recompute their activations in the backward pass instead of keeping them: less memory for a
    large encoder on a GPU, about a third more compute.
    Checkpoints: the resumable ``last`` one is written at the end of an epoch once
    ``checkpoint_every_s`` seconds have passed since the previous one (0: every epoch), and always
    when the run ends or is stopped; ``best`` is copied in memory whenever the monitored metric
    improves and written with the next ``last``, so the two on disk always agree. A crash loses at
    most that many seconds plus the epoch in progress; short epochs do not pay for a write each.
    """

    epochs: int = 5
    batch_size: int = 64
    lr: float = 3e-3
    backbone_lr_scale: float = 0.1
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int | None = None
    warmup_fraction: float = 0.05
    step_size: int = 2
    gamma: float = 0.5
    plateau_patience: int = 1
    grad_clip: float | None = 1.0
    accumulation: int = 1
    precision: str = "auto"
    class_weights: bool | None = None
    best_metric: str | None = None
    early_stopping: bool = True
    early_stopping_metric: str | None = None
    patience: int | None = None
    modality_dropout: float = 0.1
    fusion_guard: bool = True
    augment_image: str = "none"
    augment_flip: bool = True
    augment_text: str = "none"
    feature_cache: bool = True
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    image_size: int = 64
    image_fit: str = "crop"
    max_len: int | None = None
    tokenizer: str = "word"
    vocab_min_freq: int = 2
    vocab_max_size: int = 20_000
    eval_every_epochs: int = 1
    log_every_steps: int = 10
    checkpoint_every_s: float = 30.0

    def __post_init__(self) -> None:
        for name, check in _TRAIN_CHECKS.items():
            object.__setattr__(self, name, check(name, getattr(self, name)))

    def monitor_for(self, task: str | None) -> str:
        """The metric that picks the best checkpoint, stops early and drives ``plateau`` for a model of
        ``task``: ``best_metric``, else the early-stopping metric, else the task's key metric on val."""
        return self.best_metric or self.early_stopping_metric or default_monitor(task)

    @property
    def monitor(self) -> str:
        """:meth:`monitor_for` a classification (a run fills ``best_metric`` in for its own task)."""
        return self.monitor_for(None)

    @property
    def monitor_mode(self) -> str:
        """``"min"`` or ``"max"``: which way :attr:`monitor` improves."""
        return metric_mode(self.monitor)

    @property
    def stops_early(self) -> bool:
        """Whether the run stops when the monitored metric stalls (naming an early-stopping metric
        turns it on, as it always did)."""
        return self.early_stopping or self.early_stopping_metric is not None

    def augments(self, modality: str) -> bool:
        """Whether training batches of ``modality`` (``"text"`` or ``"image"``) are augmented."""
        if modality == "image":
            return self.augment_image != "none"
        if modality == "text":
            return self.augment_text != "none"
        raise ValueError(f"unknown modality {modality!r}; choose text or image")

    def describe_augmentation(self, *, text: bool = True, image: bool = True) -> str:
        """:func:`describe_augmentation` of this spec's levels, for a model that reads ``text`` and / or
        ``image`` (a modality it does not read is not augmented)."""
        return describe_augmentation(
            self.augment_image if image else "none", self.augment_flip, self.augment_text if text else "none"
        )

    def warmup_for(self, total_steps: int) -> int:
        """Warm-up length in optimiser steps for a run of ``total_steps``, never longer than the run."""
        steps = (
            self.warmup_steps if self.warmup_steps is not None else round(self.warmup_fraction * total_steps)
        )
        return max(0, min(steps, total_steps))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_dict` gives back an equal spec."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        """The spec of :meth:`to_dict`. Missing keys take their defaults (a spec saved by an older
        mmstudio still loads); unknown keys are refused with the list of valid ones."""
        _refuse_unknown("train spec", data, cls)
        return cls(**data)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> TrainSpec:
        """The spec a run recorded, meaning what it meant when it was recorded. A spec stored before
        ``best_metric`` existed trained with its early-stopping metric, else ``val/loss``, picking the
        best checkpoint, and stopped early only when an early-stopping metric was named: those are
        filled in, so resuming it goes on as it began. (Such a spec holds concrete ``patience``,
        ``max_len`` and ``class_weights``: every stored spec held every field.)"""
        data = dict(data)
        if "best_metric" not in data:
            named = data.get("early_stopping_metric")
            data["best_metric"] = named or LEGACY_MONITOR
            data.setdefault("early_stopping", named is not None)
            data.setdefault("modality_dropout", 0.0)
        data.setdefault("fusion_guard", False)  # a spec stored before the fusion guard goes on without it
        return cls.from_dict(data)


_TRAIN_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "epochs": _integer(1, 100_000),
    "batch_size": _integer(1, 1 << 16),
    "lr": _number(0.0, 10.0, low_open=True),
    "backbone_lr_scale": _number(0.0, 10.0, low_open=True),
    "gradient_checkpointing": _flag,
    "optimizer": _choice(OPTIMIZERS),
    "weight_decay": _number(0.0),
    "momentum": _number(0.0, 1.0, high_open=True),
    "schedule": _choice(SCHEDULES),
    "warmup_steps": _integer(0, optional=True),
    "warmup_fraction": _number(0.0, 1.0, high_open=True),
    "step_size": _integer(1),
    "gamma": _number(0.0, 1.0, low_open=True),
    "plateau_patience": _integer(0),
    "grad_clip": _number(0.0, low_open=True, optional=True),
    "accumulation": _integer(1, 1024),
    "precision": _choice(PRECISIONS),
    "class_weights": _optional_flag,
    "best_metric": _monitor,
    "early_stopping": _flag,
    "early_stopping_metric": _monitor,
    "patience": _integer(1, optional=True),
    "modality_dropout": _number(0.0, 1.0),
    "fusion_guard": _flag,
    "augment_image": _choice(AUGMENT_LEVELS),
    "augment_flip": _flag,
    "augment_text": _choice(AUGMENT_LEVELS),
    "feature_cache": _flag,
    "seed": _integer(0, _MAX_SEED),
    "device": _device,
    "num_threads": _integer(1, 1024, optional=True),
    "image_size": _integer(8, 2048),
    "image_fit": _choice(IMAGE_FITS),
    "max_len": _integer(1, 8192, optional=True),
    "tokenizer": _choice(TOKENIZERS),
    "vocab_min_freq": _integer(1),
    "vocab_max_size": _integer(2, 10_000_000),
    "eval_every_epochs": _integer(1),
    "log_every_steps": _integer(1),
    "checkpoint_every_s": _number(0.0, 86_400.0),
}


def describe_augmentation(image: str = "none", flip: bool = True, text: str = "none") -> str:
    """The augmentation of training batches in a few words (the run log, ``train --check``, the Train
    page): ``"images light (crop, flip) and text strong (token dropout, span masking)"``, or ``"none"``.
    The levels themselves are built by :mod:`mmstudio.training.augment`."""
    parts = []
    if image != "none":
        ops = ["crop", "flip"] if flip else ["crop"]
        if image == "strong":
            ops += ["colour jitter", "TrivialAugment"]
        parts.append(f"images {image} ({', '.join(ops)})")
    if text != "none":
        ops = ["token dropout", "span masking"] if text == "strong" else ["token dropout"]
        parts.append(f"text {text} ({', '.join(ops)})")
    return " and ".join(parts) if parts else "none"


def _refuse_unknown(what: str, data: Any, cls: type) -> None:
    if not isinstance(data, dict):
        raise TypeError(f"a {what} must be a dict, not {type(data).__name__}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown {what} key(s) {', '.join(map(str, unknown))}; valid keys: {', '.join(valid)}"
        )


@dataclass(frozen=True)
class RunJob:
    """Everything one training run needs, as plain data (it crosses a ``spawn`` process boundary).

    ``model`` is the ModelSpec as a dict (``ModelSpec.to_dict()``; an object with ``to_dict()`` is
    converted on construction), so this module need not import the models package. It is copied
    through JSON on construction: a job is detached from the caller's dict and is proven JSON-safe.
    ``resume_run_id`` continues that run from its last checkpoint instead of starting a new one.
    """

    dataset: DatasetSpec
    model: dict[str, Any]
    train: TrainSpec = field(default_factory=TrainSpec)
    name: str | None = None
    db_url: str | None = None
    experiment: str | None = None
    resume_run_id: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dataset, dict):
            object.__setattr__(self, "dataset", DatasetSpec.from_dict(self.dataset))
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", TrainSpec.from_dict(self.train))
        if not isinstance(self.dataset, DatasetSpec) or not isinstance(self.train, TrainSpec):
            raise TypeError("a RunJob needs a DatasetSpec (or its dict) and a TrainSpec (or its dict)")
        object.__setattr__(self, "model", _model_dict(self.model))
        for name in ("name", "db_url", "experiment"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string or null, not {value!r}")
        _integer(1, optional=True)("resume_run_id", self.resume_run_id)

    @property
    def task(self) -> str:
        """The model's task (``classification`` unless the model spec names another)."""
        return self.model.get("task", "classification")

    @property
    def title(self) -> str:
        """One line naming the job for a person (the Train page's queue): its name (else ``new run`` or
        ``resume run 7``), its encoders and fusion (``default model`` when the spec names none, as
        training then picks the default for the data), epochs, batch size and learning rate."""
        parts = [name for slot in SLOTS[:3] if (name := component_name(self.model.get(slot)))]
        architecture = " + ".join(parts) if parts else "default model"
        lead = self.name or (f"resume run {self.resume_run_id}" if self.resume_run_id else "new run")
        train = self.train
        epochs = plural(train.epochs, "epoch")
        return f"{lead} · {architecture} · {epochs}, batch {train.batch_size}, lr {train.lr:.3g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RUN_JOB_VERSION,
            "dataset": self.dataset.to_dict(),
            "model": json.loads(json.dumps(self.model)),
            "train": self.train.to_dict(),
            "name": self.name,
            "db_url": self.db_url,
            "experiment": self.experiment,
            "resume_run_id": self.resume_run_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunJob:
        data = dict(data)
        version = data.pop("version", RUN_JOB_VERSION)
        if version != RUN_JOB_VERSION:
            raise ValueError(
                f"run job version {version!r} is not supported (this mmstudio reads version "
                f"{RUN_JOB_VERSION}); update mmstudio"
            )
        _refuse_unknown("run job", data, cls)
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> RunJob:
        return cls.from_dict(json.loads(text))


def _model_dict(model: Any) -> dict[str, Any]:
    if hasattr(model, "to_dict"):
        model = model.to_dict()
    if not isinstance(model, dict):
        raise TypeError(f"model must be a ModelSpec dict, not {type(model).__name__}")
    try:
        model = json.loads(json.dumps(model, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the model spec is not plain JSON data ({exc}); use ModelSpec.to_dict()") from None
    check_task(model.get("task", "classification"))
    return model


# --- spec files -----------------------------------------------------------------------------------


#: A spec file is a few kilobytes; a larger one is refused before it is read into memory.
MAX_SPEC_BYTES = 16 << 20


def read_limited(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, refusing (``OSError`` with a reason) a FIFO, a device or a
    folder (which would block or never end) and a file over ``limit`` bytes, without reading it."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of blocking
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"it is not a regular file, so it cannot be a {what}")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"it is {info.st_size:,} bytes, over the {limit:,} a {what} may have")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"it is over the {limit:,} bytes a {what} may have")
    return data


def read_spec_file(path: str | os.PathLike[str], what: str = "model spec") -> dict[str, Any]:
    """The JSON object a spec file holds (not validated: the caller knows which spec it is). Raises
    ``OSError`` for a file that cannot be read and ``ValueError`` for one that is not a JSON object,
    each with a message that names the file."""
    path = Path(path)
    try:
        text = read_limited(path, MAX_SPEC_BYTES, what).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"{exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OSError(f"Could not read the {what} {path}: {reason}") from exc
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer of thousands of digits
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{path.name} is not a {what}: it is not valid JSON ({reason})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a {what}: it holds a JSON {type(data).__name__}, not an object")
    return data


#: The name the Model page's Save suggests for a model spec on Linux: the desktop's file type for model
#: specs (``packaging/linux/mmstudio-mime.xml``) is matched by it, so a file manager opens it in mmstudio,
#: and it still says JSON to editors.
MODEL_SPEC_SUFFIX = ".mmspec.json"
#: The name Save suggests on macOS and Windows. Their desktops match a file type by the last part of the
#: name only (Finder's ``public.filename-extension``, Explorer's ``HKCR\.ext``), so ``.mmspec.json``
#: is plain JSON to them; ``.mmspec`` is what the app bundle and the installer declare as mmstudio's.
MODEL_SPEC_SHORT_SUFFIX = ".mmspec"
#: Every name that makes a file a model spec, whatever it holds (the Model page says what is wrong with
#: a broken one); the desktop files of every platform declare these (``packaging/``).
MODEL_SPEC_SUFFIXES = (MODEL_SPEC_SUFFIX, MODEL_SPEC_SHORT_SUFFIX)
#: The keys that make a JSON object a model spec rather than a dataset (a COCO file, a JSON manifest).
_MODEL_SPEC_KEYS = ("text_encoder", "image_encoder", "fusion")


def model_spec_suffix(platform: str | None = None) -> str:
    """The name Save suggests for a model spec on ``platform`` (``sys.platform`` by default): the one
    the platform's desktop opens in mmstudio when the file is double-clicked."""
    platform = sys.platform if platform is None else platform
    return MODEL_SPEC_SHORT_SUFFIX if platform in ("darwin", "win32") else MODEL_SPEC_SUFFIX


def model_spec_save_path(chosen: str, platform: str | None = None) -> str:
    """The file Save writes when ``chosen`` was typed in its dialog: kept when it ends in a model spec's
    name or ``.json``, else with the platform's suffix (:func:`model_spec_suffix`) added."""
    if chosen.lower().endswith((*MODEL_SPEC_SUFFIXES, ".json")):
        return chosen
    return chosen + model_spec_suffix(platform)


def is_model_spec_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a saved model spec (``mmstudio model.mmspec.json`` opens it on the Model page;
    any other path is a dataset): a file named as one (:data:`MODEL_SPEC_SUFFIXES`, as a file manager
    that opened it with mmstudio saw it), or a ``.json`` file holding an object with a text encoder, an
    image encoder or a fusion. Not validated here: the Model page says what is wrong with a broken one."""
    path = Path(path)
    if not path.name.lower().endswith((*MODEL_SPEC_SUFFIXES, ".json")) or not path.is_file():
        return False
    if path.name.lower().endswith(MODEL_SPEC_SUFFIXES):
        return True
    try:
        data = read_spec_file(path)
    except (OSError, ValueError):
        return False
    return any(key in data for key in _MODEL_SPEC_KEYS)


def open_path_problem(path: str) -> str | None:
    """Why ``mmstudio PATH`` cannot open ``path`` (it does not exist, and is no pattern of shards), in the
    words the command line and the desktop app both say it; None when it is there to be opened."""
    from mmstudio.data.sources import is_pattern

    if os.path.exists(os.path.expanduser(path)) or is_pattern(path):
        return None
    return f"{path} does not exist; 'mmstudio PATH' opens an existing dataset folder or file"


def write_spec_file(path: str | os.PathLike[str], spec: dict[str, Any], what: str = "model spec") -> Path:
    """Write ``spec`` as indented JSON, atomically (a temporary file renamed into place: a failed write
    leaves the old file whole). Raises ``OSError`` with a message that names the file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OSError(f"Could not save the {what} to {path}: {exc.strerror or exc}") from exc
    return path
