"""What every command shares: exit codes, the usage error, the ``--db`` option, opening the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
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


def run_id_arg(text: str) -> int:
    """An argparse type: a run id, a whole number from 1 (so ``--resume -1`` is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id (a whole number; 'mmstudio runs list' shows them)"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{value} is not a run id: run ids start at 1 ('mmstudio runs list' shows them)"
        )
    return value


def check_output_file(path: str, option: str = "-o") -> None:
    """A usage error unless ``path`` can be created or replaced as a file: not a folder, and in a
    folder that exists (nothing is created silently)."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path} is a folder; give the name of a file to write in it")
    if not target.parent.is_dir():
        raise UsageError(
            f"{option} {path}: the folder {target.parent} does not exist; create it first, or choose another"
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
