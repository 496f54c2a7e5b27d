"""A store shared by the background tasks of one window or page: :class:`StoreHandle`."""

from __future__ import annotations

import threading
from typing import Any


class StoreHandle:
    """One open :class:`~mmstudio.store.Store` per URL, opened lazily (in the first task that asks)
    and shared by later ones (the store is thread-safe). ``mark_orphans`` and ``read_only`` as in
    ``Store.open``."""

    def __init__(self, *, mark_orphans: bool = True, read_only: bool = False) -> None:
        self._lock = threading.Lock()
        self._url: str | None = None
        self._store: Any = None
        self._mark_orphans = mark_orphans
        self._read_only = read_only

    def get(self, url: str | None) -> Any:
        from mmstudio.store.store import Store

        with self._lock:
            if self._store is None or self._url != url:
                if self._store is not None:
                    self._store.close()
                self._store = Store.open(url, mark_orphans=self._mark_orphans, read_only=self._read_only)
                self._url = url
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None
