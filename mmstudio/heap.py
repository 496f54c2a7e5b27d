"""Keeping Python's cyclic garbage collector from freezing the window (standard library only).

A full collection walks every tracked object with the interpreter lock held; with a large dataset
or the whole GUI alive that is 50-200 ms during which no other thread runs. :func:`collector_paused`
keeps the collector out of a large build and freezes what it built; :func:`settle_heap` puts the
objects alive now (the imported modules, the window) out of its reach.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: How many modules were imported when the heap was last settled (0: never; then nothing is frozen).
_modules_at_settle = 0


def settle_heap() -> None:
    """Put every object alive now (the imported modules, the window's widgets: ~130,000) out of the
    cyclic garbage collector's reach (:func:`gc.freeze`). A full collection otherwise walks them all,
    ~90 ms on this machine with the interpreter lock held, which freezes the window whenever a
    background load happens to trigger one. Called once the window is built; after that, again
    whenever a background task has imported modules (:func:`settle_new_modules`)."""
    global _modules_at_settle
    gc.freeze()
    _modules_at_settle = len(sys.modules)


def settle_new_objects() -> None:
    """Settle the heap again, where it was settled before: for what was built since (a page of the
    window made after its first paint)."""
    if _modules_at_settle:
        settle_heap()


def settle_new_modules() -> None:
    """Settle the heap again if modules were imported since it was last settled: the store's
    SQLAlchemy and Alembic, imported by the first background query, are ~40,000 objects, and one
    full collection walking them stalled a streaming run's plots for 36 ms. Modules live as long as
    the process, so nothing collectable is held back. Does nothing where the heap was never settled
    (the tests, a page used as a library)."""
    if _modules_at_settle and len(sys.modules) > _modules_at_settle:
        settle_heap()


_gc_lock = threading.Lock()
_gc_paused = 0
_gc_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a dataset is built, then freeze what was built.

    A full collection walks every object while holding the GIL, so it stops the GUI thread too:
    loading 100,000 items (millions of objects, no reference cycles) ran eight of them, 50-200 ms
    each, all GUI freezes (measured). Paused during the load, and with the loaded objects frozen
    (``gc.freeze``: later collections skip them), none of them happen. Nested and concurrent uses
    are counted: the collector comes back when the last one ends.
    """
    global _gc_paused, _gc_was_enabled
    with _gc_lock:
        _gc_paused += 1
        if _gc_paused == 1:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_paused -= 1
            if _gc_paused == 0:
                gc.freeze()
                if _gc_was_enabled:
                    gc.enable()
