"""Errors raised by the experiment store. Every message says what happened and what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class StoreVersionError(StoreError):
    """The database was written by a newer mmstudio whose schema this version does not know."""


class NotFoundError(StoreError, LookupError):
    """A run, dataset, experiment or evaluation id that is not in the store."""


class InvalidTransitionError(StoreError, ValueError):
    """A run status change that is not allowed (for example ``completed`` -> ``running``)."""
