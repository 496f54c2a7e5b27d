"""Which device and numeric precision a run trains with, and how much memory it uses.

``auto`` picks CUDA, then Apple MPS, then the CPU. Asking for a device that is not there is an
error that says what is there, never a silent fall-back: a user who asked for a GPU must know they
did not get one. Mixed precision (autocast) is used only on CUDA, where it pays: bf16 when the GPU
supports it (no loss scaling needed), else fp16 with a ``GradScaler``; everything else trains in fp32.

Importing this module does not import torch (each function does, when called): :func:`probe_devices`
lists the devices from a helper process, for a caller that should neither load torch nor initialise
CUDA itself (the desktop app). ``python -m mmstudio.training.device`` prints them as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
_PRECISION_ALIASES = {
    "32": "fp32",
    "float32": "fp32",
    "full": "fp32",
    "bf16-mixed": "bf16",
    "bfloat16": "bf16",
    "16": "fp16",
    "16-mixed": "fp16",
    "float16": "fp16",
    "half": "fp16",
}


class DeviceUnavailableError(ValueError):
    """The requested device does not exist on this machine; the message lists those that do."""


@dataclass(frozen=True)
class DeviceInfo:
    """One device a run can use: ``name`` is what ``--device`` takes (``cuda:0``), ``description``
    what a person reads (``NVIDIA H200, 139.8 GiB``)."""

    name: str
    kind: str
    description: str
    memory_bytes: int | None = None


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[DeviceInfo]:
    """Every device this machine can train on, best first (GPUs, then MPS, then the CPU)."""
    import torch

    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gib = props.total_memory / 2**30
            devices.append(
                DeviceInfo(f"cuda:{index}", "cuda", f"{props.name}, {gib:.1f} GiB", int(props.total_memory))
            )
    if _mps_available():
        devices.append(DeviceInfo("mps", "mps", "Apple GPU (Metal)"))
    cpus = os.cpu_count() or 1
    devices.append(DeviceInfo("cpu", "cpu", f"CPU, {cpus} logical cores"))
    return devices


def probe_devices(timeout: float = 300.0) -> list[DeviceInfo]:
    """:func:`available_devices`, listed by a helper process (``python -m mmstudio.training.device``):
    the caller neither imports torch nor initialises CUDA, and keeps none of the memory they take
    (the desktop app lists the devices so). Raises ``subprocess.CalledProcessError`` or
    ``subprocess.TimeoutExpired`` when the helper fails, ``ValueError`` when its answer is garbled."""
    done = subprocess.run(
        [sys.executable, "-m", __name__], capture_output=True, text=True, timeout=timeout, check=True
    )
    lines = done.stdout.splitlines()
    if not lines:
        raise ValueError("the device probe printed nothing")
    return [DeviceInfo(**row) for row in json.loads(lines[-1])]  # the last line: torch may print before


def _absent(request: str) -> DeviceUnavailableError:
    names = ", ".join(d.name for d in available_devices())
    return DeviceUnavailableError(
        f"device {request!r} is not available on this machine (available: {names}); "
        "choose one of them or 'auto'"
    )


def resolve_device(request: str | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` for ``request`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Raises :class:`DeviceUnavailableError` when the device is not present, and ``ValueError`` for a
    name that is no device at all.
    """
    import torch

    text = "auto" if request is None else str(request).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"unknown device {request!r}; use one of {', '.join(DEVICE_CHOICES)} or cuda:N"
        ) from exc
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise _absent(text)
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise _absent(text)
        return torch.device("cuda", index)
    if device.type == "mps":
        if not _mps_available():
            raise _absent(text)
        return torch.device("mps")
    raise ValueError(f"unsupported device {request!r}; use one of {', '.join(DEVICE_CHOICES)} or cuda:N")


def describe_device(device: torch.device) -> str:
    """A person's name for ``device``: ``cuda:0 (NVIDIA H200, 139.8 GiB)``, ``cpu``."""
    import torch

    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    return str(device)


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs: ``name`` is ``fp32``, ``bf16`` or ``fp16``; ``autocast_dtype`` is
    ``None`` for plain fp32; ``use_scaler`` is true for fp16 (its small range needs loss scaling).
    ``note`` explains a request that could not be honoured (bf16 asked on a CPU)."""

    name: str
    device_type: str
    autocast_dtype: torch.dtype | None = None
    use_scaler: bool = False
    note: str = field(default="", compare=False)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context the forward pass and loss run in (a no-op for fp32)."""
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is active only for fp16 (a disabled one is a cheap pass-through)."""
        import torch

        return torch.amp.GradScaler(self.device_type, enabled=self.use_scaler)


def _bf16_supported() -> bool:
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported())
    except (RuntimeError, AssertionError):
        return False


def normalize_precision(request: str | None) -> str:
    text = "auto" if request is None else str(request).strip().lower()
    text = _PRECISION_ALIASES.get(text, text)
    if text not in PRECISION_CHOICES:
        raise ValueError(f"unknown precision {request!r}; use one of {', '.join(PRECISION_CHOICES)}")
    return text


def resolve_precision(request: str | None, device: torch.device) -> Precision:
    """The precision to train with on ``device``.

    ``auto`` means bf16 on a CUDA GPU that supports it, else fp16 on CUDA, else fp32. Mixed precision
    is used only on CUDA: on the CPU or MPS a request for bf16 / fp16 trains in fp32, with a note saying
    so (autocast there is slower or unsupported for many ops, and results would differ between machines).
    """
    import torch

    wanted = normalize_precision(request)
    fp32 = Precision("fp32", device.type)
    if wanted == "fp32":
        return fp32
    if device.type != "cuda":
        if wanted == "auto":
            return fp32
        return Precision("fp32", device.type, note=f"{wanted} needs a CUDA GPU; training in fp32 on {device}")
    if wanted in ("auto", "bf16") and _bf16_supported():
        return Precision("bf16", "cuda", torch.bfloat16)
    note = "this GPU does not support bf16; training in fp16 with loss scaling" if wanted == "bf16" else ""
    return Precision("fp16", "cuda", torch.float16, use_scaler=True, note=note)


def _rss_bytes() -> int | None:
    """The resident set size of this process, without psutil."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # macOS: bytes; peak, the best it offers
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def memory_in_use(device: torch.device) -> int | None:
    """Bytes in use: tensors allocated on a CUDA or MPS device, else the process's resident set."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    if device.type == "mps":
        with contextlib.suppress(AttributeError, RuntimeError):
            return int(torch.mps.current_allocated_memory())
    return _rss_bytes()


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for queued work on ``device`` (for timing); a no-op on the CPU."""
    import torch

    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error: CUDA's, MPS's, or the CPU allocator's."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_cached_memory(device: torch.device) -> None:
    """Give cached blocks back after an out-of-memory error, so the process can still evaluate or save."""
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        with contextlib.suppress(AttributeError, RuntimeError):
            torch.mps.empty_cache()


if __name__ == "__main__":  # the helper process of probe_devices
    print(json.dumps([dataclasses.asdict(device) for device in available_devices()]))
