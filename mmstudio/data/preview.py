"""The first rows of a dataset's table or shard, as text: what the column-mapping dialog shows.

Each format that lets the user choose its column roles previews its files (``FormatReader.preview``):
a manifest or an imagefolder's metadata file shows its first rows
(:func:`mmstudio.data.formats._table.table_preview`), a WebDataset shard its first samples, one column
per member extension and per key of a ``.json`` member (:func:`mmstudio.data.formats.webdataset.
shard_preview`). Cells are cut to ``CELL_CHARS`` characters, line breaks shown as spaces. Runs off the
GUI thread. What it gives is a :class:`~mmstudio.data.types.Preview`. Control characters are shown as
escapes (:func:`mmstudio.formatting.printable_text`).
"""

from __future__ import annotations

from pathlib import Path

from mmstudio.data._common import CLASS_FOLDER, SPLIT_FILE_NAME, SPLIT_FOLDER
from mmstudio.data.formats import get_reader
from mmstudio.data.types import Preview
from mmstudio.formatting import printable_text

__all__ = [
    "CELL_CHARS",
    "CLASS_FOLDER",
    "PREVIEW_ROWS",
    "PSEUDO_COLUMNS",
    "SPLIT_FILE_NAME",
    "SPLIT_FOLDER",
    "Preview",
    "cell_text",
    "read_preview",
]

PREVIEW_ROWS = 50
CELL_CHARS = 200
# Roles a dataset's layout plays rather than a column (class folders, split folders, per-split files):
# the names :class:`~mmstudio.data.types.ColumnRoles` takes for them.
PSEUDO_COLUMNS = (CLASS_FOLDER, SPLIT_FOLDER, SPLIT_FILE_NAME)


def read_preview(format: str, files: list[Path], limit: int = PREVIEW_ROWS) -> Preview:
    """The first ``limit`` rows of the first file, as the format previews them (a manifest's or an
    imagefolder's table, a WebDataset shard's samples). Raises the core's ``DatasetFormatError`` when
    the file cannot be read, ``ValueError`` for a format without columns to choose."""
    if not files:
        raise ValueError(f"a {format} dataset without files has no columns to choose")
    reader = get_reader(format)
    if reader.preview is None:
        raise ValueError(f"the {format} format takes its roles from its layout: it has no columns to choose")
    return reader.preview(Path(files[0]), limit)


def cell_text(value: object) -> str:
    """A cell as the preview shows it: text on one line, at most ``CELL_CHARS`` characters."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = printable_text(str(value))  # line breaks as spaces, control characters as escapes
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
