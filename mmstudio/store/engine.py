"""From a URL to a configured engine, and the two kinds of transaction the store uses.

SQLite (the default) gets, on every new connection: WAL journal, a 30 s busy timeout, foreign keys
on and ``synchronous=NORMAL``. pysqlite's own transaction handling is switched off
(``isolation_level = None``) and SQLAlchemy emits ``BEGIN`` itself, as the SQLAlchemy SQLite docs
recommend: write transactions start with ``BEGIN IMMEDIATE`` so they take the write lock up front
and wait (busy timeout) instead of failing with "database is locked" when a read upgrades to a
write; read transactions start with a plain (deferred) ``BEGIN`` and, under WAL, never block.

Any other SQLAlchemy URL (PostgreSQL) is used as it is.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

BUSY_TIMEOUT_S = 30.0
_BEGIN_OPTION = "mmstudio_begin"
#: Execution options that make a connection's next transaction a write one (BEGIN IMMEDIATE).
WRITE_OPTIONS = {_BEGIN_OPTION: "IMMEDIATE"}


def sqlite_path(url: URL) -> Path | None:
    """The file of a file-based SQLite URL, else ``None`` (in-memory or another backend)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def hide_password(url: str | URL) -> str:
    """The URL as a person may see it (a status bar, a log): its password as ``***``. Text that is
    not a URL SQLAlchemy parses is returned as given."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: show it as given
        return str(url)


def _enter_wal(cursor: Any) -> None:
    """Switch the file to WAL, retrying while another connection holds a lock.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked" at
    once, without the busy handler, when it finds another process (say, one creating the same new
    store) holding a shared lock, so the wait is done here, up to the same busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take transaction control away from pysqlite; the "begin" hook below emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _enter_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def create_store_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created and the pragmas set."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, **kwargs)
    path = sqlite_path(url)
    if path is not None:
        path.expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", BUSY_TIMEOUT_S)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


class Database:
    """An engine plus the store's two transaction kinds; what every repository function takes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_engine = engine.execution_options(**WRITE_OPTIONS)
        #: metric key -> id; keys are never deleted, so the cache never goes stale.
        self.metric_key_ids: dict[str, int] = {}

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit."""
        with self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent snapshot), rolled back on exit."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """An ORM session in a write transaction, committed on exit. Its rows must not escape."""
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
