"""The plain data types shared by every part of the dataset layer.

A format reader turns files into :class:`Record` objects (one per row, nothing checked yet) inside a
:class:`DatasetSource`; validation turns records into usable :class:`Item` objects and
:class:`Problem` objects; a :class:`Dataset` holds the result. Everything here is Qt-free and torch-free.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mmstudio.formatting import plural

SPLITS = ("train", "val", "test")


class DatasetFormatError(ValueError):
    """The path is not a dataset mmstudio can read as asked; the message says what was looked for and
    what to do (point to another path, choose ``--format``, name the columns)."""


class ColumnsUnknown(DatasetFormatError):
    """No column could be told to hold the images (or the text): the user has to name it. The Datasets
    page then asks, showing the first rows."""


class SeveralDatasets(DatasetFormatError):
    """A folder that holds several datasets and is none by itself (manifests whose names do not say
    their split): the user has to choose one. ``choices`` are their paths; the Datasets page lists
    them, the command line's message names them."""

    def __init__(self, message: str, folder: Path, choices: list[Path]) -> None:
        super().__init__(message)
        self.folder, self.choices = folder, list(choices)

    def __reduce__(self):  # picklable with its fields (an error may cross a process or a queue)
        return type(self), (str(self), self.folder, self.choices)


@dataclass(frozen=True)
class ColumnRoles:
    """Which source column plays which role. ``None`` means the dataset has no such column."""

    image: str | None = None
    text: str | None = None
    label: str | None = None
    split: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"image": self.image, "text": self.text, "label": self.label, "split": self.split}

    def same(self, other: ColumnRoles) -> bool:
        """Whether both give each role the same column, ``""`` (no such column) and ``None`` alike."""
        return all(
            (a or None) == (b or None)
            for a, b in zip(self.to_dict().values(), other.to_dict().values(), strict=True)
        )


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes live: a file, or a member of a tar shard.

    For a member of an uncompressed shard, ``offset`` and ``size`` locate its bytes in the file, so
    reading it is one seek and one read instead of a scan of the tar's headers.
    """

    path: Path
    member: str | None = None
    offset: int | None = None
    size: int | None = None

    def read_bytes(self) -> bytes:
        """The image's bytes. A member of a compressed shard is read by the shard's one forward
        reader (:mod:`mmstudio.data.shards`): members asked for in order cost one pass over the shard."""
        if self.member is None:
            return self.path.read_bytes()
        from mmstudio.data._common import MAX_MEMBER_BYTES, RefusedFile

        if self.offset is not None and self.size is not None:
            if self.size > MAX_MEMBER_BYTES:
                raise RefusedFile(
                    f"member {self.member} of {self.path} is {self.size:,} bytes, over the limit of "
                    f"{MAX_MEMBER_BYTES:,} for an image; it was not read",
                    "too_large",
                    self.size,
                )
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(self.size)
            if len(data) != self.size:
                raise OSError(f"{self.path} ends inside member {self.member}; the shard is truncated")
            return data
        from mmstudio.data.shards import read_member

        return read_member(self.path, self.member)

    def __str__(self) -> str:
        return f"{self.path}::{self.member}" if self.member else str(self.path)


@dataclass(frozen=True)
class Record:
    """One row as a format reader yields it, before any check.

    ``row`` is the 1-based data row number within ``source`` (for a manifest: the data row, header
    excluded; for folders: the position in sorted order), so a report can say "train.csv row 12".
    ``image`` is the reference as written in the source (a path relative to the dataset root, an
    absolute path, or a tar member name); ``text`` is ``bytes`` when it has not been decoded yet
    (sidecar ``.txt`` files, tar members) and a ``str`` containing lone surrogates when the source
    bytes were not valid UTF-8 (decoded with ``errors="surrogateescape"``).
    """

    row: int
    source: str
    image: str | None
    text: str | bytes | None
    label: str | None = None
    split: str | None = None
    group: str | None = None
    shard: Path | None = None  # webdataset: the tar file that holds ``image``
    image_span: tuple[int, int] | None = None  # webdataset, uncompressed shard: (offset, size) of ``image``


class ProblemKind(enum.StrEnum):
    """Every kind of problem validation reports. The values are stable (they appear in ``--json``)."""

    MALFORMED_ROW = "malformed_row"
    MISSING_IMAGE = "missing_image"
    MISSING_FILE = "missing_file"
    PATH_OUTSIDE_DATASET = "path_outside_dataset"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_IMAGE = "corrupt_image"
    DECOMPRESSION_BOMB = "decompression_bomb"
    EMPTY_TEXT = "empty_text"
    INVALID_UTF8 = "invalid_utf8"
    TEXT_TRUNCATED = "text_truncated"
    CONTROL_CHARACTERS = "control_characters"
    MISSING_LABEL = "missing_label"
    RARE_LABEL = "rare_label"
    LABEL_MISMATCH = "label_mismatch"


@dataclass(frozen=True)
class Problem:
    """One problem with one row. ``skipped`` is False for warnings: the row is still used."""

    kind: ProblemKind
    row: int | None
    path: str | None
    message: str
    skipped: bool = True
    source: str | None = None

    def to_dict(self) -> dict:
        return {
            "kind": str(self.kind),
            "row": self.row,
            "path": self.path,
            "message": self.message,
            "skipped": self.skipped,
            "source": self.source,
        }


@dataclass(frozen=True)
class Item:
    """A validated, usable pair: it will be used for training."""

    index: int
    row: int
    source: str
    image: ImageRef
    text: str
    label: str | None
    split: str
    group: str | None = None
    width: int = 0
    height: int = 0


@dataclass
class DatasetSource:
    """What a format reader returns: the records and how the format was understood."""

    format: str
    root: Path
    reason: str
    columns: ColumnRoles
    records: list[Record]
    available_columns: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # manifest / annotation / shard files read
    # Problems found while reading. One with a ``row`` and ``skipped=True`` stands for a row that became
    # no record (a malformed line, a sample without an image): it counts in ``ValidationReport.rows``.
    problems: list[Problem] = field(default_factory=list)
    task: str = "classification"  # or "retrieval" (coco: captions, no labels)
    roles_certain: bool = True  # False when column roles were guessed with doubt (the GUI asks)
    # The name of each label id, where the format has both (a WebDataset's .cls ids and the names
    # its .json gives them): {"5": "people"}. The items' labels are the names.
    label_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Preview:
    """The first rows of a dataset's table (or shard), as text, and the names the roles can take: what
    the column-mapping dialog shows (:func:`mmstudio.data.preview.read_preview`)."""

    source: str
    columns: list[str]
    rows: list[dict[str, str]]
    choices: list[str] = field(default_factory=list)  # the columns a role may name (default: columns)

    def role_choices(self) -> list[str]:
        return list(self.choices or self.columns)


@dataclass
class ValidationReport:
    """Counts and problems of one validation."""

    rows: int
    valid: int
    problems: list[Problem]

    @property
    def skipped(self) -> int:
        return self.rows - self.valid

    def by_kind(self) -> dict[str, list[Problem]]:
        groups: dict[str, list[Problem]] = {}
        for p in self.problems:
            groups.setdefault(str(p.kind), []).append(p)
        return groups

    @property
    def warnings(self) -> int:
        """Problems of rows that are still used."""
        return sum(1 for p in self.problems if not p.skipped)

    def kind_counts(self) -> dict[str, int]:
        return dict(Counter(str(p.kind) for p in self.problems))

    @property
    def usable(self) -> bool:
        return self.valid > 0

    def summary(self) -> str:
        return f"{plural(self.valid, 'usable pair')}, {self.skipped:,} skipped"
