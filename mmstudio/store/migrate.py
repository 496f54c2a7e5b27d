"""Schema versions: bring any database to the schema this code knows, safely.

- new or empty database: create the schema (upgrade to head);
- older revision: back it up (SQLite: ``<file>.bak-<rev>-<UTC time>`` made with the sqlite3 backup
  API, so WAL content is included), then upgrade; the data is kept;
- a revision this code does not know (written by a newer mmstudio): :class:`StoreVersionError`
  naming the mmstudio version needed; nothing is changed.

An old database is never refused or wiped. Migrations live in ``migrations/`` inside the package and
run through a programmatic alembic ``Config``; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, inspect, select, text

import mmstudio

from ._util import insert_missing
from .engine import WRITE_OPTIONS, Database, sqlite_path
from .errors import StoreError, StoreVersionError, StoreWriteError
from .models import StoreInfoRow

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

#: The newest revision in ``migrations/versions`` (a test checks it). Knowing it without loading
#: alembic keeps opening an up-to-date database fast (alembic is imported only to migrate).
HEAD_REVISION = "0006"

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_INFO_REQUIRES = "requires_mmstudio"
_INFO_REVISION = "schema_revision"
_INFO_UPGRADED_BY = "upgraded_by_mmstudio"
#: The PostgreSQL advisory lock that serialises schema upgrades ("mmst" in ASCII).
_UPGRADE_LOCK = 0x6D6D7374


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic config pointing at the packaged migrations (and at ``connection`` if given)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision, read from the migration scripts."""
    head = script_directory().get_current_head()
    assert head is not None
    return head


def known_revision(revision: str) -> bool:
    if revision == HEAD_REVISION:
        return True
    from alembic.util.exc import CommandError

    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:
        return False


def _ancestors(revision: str) -> set[str]:
    """``revision`` and every revision below it."""
    return {s.revision for s in script_directory().walk_revisions(base="base", head=revision)}


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision (``None`` for a database alembic never touched)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(revisions) > 1:
        raise StoreError(f"the database has several schema revisions {revisions}; it needs repair")
    return revisions[0] if revisions else None


def required_mmstudio(revision: str) -> str:
    """The first mmstudio release that has ``revision`` (declared in the revision file)."""
    script = script_directory().get_revision(revision)
    assert script is not None
    return str(script.module.mmstudio_version)


def _user_tables(conn: Connection) -> list[str]:
    return [t for t in inspect(conn).get_table_names() if not t.startswith("sqlite_")]


def _check_known(conn: Connection, revision: str | None, where: str) -> None:
    if revision is None:
        tables = _user_tables(conn)
        if tables:
            raise StoreError(
                f"{where} is not an mmstudio store: it has tables ({', '.join(sorted(tables)[:5])}) but no "
                "mmstudio schema version. Nothing was changed; point --db / MMSTUDIO_DB at another database."
            )
        return
    if known_revision(revision):
        return
    info: dict[str, str] = {}
    if "store_info" in _user_tables(conn):
        info = dict(conn.execute(select(StoreInfoRow.key, StoreInfoRow.value)).all())
    needed = info.get(_INFO_REQUIRES)
    need = f"mmstudio {needed} or newer" if needed else "a newer mmstudio"
    raise StoreVersionError(
        f"{where} was written by a newer mmstudio (schema revision {revision!r}; this is mmstudio "
        f"{mmstudio.__version__}, which knows revisions up to {HEAD_REVISION!r}). It needs {need}: "
        "upgrade mmstudio to open it. Nothing was changed."
    )


