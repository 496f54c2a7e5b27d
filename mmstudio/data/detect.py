"""What kind of dataset a path is: :func:`detect_format`.

A path may be a folder, a manifest or COCO file, a tar shard, or a shard pattern. Formats are tried in
a fixed order, the most specific first (an imagefolder's ``metadata.csv`` is also a table; a manifest
folder may also hold images with ``.txt`` files), and the answer says what was chosen and why.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmstudio.data._common import Detection, is_image_name, list_dir, list_names
from mmstudio.data.formats import get_reader, manifest, webdataset
from mmstudio.data.types import DatasetFormatError

FOLDER_ORDER = ("imagefolder", "coco", "webdataset", "manifest", "sidecar")
FILE_ORDER = ("imagefolder", "webdataset", "coco", "manifest")
_LOOKED_FOR = (
    "a manifest (.csv, .tsv, .jsonl, .json, .parquet), metadata.jsonl / metadata.csv (Hugging Face "
    "imagefolder), a COCO captions .json, .tar shards (WebDataset) or class folders of images with .txt "
    "captions (sidecar)"
)


def detect_format(path: str | os.PathLike, format: str | None = None) -> Detection:
    """Find out which format ``path`` is in (or, with ``format``, find that format's files under it).

    Raises :class:`DatasetFormatError` saying what was looked for and what to do when nothing fits.
    """
    text = os.path.expanduser(os.fspath(path))
    p = Path(text)
    if not p.exists() and webdataset.is_pattern(text):
        detection = webdataset.locate_pattern(text)
        if format not in (None, "webdataset"):
            raise DatasetFormatError(f"{text} is a shard pattern, which only the webdataset format reads")
        return detection
    if not p.exists():
        raise DatasetFormatError(f"{text} does not exist; give the path of a dataset folder or file")
    p = p.absolute()
    if format is not None:
        reader = get_reader(format)
        detection = reader.locate(p)
        if detection is None:
            raise DatasetFormatError(f"{p} is not a {format} dataset: {format} expects {reader.expects}")
        return detection
    for name in FOLDER_ORDER if p.is_dir() else FILE_ORDER:
        detection = get_reader(name).locate(p)
        if detection is not None:
            return detection
    raise _not_recognised(p)


def _not_recognised(p: Path) -> DatasetFormatError:
    # No "choose the format" advice: every reader was asked already (an explicit format asks the same
    # reader), so naming one only decides between formats that all take the path.
    if p.is_file():
        if is_image_name(p.name):
            return DatasetFormatError(f"{p} is a single image; give the dataset's folder or manifest")
        return DatasetFormatError(
            f"{p} is not a dataset file mmstudio knows: expected {_LOOKED_FOR}. Rename or convert it to "
            f"one of them"
        )
    manifests = manifest.candidates_in(p)
    if len(manifests) > 1:
        return DatasetFormatError(
            f"{p} holds several manifests ({list_names(m.name for m in manifests)}) whose names do not "
            f"say their split; give the path of the one to use"
        )
    dirs, files = list_dir(p)
    kinds = sorted({f.suffix.lower() or f.name for f in files})
    found = f"it holds {_count(len(dirs), 'folder')} and {_count(len(files), 'file')}"
    if files:
        found += f" ({list_names(kinds[:8])})"
    return DatasetFormatError(
        f"no dataset found in {p}: looked for {_LOOKED_FOR}, and {found}. Point to the dataset folder or file"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"
