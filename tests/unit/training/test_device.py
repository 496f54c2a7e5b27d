"""Device and precision resolution: auto picks the best device, an absent one is a clear error."""

import subprocess
import sys

import pytest
import torch

from mmstudio.training.device import (
    DeviceUnavailableError,
    available_devices,
    describe_device,
    is_out_of_memory,
    memory_in_use,
    normalize_precision,
    probe_devices,
    resolve_device,
    resolve_precision,
)

CUDA = torch.cuda.is_available()
MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
CPU = torch.device("cpu")


def test_auto_prefers_cuda_then_mps_then_cpu():
    expected = "cuda" if CUDA else "mps" if MPS else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


def test_cpu_is_always_available():
    assert resolve_device("cpu") == CPU
    assert resolve_device(" CPU ") == CPU
    names = [d.name for d in available_devices()]
    assert names[-1] == "cpu"
    assert all(d.description for d in available_devices())


@pytest.mark.skipif(CUDA, reason="this machine has a CUDA GPU")
def test_absent_cuda_is_a_clear_error_listing_what_exists():
    for request in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(DeviceUnavailableError, match=r"not available on this machine \(available: .*cpu"):
            resolve_device(request)


@pytest.mark.skipif(MPS, reason="this machine has an Apple GPU")
def test_absent_mps_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="'mps' is not available"):
        resolve_device("mps")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_devices_are_named_with_memory():
    cuda = [d for d in available_devices() if d.kind == "cuda"]
    assert cuda and all(d.memory_bytes and "GiB" in d.description for d in cuda)
    assert resolve_device("cuda") == torch.device("cuda", torch.cuda.current_device())
    with pytest.raises(DeviceUnavailableError):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
    assert "GiB" in describe_device(torch.device("cuda", 0))


def test_unknown_device_name():
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


def test_cpu_trains_in_fp32_without_autocast_or_scaler():
    for request in ("auto", "fp32"):
        precision = resolve_precision(request, CPU)
        assert (precision.name, precision.autocast_dtype, precision.use_scaler) == ("fp32", None, False)
        assert precision.note == ""
    for request in ("bf16", "fp16"):
        precision = resolve_precision(request, CPU)
        assert precision.name == "fp32" and "needs a CUDA GPU" in precision.note
    assert not resolve_precision("auto", CPU).grad_scaler().is_enabled()


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_mixed_precision():
    device = torch.device("cuda", 0)
    auto = resolve_precision("auto", device)
    if torch.cuda.is_bf16_supported():
        assert (auto.name, auto.autocast_dtype, auto.use_scaler) == ("bf16", torch.bfloat16, False)
    else:
        assert (auto.name, auto.use_scaler) == ("fp16", True)
    fp16 = resolve_precision("fp16", device)
    assert fp16.use_scaler and fp16.grad_scaler().is_enabled()
    with fp16.autocast():
        assert (torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)).dtype == torch.float16


def test_precision_names_and_aliases():
    assert normalize_precision("bf16-mixed") == "bf16"
    assert normalize_precision("16") == "fp16"
    assert normalize_precision(None) == "auto"
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        normalize_precision("int8")


def test_memory_in_use_on_cpu_is_the_resident_set():
    used = memory_in_use(CPU)
    assert used is not None and used > 10 * 2**20  # torch alone is bigger than 10 MiB


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_the_probe_lists_the_devices_from_a_helper_process():
    """The desktop app lists the devices without importing torch: importing the module does not, and
    :func:`probe_devices` asks a helper process, which sees what this one sees."""
    assert probe_devices() == available_devices()
    code = "import sys, mmstudio.training.device\nprint('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
