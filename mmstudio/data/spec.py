"""``DatasetSpec``: which dataset a run uses and how it is read, validated and split.

A spec is plain, JSON-safe data: the GUI edits it, every run stores it, and the worker process turns it
back into a :class:`~mmstudio.data.dataset.Dataset` with :meth:`DatasetSpec.load`. Two loads of one
spec over unchanged files give the same items in the same splits (the split seed is part of the spec).

Importing this module stays cheap (no NumPy, no Pillow): the dataset machinery is imported only when a
spec is loaded.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from mmstudio.data.formats import available_formats
from mmstudio.data.splits import check_fractions
from mmstudio.data.types import ColumnRoles

if TYPE_CHECKING:
    from mmstudio.data.dataset import Dataset, LoadOptions

# The same modes as mmstudio.data.validate.CHECK_MODES (a test keeps them in step); repeated here so
# that building a spec does not import Pillow.
CHECK_MODES = ("full", "header")
_ROLE_NAMES = tuple(f.name for f in fields(ColumnRoles))


@dataclass(frozen=True)
class DatasetSpec:
    """Where the dataset is and how to read it.

    ``format=None`` detects the format; ``columns=None`` guesses every column role (inside a
    :class:`ColumnRoles`, a role left ``None`` is guessed and ``""`` means "no such column").
    ``check_images="full"`` decodes every image while validating (finds truncated files before
    training does); ``"header"`` only reads the headers, which is much faster on large datasets.
    """

    path: str
    format: str | None = None
    columns: ColumnRoles | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    stratify: bool = True
    check_images: str = "full"

    def __post_init__(self) -> None:
        # Accept a Path (or any os.PathLike) but keep a str, so the spec is JSON-safe and compares equal
        # to its own round trip.
        object.__setattr__(self, "path", os.fspath(self.path))
        if not self.path:
            raise ValueError("a dataset spec needs a path")
        if self.format is not None and self.format not in available_formats():
            known = ", ".join(available_formats())
            raise ValueError(f"unknown dataset format {self.format!r}; choose one of {known}")
        if isinstance(self.columns, dict):
            object.__setattr__(self, "columns", _columns_from_dict(self.columns))
        if self.columns is not None and not isinstance(self.columns, ColumnRoles):
            raise TypeError(f"columns must be ColumnRoles, a dict or None, not {type(self.columns).__name__}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, not {value!r}")
            object.__setattr__(self, name, float(value))
        check_fractions(self.val_fraction, self.test_fraction)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {self.seed!r}")
        if not isinstance(self.stratify, bool):
            raise TypeError(f"stratify must be true or false, not {self.stratify!r}")
        if self.check_images not in CHECK_MODES:
            raise ValueError(
                f"check_images must be one of {', '.join(CHECK_MODES)}, not {self.check_images!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_dict` gives back an equal spec."""
        return {
            "path": self.path,
            "format": self.format,
            "columns": None if self.columns is None else self.columns.to_dict(),
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "stratify": self.stratify,
            "check_images": self.check_images,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        """The spec of :meth:`to_dict`; missing keys take their defaults, unknown keys are refused (a
        typo would otherwise be silently ignored)."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown dataset spec {'key' if len(unknown) == 1 else 'keys'} {', '.join(unknown)}; "
                f"valid keys: {', '.join(valid)}"
            )
        return cls(**data)

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetSpec:
        """A spec that loads ``dataset`` again, for a dataset whose own spec is not at hand: its one
        file (a manifest) or its folder, its format and column roles, and the split settings it was
        loaded with."""
        files = list(getattr(dataset.source, "files", None) or [])
        options = dataset.options
        return cls(
            path=str(files[0] if len(files) == 1 else dataset.root),
            format=dataset.format,
            columns=dataset.columns,
            val_fraction=options.val_fraction,
            test_fraction=options.test_fraction,
            seed=options.seed,
            stratify=options.stratify,
            check_images=options.check_images,
        )

    def as_loaded(self, dataset: Dataset) -> DatasetSpec:
        """The spec to record for ``dataset``, loaded from this spec: the path made absolute (a
        relative one only means something in the folder it was typed in) and the format that was
        detected. The column roles stay as given (None: guessed, which the same files guess the same
        way), so loading the recorded spec reads the same items into the same splits."""
        path = os.path.abspath(os.path.expanduser(self.path))
        return dataclasses.replace(self, path=path, format=dataset.format)

    def load_options(self, **overrides: Any) -> LoadOptions:
        """The :class:`~mmstudio.data.dataset.LoadOptions` of this spec; ``overrides`` sets the options
        that are not part of a spec (``workers``, ``max_pixels``, ``max_text_chars``)."""
        from mmstudio.data.dataset import LoadOptions

        return LoadOptions(
            check_images=self.check_images,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            seed=self.seed,
            stratify=self.stratify,
            **overrides,
        )

    def load(self, progress=None, cancel=None) -> Dataset:
        """Read, validate and split the dataset (:func:`~mmstudio.data.dataset.load_dataset`).

        ``progress(done, total)`` reports images checked; ``cancel.is_set()`` stops the work with
        :class:`~mmstudio.data.types.Cancelled`.
        """
        from mmstudio.data.dataset import load_dataset

        return load_dataset(
            self.path,
            format=self.format,
            columns=self.columns,
            options=self.load_options(),
            progress=progress,
            cancel=cancel,
        )


def _columns_from_dict(data: dict[str, Any]) -> ColumnRoles:
    unknown = sorted(set(data) - set(_ROLE_NAMES))
    if unknown:
        raise ValueError(
            f"unknown column {'role' if len(unknown) == 1 else 'roles'} {', '.join(unknown)}; valid roles: "
            f"{', '.join(_ROLE_NAMES)}"
        )
    for role, value in data.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"the {role} column must be a column name or null, not {value!r}")
    return ColumnRoles(**data)
