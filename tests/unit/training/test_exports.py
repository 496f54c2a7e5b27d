"""Which export formats are offered: known without importing torch, and a missing package named."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from mmstudio.training import exports
from mmstudio.training.exports import EXPORT_FORMATS, ExportUnavailable, check_format, format_available


def test_an_unknown_format_lists_the_ones_that_exist():
    with pytest.raises(ValueError, match="onnx or torchscript"):
        check_format("pickle")


def test_torchscript_needs_nothing_more_and_onnx_needs_its_package(monkeypatch):
    assert format_available("torchscript")
    check_format("torchscript")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        exports.importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    assert not exports.onnx_available()
    with pytest.raises(ExportUnavailable, match="pip install onnx"):
        check_format("onnx")


def test_asking_imports_no_torch():
    code = (
        "import sys; from mmstudio.training.exports import onnx_available; onnx_available();"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert set(EXPORT_FORMATS) == {"onnx", "torchscript"}
