"""What kind of dataset a path is: :func:`detect_format`.

A path may be a folder, a manifest or COCO file, a tar shard, or a shard pattern. The formats are asked
in the order of their ranks (:func:`mmstudio.data.formats.detection_order`), the most specific first (an
imagefolder's ``metadata.csv`` is also a table; a manifest folder may also hold images with ``.txt``
files), and the answer says what was chosen and why.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from mmstudio.data._common import Detection, file_kind, is_image_name, list_dir, list_names
from mmstudio.data.formats import FormatReader, detection_order, get_reader, looked_for, readers
from mmstudio.data.types import DatasetFormatError, SeveralDatasets
from mmstudio.formatting import plural


def detect_format(path: str | os.PathLike, format: str | None = None) -> Detection:
    """Find out which format ``path`` is in (or, with ``format``, find that format's files under it).

    Raises :class:`DatasetFormatError` saying what was looked for and what to do when nothing fits,
    :class:`SeveralDatasets` (with the files to choose from) for a folder that holds several datasets.
    """
    text = os.path.expanduser(os.fspath(path))
    p = Path(text)
    if not p.exists():
        for reader in readers():
            if reader.locate_pattern is None or reader.is_pattern is None or not reader.is_pattern(text):
                continue
            if format not in (None, reader.name):
                raise DatasetFormatError(
                    f"{text} is a pattern of {reader.title}, which only the {reader.name} format reads"
                )
            return reader.locate_pattern(text)
        raise DatasetFormatError(f"{text} does not exist; give the path of a dataset folder or file")
    p = p.absolute()
    if not p.is_dir() and not p.is_file():  # a FIFO, a device, a socket: nothing to detect, nothing to read
        raise DatasetFormatError(
            f"{p} is {file_kind(p.stat().st_mode)}, not a dataset file or folder; give the path of a dataset "
            f"folder or file"
        )
    if format is not None:
        reader = get_reader(format)
        detection = reader.locate(p)
        if detection is None:
            near = _near_miss(reader, p) if p.is_dir() else None
            raise near or DatasetFormatError(
                f"{p} is not a {format} dataset: {format} expects {reader.expects}"
            )
        return _named(detection, p)
    for reader in detection_order(folder=p.is_dir()):
        detection = reader.locate(p)
        if detection is not None:
            return _named(detection, p)
    raise _not_recognised(p)


def _named(detection: Detection, path: Path) -> Detection:
    """The detection of a file the user named: that file is read wherever it leads (every other file
    only inside the dataset folder)."""
    return dataclasses.replace(detection, named=path) if path in detection.paths else detection


def _near_miss(reader: FormatReader, folder: Path) -> DatasetFormatError | None:
    """Why ``folder`` is almost a dataset of ``reader``'s format (with the files to choose from when it
    holds several), or None."""
    message = reader.near_miss(folder) if reader.near_miss is not None else None
    if not message:
        return None
    choices = reader.choices(folder) if reader.choices is not None else []
    return SeveralDatasets(message, folder, choices) if choices else DatasetFormatError(message)


def _not_recognised(p: Path) -> DatasetFormatError:
    # No "choose the format" advice: every reader was asked already (an explicit format asks the same
    # reader), so naming one only decides between formats that all take the path.
    if p.is_file():
        if is_image_name(p.name):
            return DatasetFormatError(f"{p} is a single image; give the dataset's folder or manifest")
        return DatasetFormatError(
            f"{p} is not a dataset file mmstudio knows: expected {looked_for()}. Rename or convert it to "
            f"one of them"
        )
    for reader in readers():  # a folder that is almost a dataset of some format: why it is not
        near = _near_miss(reader, p)
        if near is not None:
            return near
    dirs, files = list_dir(p)
    kinds = sorted({f.suffix.lower() or f.name for f in files})
    found = f"it holds {plural(len(dirs), 'folder')} and {plural(len(files), 'file')}"
    if files:
        found += f" ({list_names(kinds[:8])})"
    return DatasetFormatError(
        f"no dataset found in {p}: looked for {looked_for()}, and {found}. Point to the dataset folder or "
        f"file"
    )
