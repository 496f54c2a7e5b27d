"""Errors raised by the experiment store. Every message says what happened and what to do.

Every error carries ``exit_code``, the command line's exit status for it: 2 for a store that cannot be
used as given (bad input: a folder, a file that is not a database, an unreachable server, a damaged
file), 1 for a job that failed while writing (a full disk in the middle of a run).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""

    exit_code = 2


class StoreVersionError(StoreError):
    """The database was written by a newer mmstudio whose schema this version does not know."""


class NotFoundError(StoreError, LookupError):
    """A run, dataset, experiment or evaluation id that is not in the store."""


class InvalidTransitionError(StoreError, ValueError):
    """A run status change that is not allowed (for example ``completed`` -> ``running``)."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened: a malformed URL, an unknown or missing driver, a folder or a file
    that is not a database, a missing folder, a server that cannot be reached, a non-mmstudio database."""


class StoreCorruptError(StoreError):
    """The SQLite file is damaged ("database disk image is malformed"); nothing more is written to it."""


class StoreWriteError(StoreError):
    """A write failed because of the machine, not the input: the disk is full, the file is read-only.
    What was written before is kept."""

    exit_code = 1
