"""What a saved run can be exported as, and what each format needs beyond torch.

Torch-free, so the GUI can ask which formats to offer without importing torch;
:func:`mmstudio.training.inference.export_run` checks a format here before it writes one.
"""

from __future__ import annotations

import importlib.util

#: The formats ``mmstudio export --format`` and the Experiments page's Export offer.
EXPORT_FORMATS = ("onnx", "torchscript")
#: The package a format needs beyond torch, and what to do without it.
_NEEDS = {
    "onnx": ("onnx", "ONNX export needs the onnx package: pip install onnx (or use --format torchscript)"),
}


class ExportUnavailable(Exception):
    """The export format needs a package that is not installed (the message says which)."""


def format_available(format: str) -> bool:
    """Whether ``format`` can be written here (the packages it needs are installed)."""
    need = _NEEDS.get(format)
    return need is None or importlib.util.find_spec(need[0]) is not None


def onnx_available() -> bool:
    return format_available("onnx")


def check_format(format: str) -> None:
    """``ValueError`` for a format that does not exist, :class:`ExportUnavailable` for one whose package
    is missing."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose {' or '.join(EXPORT_FORMATS)}")
    if not format_available(format):
        raise ExportUnavailable(_NEEDS[format][1])
