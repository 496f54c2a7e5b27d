"""What the user may open or drop, and what they opened or dropped as one dataset to load: a folder, a
manifest or COCO file, one or more ``.tar`` shards (a folder or a shard pattern), or a pattern typed by
hand.

The window's drop target, its file dialogs, the standalone pages and the command line all turn their
paths into a :class:`~mmstudio.data.spec.DatasetSpec` path (and format) here. What may be opened is
what the format readers say they open (:mod:`mmstudio.data.formats`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mmstudio.data._common import is_tar_name
from mmstudio.data.formats import looked_for, readers
from mmstudio.formatting import plural


def dataset_file_suffixes() -> tuple[str, ...]:
    """The endings of the files that are datasets by themselves (a manifest, a COCO file, a shard)."""
    return tuple(dict.fromkeys(s for r in readers() for s in r.suffixes))


def opens_file(name: str) -> bool:
    """Whether a file called ``name`` is a dataset by itself, for one format or another."""
    return any(r.opens(os.path.basename(name)) for r in readers())


def can_open(paths: Sequence[str | os.PathLike]) -> bool:
    """Whether ``paths`` (dropped on the window, say) make one dataset: a folder, a file some format
    opens (a manifest or COCO file, a shard), or several ``.tar`` shards."""
    items = [os.fspath(p) for p in paths]
    if not items or any(not p for p in items):
        return False
    if len(items) == 1:
        p = items[0]
        return os.path.isdir(p) or (os.path.isfile(p) and opens_file(p))
    return all(is_tar_name(p) and os.path.isfile(p) for p in items)


def is_pattern(text: str) -> bool:
    """Whether ``text`` is a pattern of files some format reads (``shards-{000..009}.tar``), which is
    no path that exists."""
    return any(r.is_pattern is not None and r.is_pattern(text) for r in readers())


def formats_text() -> str:
    """What mmstudio reads, in a sentence (the Datasets page says it before a dataset is open)."""
    return f"mmstudio reads a folder or {looked_for()}."


def file_filter() -> str:
    """The open dialog's filter, in Qt's syntax (``Title (*.a *.b);;...``): every dataset file, then
    each format's files, then all files."""
    lines = [(r.title, _patterns(r.suffixes)) for r in readers() if r.suffixes]
    every = _patterns(s for s in dataset_file_suffixes() if not _covered(s, dataset_file_suffixes()))
    return ";;".join([f"Datasets ({every})", *(f"{t} ({p})" for t, p in lines), "All files (*)"])


def _patterns(suffixes: Iterable[str]) -> str:
    return " ".join(f"*{s}" if s.startswith(".") else s for s in suffixes)


def _covered(suffix: str, every: Iterable[str]) -> bool:
    """``metadata.csv`` is covered by ``.csv``: the filter of every dataset file needs only the latter."""
    return any(o != suffix and o.startswith(".") and suffix.endswith(o) for o in every)


def shards_source(paths: Iterable[str | os.PathLike]) -> str:
    """One WebDataset source for several shards: the folder that holds them when they are every shard
    in it, else a brace pattern (``DIR/{a.tar,sub/b.tar}``) the core expands."""
    shards = [Path(os.path.abspath(p)) for p in paths]
    if len(shards) == 1:
        return str(shards[0])
    folder = Path(os.path.commonpath([str(s.parent) for s in shards]))
    in_folder = (
        {p for p in folder.iterdir() if p.is_file() and is_tar_name(p.name)} if folder.is_dir() else set()
    )
    if set(shards) == in_folder:
        return str(folder)
    names = [s.relative_to(folder).as_posix() for s in shards]
    if any(c in str(folder) + "".join(names) for c in "{},*?["):
        raise ValueError(
            "these shards cannot be opened together (their names hold characters used by shard patterns: "
            "{ } , * ? [); open their folder, or a pattern such as DIR/train-*.tar"
        )
    return f"{folder}{os.sep}{{{','.join(names)}}}"


def dataset_source(
    paths: str | os.PathLike | Iterable[str | os.PathLike], format: str | None = None
) -> tuple[str, str | None]:
    """The path (or shard pattern) and format to load for what the user opened or dropped."""
    if isinstance(paths, str | os.PathLike):
        return os.fspath(paths), format
    items = [os.fspath(p) for p in paths]
    if not items:
        raise ValueError("nothing to open: choose a dataset folder, a manifest file or .tar shards")
    if len(items) == 1:
        return items[0], format
    if not all(is_tar_name(p) for p in items):
        raise ValueError(
            "open one dataset at a time: a folder, a manifest file, or one or more .tar shards "
            f"(got {plural(len(items), 'path')})"
        )
    return shards_source(items), format or "webdataset"
