"""The dataset layer (Qt-free, torch-free): formats, validation, splits, images, caches, demo data.

The names below are imported lazily, so ``import mmstudio.data`` stays cheap (no NumPy, no Pillow)
until one of them is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_dataset": "mmstudio.data.dataset",
    "read_source": "mmstudio.data.dataset",
    "Dataset": "mmstudio.data.dataset",
    "LoadOptions": "mmstudio.data.dataset",
    "detect_format": "mmstudio.data.detect",
    "Detection": "mmstudio.data._common",
    "available_formats": "mmstudio.data.formats",
    "guess_roles": "mmstudio.data.columns",
    "fingerprint": "mmstudio.data.fingerprint",
    "Cancelled": "mmstudio.progress",
    "ColumnRoles": "mmstudio.data.types",
    "ColumnsUnknown": "mmstudio.data.types",
    "DatasetFormatError": "mmstudio.data.types",
    "DatasetSource": "mmstudio.data.types",
    "FORMATS": "mmstudio.data.formats",
    "ImageRef": "mmstudio.data.types",
    "Item": "mmstudio.data.types",
    "Problem": "mmstudio.data.types",
    "ProblemKind": "mmstudio.data.types",
    "Record": "mmstudio.data.types",
    "SPLITS": "mmstudio.data.types",
    "SeveralDatasets": "mmstudio.data.types",
    "ValidationReport": "mmstudio.data.types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
