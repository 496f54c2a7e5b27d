"""``imagefolder``: the Hugging Face layout.

``metadata.jsonl`` or ``metadata.csv`` beside the images, with a ``file_name`` column (paths relative to
the metadata file) and a text column, at the top of the dataset and/or in ``train/``, ``validation/``,
``test/`` folders (those are the splits). Without a label column, class folders are the labels
(``file_name`` = ``cat/001.png``), as ``datasets`` does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path, PurePosixPath

from mmstudio.data._common import (
    CLASS_FOLDER,
    IMAGEFOLDER_METADATA,
    SPLIT_FOLDER,
    Detection,
    list_dir,
    list_names,
    normalize_split,
    read_text_head,
    release,
    relpath,
)
from mmstudio.data.columns import resolve_roles
from mmstudio.data.formats import FormatReader
from mmstudio.data.formats._table import read_table, table_preview, table_records
from mmstudio.data.types import ColumnRoles, DatasetSource, Record


def locate(path: Path) -> Detection | None:
    if path.is_file():
        if path.name.lower() not in IMAGEFOLDER_METADATA:
            return None
        reason = f"{path.name}: the metadata file of a Hugging Face imagefolder"
        return Detection("imagefolder", reason, path.parent, [path])
    files = metadata_files(path)
    if not files:
        return None
    names = list_names(relpath(f, path) for f in files)
    if _has_file_name(files[0]):
        column = "a file_name column"
    else:
        column = "no file_name column (the image column is guessed)"
    reason = f"folder with {names} and {column}: Hugging Face imagefolder"
    return Detection("imagefolder", reason, path, files)


def metadata_files(folder: Path) -> list[Path]:
    """``metadata.jsonl`` (else ``metadata.csv``) at the top of ``folder`` and in each split folder."""
    found = []
    for where in [folder, *(d for d in list_dir(folder)[0] if normalize_split(d.name))]:
        for name in IMAGEFOLDER_METADATA:
            if (where / name).is_file():
                found.append(where / name)
                break
    return found


def _has_file_name(path: Path) -> bool:
    head = read_text_head(path, 65536)
    first = head.split("\n", 1)[0].strip()
    if path.suffix.lower() == ".jsonl":
        try:
            return "file_name" in json.loads(first)
        except (json.JSONDecodeError, TypeError):
            return False
    cells = first.replace(";", ",").replace("\t", ",").split(",")
    return "file_name" in [c.strip().strip('"') for c in cells]


def read(detection: Detection, columns: ColumnRoles | None = None, *, cancel=None) -> DatasetSource:
    root = detection.root
    tables = [read_table(p, relpath(p, root), cancel, root=detection.contain(p)) for p in detection.paths]
    first = next((t for t in tables if t.rows), tables[0])
    given = _given_roles(columns, first.columns)
    if any(t.rows for t in tables):
        guess = resolve_roles(first.columns, first.sample, given, first.source)
        roles, certain = guess.roles, guess.certain
    else:
        roles, certain = given or ColumnRoles(), False
    records: list[Record] = []
    for table, path in zip(tables, detection.paths, strict=True):
        prefix = relpath(path.parent, root)
        records += table_records(table, roles, image_prefix="" if prefix == "." else prefix)
    release(*(t.rows for t in tables))  # see manifest.read
    records, from_folders = _roles_from_folders(records, roles)
    shown = dataclasses.replace(
        roles,
        label=roles.label or (CLASS_FOLDER if "label" in from_folders else None),
        split=roles.split or (SPLIT_FOLDER if "split" in from_folders else None),
    )
    reason = detection.reason + "".join(f"; {what} from the folders" for what in sorted(from_folders))
    return DatasetSource(
        format="imagefolder",
        root=root,
        reason=reason,
        columns=shown,
        records=records,
        available_columns=first.columns,
        files=list(detection.paths),
        problems=[p for t in tables for p in t.problems],
        task="classification" if shown.label else "retrieval",
        roles_certain=certain,
    )


def _given_roles(columns: ColumnRoles | None, available: list[str]) -> ColumnRoles | None:
    """The caller's roles, with the folder pseudo-columns taken out; ``file_name`` is the image column
    of an imagefolder unless the caller says otherwise."""
    if columns is not None:
        columns = dataclasses.replace(
            columns,
            label=None if columns.label == CLASS_FOLDER else columns.label,
            split=None if columns.split == SPLIT_FOLDER else columns.split,
        )
    if "file_name" in available and (columns is None or columns.image is None):
        columns = dataclasses.replace(columns or ColumnRoles(), image="file_name")
    return columns


def _roles_from_folders(records: list[Record], roles: ColumnRoles) -> tuple[list[Record], set[str]]:
    """Splits from split folders (``train/...``) and labels from class folders (``cat/001.png``), for
    the roles no column plays. Labels come from folders only when every image is in one."""
    found: set[str] = set()
    splits, labels = [], []
    for r in records:
        parts = PurePosixPath(r.image).parts if r.image else ()
        split = normalize_split(parts[0]) if len(parts) > 1 else None
        if split is not None:
            parts = parts[1:]
        splits.append(split)
        labels.append(parts[-2] if len(parts) >= 2 else None)
    use_splits = roles.split is None and any(splits)
    use_labels = roles.label is None and bool(records) and all(labels)
    if not (use_splits or use_labels):
        return records, found
    found |= {"split"} if use_splits else set()
    found |= {"label"} if use_labels else set()
    out = [
        dataclasses.replace(r, split=split if use_splits else r.split, label=label if use_labels else r.label)
        for r, split, label in zip(records, splits, labels, strict=True)
    ]
    return out, found


READER = FormatReader(
    name="imagefolder",
    title="Hugging Face imagefolder metadata",
    looks_for="a Hugging Face imagefolder (metadata.jsonl or metadata.csv)",
    expects="a folder with metadata.jsonl or metadata.csv (at the top or in train/, validation/, test/)",
    locate=locate,
    read=read,
    suffixes=IMAGEFOLDER_METADATA,
    folder_rank=10,  # before the manifest: its metadata file is a table too
    file_rank=10,
    roles_choosable=True,
    preview=table_preview,
)
