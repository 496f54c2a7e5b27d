"""``manifest``: a CSV / TSV / JSONL / JSON / Parquet table with an image-path column and a text column.

A folder holding one manifest, or one per split (``train.csv``, ``val.csv``, ``test.csv``; or
``x_train.csv``, ``x_val.csv`` / ``x_validation.csv``, ``x_test.csv``), is a manifest dataset too;
image paths are relative to the manifest's folder, the dataset root. A folder with several manifests
whose names do not each say a split is none: detection names them for the user to choose one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mmstudio.data._common import (
    IMAGEFOLDER_METADATA,
    SPLIT_FILE_NAME,
    TABLE_EXTENSIONS,
    Detection,
    list_dir,
    list_names,
    release,
    relpath,
    sniff_json,
    splits_from_names,
)
from mmstudio.data.columns import resolve_roles
from mmstudio.data.formats import FormatReader
from mmstudio.data.formats._table import read_table, table_preview, table_records
from mmstudio.data.types import ColumnRoles, DatasetFormatError, DatasetSource
from mmstudio.formatting import plural


def locate(path: Path) -> Detection | None:
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix not in TABLE_EXTENSIONS or (suffix == ".json" and sniff_json(path) == "coco"):
            return None
        reason = f"{path.name}: a {suffix[1:].upper()} manifest file"
        return Detection("manifest", reason, path.parent, [path])
    candidates = candidates_in(path)
    if len(candidates) == 1:
        name = candidates[0].name
        return Detection("manifest", f"folder with one manifest file ({name}): manifest", path, candidates)
    splits = splits_from_names(candidates)
    if splits:
        names = list_names(p.name for p in candidates)
        reason = f"folder with one manifest per split ({names}): manifest, splits from the file names"
        return Detection("manifest", reason, path, candidates)
    return None


def candidates_in(folder: Path) -> list[Path]:
    """The files directly in ``folder`` that can be manifests (``.txt`` files are captions or readmes
    more often than manifests, so only a ``.txt`` given by name is read as one)."""
    out = []
    for f in list_dir(folder)[1]:
        suffix = f.suffix.lower()
        if suffix not in TABLE_EXTENSIONS or suffix == ".txt" or f.name.lower() in IMAGEFOLDER_METADATA:
            continue
        if suffix == ".json" and sniff_json(f) != "manifest":
            continue
        out.append(f)
    return out


def _several_manifests(folder: Path) -> str | None:
    manifests = candidates_in(folder)
    if len(manifests) < 2:
        return None
    names = list_names(m.name for m in manifests)
    return (
        f"{folder} holds {plural(len(manifests), 'manifest')} ({names}) whose names do not each say a split "
        f"(x_train.csv, x_val.csv, x_test.csv are read together as splits); give the path of the one to use"
    )


def _choices(folder: Path) -> list[Path]:
    """The manifests of a folder that holds several whose names do not say their split."""
    manifests = candidates_in(folder)
    return manifests if len(manifests) > 1 and not splits_from_names(manifests) else []


def read(detection: Detection, columns: ColumnRoles | None = None, *, cancel=None) -> DatasetSource:
    root = detection.root
    tables = [read_table(p, relpath(p, root), cancel, root=detection.contain(p)) for p in detection.paths]
    split_of = splits_from_names(detection.paths) or {}
    first = next((t for t in tables if t.rows), tables[0])
    if columns is not None and columns.split == SPLIT_FILE_NAME:
        columns = dataclasses.replace(columns, split=None)
    if not any(t.rows for t in tables):  # nothing readable: the report lists the malformed rows
        roles, certain = columns or ColumnRoles(), False
    else:
        guess = resolve_roles(first.columns, first.sample, columns, first.source)
        roles, certain = guess.roles, guess.certain
    records = []
    for table in tables:
        _check_columns(table, roles)
        records += table_records(table, roles, split=split_of.get(table.path))
    release(*(t.rows for t in tables))  # a dict per row: freed at return, they would stall the GUI
    shown = dataclasses.replace(roles, split=SPLIT_FILE_NAME) if split_of and not roles.split else roles
    return DatasetSource(
        format="manifest",
        root=root,
        reason=f"{detection.reason}; read as {first.kind}",
        columns=shown,
        records=records,
        available_columns=first.columns,
        files=list(detection.paths),
        problems=[p for t in tables for p in t.problems],
        task="classification" if roles.label else "retrieval",
        roles_certain=certain,
    )


def _check_columns(table, roles: ColumnRoles) -> None:
    if not table.rows:
        return
    missing = [c for c in roles.to_dict().values() if c and c not in table.columns]
    if missing:
        raise DatasetFormatError(
            f"{table.source} has no column {', '.join(repr(c) for c in missing)} (its columns: "
            f"{list_names(table.columns)}); every manifest of a dataset needs the same columns"
        )


READER = FormatReader(
    name="manifest",
    title="Manifests",
    looks_for="a manifest (.csv, .tsv, .jsonl, .json, .parquet)",
    expects="a .csv, .tsv, .txt, .jsonl, .json or .parquet file, or a folder with one (or one per split)",
    locate=locate,
    read=read,
    suffixes=tuple(s for s in TABLE_EXTENSIONS if s != ".txt"),  # a .txt only when named by --format
    folder_rank=40,
    file_rank=40,
    roles_choosable=True,
    preview=table_preview,
    near_miss=_several_manifests,
    choices=_choices,
)