def backup_sqlite(path: Path, revision: str) -> Path:
    """Copy the SQLite file ``path`` (WAL included) next to it as ``<name>.bak-<rev>-<time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.bak-{revision}-{stamp}-{n}")
        n += 1
    src = sqlite3.connect(path, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


def upgrade(db: Database, revision: str = "head", *, backup: bool = True) -> Path | None:
    """Bring ``db`` up to ``revision`` (default: the newest this code knows; an older one only
    serves tests that need an old database). Never downgrades.

    Returns the backup file made before upgrading an existing SQLite database, else ``None``.
    Raises :class:`StoreVersionError` for a database newer than this code, without touching it.
    """
    url = db.engine.url
    where = f"The database {url.render_as_string(hide_password=True)}"
    target = HEAD_REVISION if revision == "head" else revision
    with db.read() as conn:
        rev = current_revision(conn)
        _check_known(conn, rev, where)
    if rev == target:
        return None
    if rev is not None and target != HEAD_REVISION and target in _ancestors(rev):
        raise StoreError(f"{where} is at {rev}, past the requested {target}; the store never downgrades")

    try:
        with db.translated():
            return _upgrade(db, where, target, backup)
    except StoreWriteError as exc:
        raise StoreWriteError(
            f"{where} must have its schema upgraded (from revision {rev or 'none'} to {target}) before it "
            f"can be used, and that write failed: {exc}"
        ) from exc


def _upgrade(db: Database, where: str, target: str, backup: bool) -> Path | None:
    url = db.engine.url
    with db.engine.connect() as conn:
        driver = conn.connection.driver_connection if db.is_sqlite else None
        if driver is not None:
            # SQLite's procedure for schema changes: foreign keys off (outside any transaction) so a
            # table rebuild cannot cascade deletes, then a foreign_key_check before commit.
            driver.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.execution_options(**WRITE_OPTIONS).begin():
                if not db.is_sqlite:
                    # PostgreSQL: one upgrade at a time (BEGIN IMMEDIATE does it for SQLite); two
                    # processes opening a new shared store at once would otherwise both create it.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
                rev = current_revision(conn)  # another process may have upgraded meanwhile
                _check_known(conn, rev, where)
                if rev == target:
                    return None
                made: Path | None = None
                path = sqlite_path(url)
                if rev is not None and backup:
                    if path is not None:
                        made = backup_sqlite(path, rev)
                        log.info("backed up %s to %s before upgrading it", path, made)
                    else:
                        log.warning("%s is upgraded from %s without an automatic backup", where, rev)
                from alembic import command

                command.upgrade(alembic_config(conn), target)
                if driver is not None:
                    bad = driver.execute("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise StoreError(f"upgrading {where} broke foreign keys: {bad[:5]}; nothing changed")
                _write_info(conn, target)
        finally:
            if driver is not None:
                driver.execute("PRAGMA foreign_keys = ON")
    return made


def read_info(db: Database) -> dict[str, str]:
    """The store's ``store_info`` as a dict (empty below the revisions that have the table)."""
    with db.read() as conn:
        if "store_info" not in _user_tables(conn):
            return {}
        return dict(conn.execute(select(StoreInfoRow.key, StoreInfoRow.value)).all())


def ensure_store_id(db: Database) -> str:
    """The store's identity, made now if it has none (a row removed by hand): a random hex id."""
    import uuid

    with db.write() as conn:
        found = conn.execute(select(StoreInfoRow.value).where(StoreInfoRow.key == "store_id")).scalar()
        if found:
            return str(found)
        # another process may make one meanwhile: then that one is the store's identity
        insert_missing(conn, StoreInfoRow, [{"key": "store_id", "value": uuid.uuid4().hex}], on=["key"])
        return str(
            conn.execute(select(StoreInfoRow.value).where(StoreInfoRow.key == "store_id")).scalar_one()
        )


def _write_info(conn: Connection, revision: str) -> None:
    if "store_info" not in _user_tables(conn):
        return  # only below revisions that have the table (tests build such databases)
    values = {
        _INFO_REVISION: revision,
        _INFO_REQUIRES: required_mmstudio(revision),
        _INFO_UPGRADED_BY: mmstudio.__version__,
    }
    conn.execute(delete(StoreInfoRow).where(StoreInfoRow.key.in_(values)))
    conn.execute(insert(StoreInfoRow), [{"key": k, "value": v} for k, v in values.items()])


def main(argv: list[str] | None = None) -> int:
    """Developer entry point: ``python -m mmstudio.store.migrate revision -m MSG --db URL``."""
    from .engine import create_store_engine

    parser = argparse.ArgumentParser(prog="python -m mmstudio.store.migrate")
    parser.add_argument("command", choices=["revision", "upgrade", "current"])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of a scratch database")
    parser.add_argument("-m", "--message", default="")
    parser.add_argument("--rev-id", default=None)
    args = parser.parse_args(argv)
    db = Database(create_store_engine(args.db))
    try:
        if args.command == "upgrade":
            upgrade(db)
        elif args.command == "current":
            with db.read() as conn:
                print(current_revision(conn))
        else:
            upgrade(db)
            from alembic import command

            with db.write() as conn:
                command.revision(alembic_config(conn), args.message, autogenerate=True, rev_id=args.rev_id)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
