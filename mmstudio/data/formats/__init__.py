"""The dataset formats: a registry from format name to the :class:`FormatReader` its module declares.

A format is one module of this package ending with ``READER = FormatReader(...)``: how to find its files
under a path (``locate``) and read them (``read``), and what it is: what it expects and looks for, the
files it opens, its place in detection, whether the user may choose its column roles, how its first rows
are previewed. Registering it is one line, its name in :data:`FORMATS`. Detection and its "no dataset
found" message, the previews, ``--format``, the open dialog and the Datasets page derive their lists
from here, so adding a format touches nothing else.

A built-in module is imported when its reader is first asked for: the names alone (``DatasetSpec``
validation, the command line's ``--format`` choices) import no reader.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mmstudio.data._common import Detection
from mmstudio.data.types import ColumnRoles, DatasetFormatError, DatasetSource, Preview

#: The built-in formats, one line each: the name of the module here that declares the reader. The order
#: is the order they are listed in (``--format``, the Datasets page); detection has its own (the ranks).
FORMATS = (
    "manifest",
    "imagefolder",
    "sidecar",
    "coco",
    "webdataset",
)


@dataclass(frozen=True)
class FormatReader:
    """One dataset format: what it is, how to find its files under a path and how to read them.

    ``folder_rank`` and ``file_rank`` order detection on a folder and on a file, lowest first, so that
    the most specific format wins (an imagefolder's ``metadata.csv`` is a table too; a manifest folder
    may also hold images with ``.txt`` files); ``None``: never tried there. ``suffixes`` are the endings
    of the files that are a dataset of this format by themselves (``.csv``, or a whole name such as
    ``metadata.jsonl``): the open dialog offers them and a drop of one is taken.
    """

    name: str  # the registry key: ``--format NAME``, ``DatasetSpec.format``
    title: str  # its files, for people: the open dialog's filter ("WebDataset shards")
    looks_for: str  # a phrase: what detection looks for ("WebDataset .tar shards")
    expects: str  # a phrase: what ``--format NAME`` expects, when the path is not such a dataset
    locate: Callable[[Path], Detection | None]  # is this path a dataset of mine? which files?
    read: Callable[..., DatasetSource]  # read(detection, columns=None, *, cancel=None)
    suffixes: tuple[str, ...] = ()
    folder_rank: int | None = None
    file_rank: int | None = None
    roles_choosable: bool = False  # the user may choose which column plays which role (the page asks)
    preview: Callable[[Path, int], Preview] | None = None  # the first rows of a file, to choose them on
    near_miss: Callable[[Path], str | None] | None = None  # why a folder almost of this format is none
    # The files in such a folder that are each a dataset of this format (its several manifests): the
    # user chooses one (detection raises SeveralDatasets with them).
    choices: Callable[[Path], list[Path]] | None = None
    is_pattern: Callable[[str], bool] | None = None  # whether a text is a pattern of its files
    locate_pattern: Callable[[str], Detection] | None = None  # the files such a pattern matches

    def opens(self, name: str) -> bool:
        """Whether a file called ``name`` is a dataset of this format by itself (by its name alone)."""
        name = name.lower()
        return any(name.endswith(s) if s.startswith(".") else name == s for s in self.suffixes)


#: Every format by name: its reader, or None for a built-in whose module is not imported yet.
READERS: dict[str, FormatReader | None] = dict.fromkeys(FORMATS)


def register(reader: FormatReader) -> FormatReader:
    """Add a format from outside this package; a name that is taken raises ``ValueError``."""
    if reader.name in READERS:
        raise ValueError(f"a dataset format named {reader.name!r} is registered already")
    READERS[reader.name] = reader
    return reader


def available_formats() -> list[str]:
    """The names of every format, in their listed order (no reader is imported)."""
    return list(READERS)


def get_reader(name: str) -> FormatReader:
    """The reader registered as ``name``; an unknown name raises an error listing the formats."""
    try:
        reader = READERS[name]
    except KeyError:
        known = ", ".join(READERS)
        raise DatasetFormatError(f"unknown dataset format {name!r}; choose one of: {known}") from None
    if reader is None:
        reader = READERS[name] = _builtin(name)
    return reader


def _builtin(name: str) -> FormatReader:
    module = importlib.import_module(f"{__name__}.{name}")
    reader = getattr(module, "READER", None)
    if not isinstance(reader, FormatReader) or reader.name != name:
        raise TypeError(f"{module.__name__} must declare READER = FormatReader(name={name!r}, ...)")
    return reader


def readers() -> list[FormatReader]:
    """Every reader, in the listed order."""
    return [get_reader(name) for name in READERS]


def detection_order(*, folder: bool) -> list[FormatReader]:
    """The readers detection asks about a folder (or a file), in the order of their ranks."""
    ranked = [(r.folder_rank if folder else r.file_rank, n, r) for n, r in enumerate(readers())]
    return [r for rank, _, r in sorted((t for t in ranked if t[0] is not None), key=lambda t: t[:2])]


def looked_for() -> str:
    """What detection looks for, every format's phrase: ``"a manifest (...), ... or WebDataset shards"``."""
    return listed(r.looks_for for r in readers())


def choosable_formats() -> list[str]:
    """The formats whose column roles the user may choose."""
    return [r.name for r in readers() if r.roles_choosable]


def roles_choosable(name: str) -> bool:
    """Whether the user may choose the column roles of format ``name`` (False for an unknown name)."""
    return name in READERS and get_reader(name).roles_choosable


def check_fixed_roles(given: ColumnRoles | None, fixed: ColumnRoles, fmt: str) -> None:
    """Formats whose roles are fixed by their layout accept only those roles back (as the GUI shows them)."""
    if given is None:
        return
    for role, name in given.to_dict().items():
        if name and name != getattr(fixed, role):
            choosable = listed(choosable_formats(), "and")
            raise DatasetFormatError(
                f"the {fmt} format takes its {role} from its layout ({getattr(fixed, role) or 'none'}); "
                f"column roles can only be chosen for {choosable} datasets"
            )


def listed(phrases: Iterable[str], conjunction: str = "or") -> str:
    """``"a, b or c"``."""
    items = list(phrases)
    return f" {conjunction} ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


__all__ = [
    "FORMATS",
    "READERS",
    "Detection",
    "FormatReader",
    "available_formats",
    "check_fixed_roles",
    "choosable_formats",
    "detection_order",
    "get_reader",
    "listed",
    "looked_for",
    "readers",
    "register",
    "roles_choosable",
]
