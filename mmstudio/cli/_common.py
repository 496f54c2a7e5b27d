"""What every command shares: exit codes, the usage error, the ``--db`` option, opening the store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unusable input: reported on stderr, exit code 2."""


def db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="experiment store: any SQLAlchemy URL (default: $MMSTUDIO_DB, else a SQLite file in the "
        "user data directory; $MMSTUDIO_HOME relocates it)",
    )


def json_option(parser: argparse.ArgumentParser, what: str = "a machine-readable summary") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} on stdout")


def open_store(args: argparse.Namespace, *, read_only: bool = False):
    """The store ``--db`` names; ``read_only`` (listing, showing, comparing, exporting) writes nothing
    to a store whose schema is current. An unusable store raises a
    :class:`~mmstudio.store.StoreError` whose message ``main`` prints as one line."""
    from mmstudio.store import Store

    return Store.open(getattr(args, "db", None), read_only=read_only)


def print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def get_run(store, run_id: int):
    """The run's detail, or a usage error that says how to find the right id."""
    from mmstudio.store import NotFoundError

    try:
        return store.get_run(run_id)
    except NotFoundError as exc:
        raise UsageError(f"there is no run {run_id} in the store; 'mmstudio runs list' shows them") from exc
