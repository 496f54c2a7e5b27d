"""From a URL to a configured engine, and the two kinds of transaction the store uses.

SQLite (the default) gets, on every new connection: WAL journal, a 30 s busy timeout, foreign keys
on and ``synchronous=NORMAL``. pysqlite's own transaction handling is switched off
(``isolation_level = None``) and SQLAlchemy emits ``BEGIN`` itself, as the SQLAlchemy SQLite docs
recommend: write transactions start with ``BEGIN IMMEDIATE`` so they take the write lock up front
and wait (busy timeout) instead of failing with "database is locked" when a read upgrades to a
write; read transactions start with a plain (deferred) ``BEGIN`` and, under WAL, never block.

Any other SQLAlchemy URL (PostgreSQL) is used as it is.

Whatever the database answers that makes the store unusable (a malformed URL, a missing driver, a
folder or a file that is not a database, a server that cannot be reached, a damaged file, a full
disk) becomes one :class:`~.errors.StoreError` with a sentence for people (:func:`store_error`):
:func:`create_store_engine` checks what it can before connecting, and :class:`Database`'s transactions
translate what the driver raises. Once a SQLite file is found damaged, the :class:`Database` refuses
every later write.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from .errors import StoreCorruptError, StoreError, StoreUnavailableError, StoreWriteError

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


def _wants_wal(cursor: Any) -> bool:
    """Whether to switch the file to WAL: a new file or an mmstudio store not in WAL yet (a copy of a
    backup). Another program's database is never changed, and a store already in WAL is not written."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return False
    tables = {r[0] for r in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return not tables or "alembic_version" in tables


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take transaction control away from pysqlite; the "begin" hook below emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if _wants_wal(cursor):
            _enter_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def parse_url(url: str | URL) -> URL:
    """``url`` as SQLAlchemy's URL, or :class:`StoreUnavailableError` saying what a store URL looks like."""
    try:
        return make_url(url)
    except (sa_exc.ArgumentError, ValueError, TypeError) as exc:
        shown = re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", str(url))  # no password, even in a bad URL
        raise StoreUnavailableError(
            f"--db {shown!r} is not a database URL; give one such as sqlite:///path/to/store.db or "
            "postgresql+psycopg://user@host/database"
        ) from exc


def create_store_engine(url: str | URL, *, create_folder: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; for a SQLite file, the pragmas are set on every connection.

    A SQLite file's folder must exist: only ``create_folder`` (the default store in the user data
    folder) creates it; another missing folder, a folder given as the file, or a file that is not a
    regular file is a :class:`StoreUnavailableError`, as are a malformed URL and an unknown or
    uninstalled driver."""
    url = parse_url(url)
    shown = hide_password(url)
    if url.get_backend_name() != "sqlite":
        return _guarded(lambda: create_engine(url, **kwargs), shown)
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_path(path.expanduser(), create_folder)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", BUSY_TIMEOUT_S)
    engine = _guarded(lambda: create_engine(url, connect_args=connect_args, **kwargs), shown)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _check_sqlite_path(path: Path, create_folder: bool) -> None:
    folder = path.parent
    if create_folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"the folder {folder} for the store could not be created ({exc.strerror or exc}); set "
                "MMSTUDIO_HOME or --db to a place you can write"
            ) from exc
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise StoreUnavailableError(
            f"the store {path} cannot be created: the folder {folder} {what}; create the folder first or "
            "give --db a file in an existing folder"
        )
    if path.is_dir():
        raise StoreUnavailableError(
            f"the store {path} is a folder, not a SQLite file; give --db sqlite:///{path}/mmstudio.db "
            "(a file in that folder) or another file"
        )
    if path.exists() and not path.is_file():
        raise StoreUnavailableError(f"the store {path} is not a regular file; give --db a SQLite file")


def _guarded(make: Any, shown: str) -> Engine:
    """``make()``, with a missing driver or an unknown backend said in a sentence."""
    try:
        return make()
    except sa_exc.NoSuchModuleError as exc:
        backend = shown.split(":", 1)[0]
        raise StoreUnavailableError(
            f"--db {shown}: {backend!r} is not a kind of database SQLAlchemy knows; use sqlite:///FILE or "
            "postgresql+psycopg://user@host/database"
        ) from exc
    except ImportError as exc:
        backend = shown.split(":", 1)[0]
        raise StoreUnavailableError(
            f"--db {shown}: the database driver for {backend} is not installed ({exc}); install it "
            "in mmstudio's environment or choose another URL"
        ) from exc


#: SQLite's own words for a file it cannot use, and what they mean.
_CORRUPT = ("malformed", "file is not a database", "file is encrypted", "disk i/o error")
_FULL = ("database or disk is full", "no space left")
_READONLY = ("attempt to write a readonly database", "readonly database")


def recovery_advice(path: Path | None) -> str:
    """How to check and recover a damaged SQLite store at ``path`` (backups that exist are named)."""
    if path is None:
        return "restore the database from a backup"
    backups = sorted(path.parent.glob(f"{glob_escape(path.name)}.bak-*"))
    have = f"; the backups made before upgrades: {', '.join(str(b) for b in backups[-3:])}" if backups else ""
    return (
        f"Check it with: sqlite3 {path} 'PRAGMA integrity_check'; recover what is readable into a new file "
        f"with: sqlite3 {path} .recover | sqlite3 recovered.db, then give --db sqlite:///recovered.db"
        f"{have}"
    )


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def store_error(exc: BaseException, url: str | URL) -> StoreError | None:
    """The :class:`StoreError` that says in a sentence why the database at ``url`` failed with
    ``exc`` (a DB-API error as SQLAlchemy raises it, or sqlite3's own), or ``None`` for an error that
    is not about the database being usable (a constraint, a bug)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.Error):  # raised by the driver's own cursor (the metric write path)
        orig: BaseException = exc
    elif isinstance(exc, sa_exc.DBAPIError):
        orig = exc.orig if exc.orig is not None else exc
    else:
        return None
    url = parse_url(url)
    shown = hide_password(url)
    path = sqlite_path(url)
    reason = " ".join(str(orig).split()) or type(orig).__name__
    low = str(orig).lower()
    if path is not None or url.get_backend_name() == "sqlite":
        where = str(path) if path is not None else shown
        if any(w in low for w in _FULL):
            return StoreWriteError(
                f"the store {where} could not be written: the disk is full ({reason}). What was written "
                "before is kept; free some space, then check the store with: sqlite3 "
                f"{where} 'PRAGMA integrity_check'"
            )
        if any(w in low for w in _READONLY):
            return StoreWriteError(
                f"the store {where} could not be written: it is read-only ({reason}); make the file and its "
                "folder writable, or copy it somewhere you can write"
            )
        if "file is not a database" in low:
            return StoreUnavailableError(
                f"{where} is not a SQLite database ({reason}); point --db at an mmstudio store or at a new "
                "file name"
            )
        if any(w in low for w in _CORRUPT):
            return StoreCorruptError(
                f"the store {where} is damaged ({reason}); nothing more is written to it. "
                f"{recovery_advice(path)}"
            )
        if "unable to open database file" in low:
            return StoreUnavailableError(
                f"the store {where} cannot be opened ({reason}); check that the file and its folder exist "
                "and can be read and written"
            )
        return None
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and _is_connect_failure(low):
        return StoreUnavailableError(
            f"cannot connect to the database {shown}: {reason}; check the host name, the port, that the "
            "server is running and that the user and password are right"
        )
    if any(w in low for w in ("no space left", "disk full", "could not extend file")):
        return StoreWriteError(f"the database {shown} could not be written: the disk is full ({reason})")
    return None


def _is_connect_failure(low: str) -> bool:
    words = (
        "connection refused",
        "could not connect",
        "failed to resolve host",
        "could not translate host name",
        "name or service not known",
        "connection failed",
        "timeout expired",
        "password authentication failed",
        "does not exist",
        "no route to host",
        "network is unreachable",
        "server closed the connection",
    )
    return any(w in low for w in words)


class Database:
    """An engine plus the store's two transaction kinds; what every repository function takes.

    What the driver raises inside a transaction that makes the store unusable becomes a
    :class:`StoreError` (:func:`store_error`); after a damaged SQLite file has been seen, every write
    is refused at once with the same :class:`StoreCorruptError`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_engine = engine.execution_options(**WRITE_OPTIONS)
        #: metric key -> id; keys are never deleted, so the cache never goes stale.
        self.metric_key_ids: dict[str, int] = {}
        #: The damage found in this store (a SQLite file), after which nothing is written.
        self.corrupt: StoreCorruptError | None = None

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Turn a DB-API error that says the store is unusable into its :class:`StoreError`."""
        try:
            yield
        except (sa_exc.DBAPIError, sqlite3.Error) as exc:
            error = store_error(exc, self.engine.url)
            if error is None:
                raise
            if isinstance(error, StoreCorruptError):
                self.corrupt = error
            raise error from exc

    def _check_writable(self) -> None:
        if self.corrupt is not None:
            raise StoreCorruptError(str(self.corrupt))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit."""
        self._check_writable()
        with self.translated(), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent snapshot), rolled back on exit."""
        with self.translated(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction whose every query sees the same committed state. SQLite's read
        transaction is one already; PostgreSQL's default (``READ COMMITTED``) gives each statement its
        own, so there it is ``REPEATABLE READ`` (per transaction: it works through a pooler such as
        pgbouncer in transaction mode). For reads of several queries that must agree (a run's metric
        summaries and the points they count)."""
        with self.translated(), self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """An ORM session in a write transaction, committed on exit. Its rows must not escape."""
        self._check_writable()
        with (
            self.translated(),
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self.translated(), Session(self.engine) as session:
            yield session

    def quick_check(self) -> None:
        """``PRAGMA quick_check`` of a SQLite file: :class:`StoreCorruptError` (and no later write) if
        it finds damage. Other databases check themselves."""
        if not self.is_sqlite:
            return
        with self.read() as conn:
            problems = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check(5)").all()]
        if problems != ["ok"]:
            problems = [" ".join(str(p).replace("*", "").split()) for p in problems]
            path = sqlite_path(self.engine.url)
            self.corrupt = StoreCorruptError(
                f"the store {path or hide_password(self.engine.url)} is damaged ({'; '.join(problems[:2])}); "
                f"nothing more is written to it. {recovery_advice(path)}"
            )
            raise self.corrupt

    def dispose(self) -> None:
        self.engine.dispose()
