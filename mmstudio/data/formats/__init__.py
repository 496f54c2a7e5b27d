"""The dataset formats: a registry from format name to its reader.

Each format module offers ``locate(path) -> Detection | None`` (is this path a dataset of mine? which
files?) and ``read(detection, columns=None, *, cancel=None) -> DatasetSource``. :mod:`mmstudio.data.detect`
tries the formats in a fixed order; an explicit format name skips the guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmstudio.data._common import Detection
from mmstudio.data.formats import coco, imagefolder, manifest, sidecar, webdataset
from mmstudio.data.types import DatasetFormatError, DatasetSource


@dataclass(frozen=True)
class FormatReader:
    """One format: how to find its files under a path, how to read them, and what it expects."""

    name: str
    locate: Callable[[Path], Detection | None]
    read: Callable[..., DatasetSource]
    expects: str


READERS: dict[str, FormatReader] = {
    m.__name__.rsplit(".", 1)[1]: FormatReader(m.__name__.rsplit(".", 1)[1], m.locate, m.read, m.EXPECTS)
    for m in (manifest, imagefolder, sidecar, coco, webdataset)
}


def get_reader(name: str) -> FormatReader:
    """The reader registered as ``name``; an unknown name raises an error listing the formats."""
    try:
        return READERS[name]
    except KeyError:
        known = ", ".join(READERS)
        raise DatasetFormatError(f"unknown dataset format {name!r}; choose one of: {known}") from None


def available_formats() -> list[str]:
    return list(READERS)


__all__ = ["READERS", "Detection", "FormatReader", "available_formats", "get_reader"]
