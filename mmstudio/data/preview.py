"""The first rows of a dataset's table or shard, as text: what the column-mapping dialog shows.

A manifest or an imagefolder's metadata file shows its first rows; a WebDataset shard shows its first
samples, one column per member extension (and per key of a ``.json`` member). Cells are cut to
``CELL_CHARS`` characters, line breaks shown as spaces. Runs off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mmstudio.data._common import CLASS_FOLDER, SPLIT_FILE_NAME, SPLIT_FOLDER

__all__ = [
    "CELL_CHARS",
    "CLASS_FOLDER",
    "PREVIEW_ROWS",
    "PSEUDO_COLUMNS",
    "SPLIT_FILE_NAME",
    "SPLIT_FOLDER",
    "Preview",
    "read_preview",
]

PREVIEW_ROWS = 50
CELL_CHARS = 200
# Roles a dataset's layout plays rather than a column (class folders, split folders, per-split files):
# the names :class:`~mmstudio.data.types.ColumnRoles` takes for them.
PSEUDO_COLUMNS = (CLASS_FOLDER, SPLIT_FOLDER, SPLIT_FILE_NAME)


@dataclass(frozen=True)
class Preview:
    """The first rows of a dataset's table (or shard), as text, and the names the roles can take."""

    source: str
    columns: list[str]
    rows: list[dict[str, str]]
    choices: list[str] = field(default_factory=list)  # the columns a role may name (default: columns)

    def role_choices(self) -> list[str]:
        return list(self.choices or self.columns)


def read_preview(format: str, files: list[Path], limit: int = PREVIEW_ROWS) -> Preview:
    """The first ``limit`` rows of the first table (manifest, imagefolder metadata) or samples of the
    first shard (webdataset). Raises the core's ``DatasetFormatError`` when the file cannot be read."""
    if not files:
        raise ValueError(f"a {format} dataset without files has no columns to choose")
    first = Path(files[0])
    if format == "webdataset":
        return _shard_preview(first, limit)
    from mmstudio.data.formats._table import read_table  # here: the window imports this module at start

    table = read_table(first, first.name)
    rows = [{c: _cell_text(row.get(c)) for c in table.columns} for row in table.rows[:limit]]
    return Preview(first.name, list(table.columns), rows)


def _shard_preview(shard: Path, limit: int) -> Preview:
    from mmstudio.data.formats.webdataset import scan_shard

    samples, _ = scan_shard(shard, shard.name)
    rows: list[dict[str, str]] = []
    seen: dict[str, None] = {}
    for n, (key, fields) in enumerate(samples.items()):
        if n >= limit:
            break
        row = {"__key__": key}
        for name, value in fields.items():
            if name == "json" and isinstance(value, dict):
                row.update({f"json.{k}": _cell_text(v) for k, v in value.items()})
            else:
                row[name] = _cell_text(getattr(value, "name", value))
        seen.update(dict.fromkeys(row))
        rows.append(row)
    choices = [c for c in seen if c != "__key__"]
    return Preview(shard.name, list(seen), rows, sorted(choices))


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\n", " ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
