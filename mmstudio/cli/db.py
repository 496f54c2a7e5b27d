"""``mmstudio db upgrade|copy``: the store itself (its schema; runs from one store into another)."""

from __future__ import annotations

import argparse
import sys

from mmstudio.cli._common import EXIT_FAILED, EXIT_OK, UsageError, db_option, json_option, print_json


def add_parsers(commands) -> None:
    db = commands.add_parser(
        "db", help="upgrade a store, copy runs between stores", description="The experiment store itself."
    )
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser(
        "upgrade",
        help="bring a store to the current schema",
        description="Bring the store (--db, else the default one) to this mmstudio's schema, as opening it "
        "does; a SQLite store is backed up first, next to it. Says from which revision to which.",
    )
    db_option(p)
    json_option(p)
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser(
        "copy",
        help="copy runs from one store into another",
        description="Copy runs (records, specs, datasets, experiments, tags and notes, curves, evaluations, "
        "predictions, artifacts' records and, with --with-checkpoints, their checkpoint files) from one "
        "store into another, e.g. a local SQLite store into a team's PostgreSQL store and back. Each run "
        "gets a new id in the target (the mapping is printed) and keeps its identity, so a run copied "
        "before is not copied again. Runs still running or queued are not copied. One transaction per "
        "run: a failure leaves the runs copied before it whole, and nothing of the failed one.",
    )
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to copy from")
    p.add_argument("--to", dest="target", required=True, metavar="URL", help="the store to copy into")
    p.add_argument(
        "--runs", type=_run_ids, metavar="ID,...", help="only these runs of the source (default: every run)"
    )
    p.add_argument(
        "--with-checkpoints",
        action="store_true",
        help="also copy the runs' files (checkpoints) into the target store's run folders",
    )
    json_option(p, "what was copied as JSON")
    p.set_defaults(func=cmd_copy)


def _run_ids(text: str) -> list[int]:
    from mmstudio.cli._common import run_id_arg

    return [run_id_arg(part.strip()) for part in text.split(",") if part.strip()] or [run_id_arg(text)]


def _existing(url: str, option: str) -> str:
    """``url``, or a usage error when it names a SQLite file that does not exist (opening it would
    create an empty store)."""
    from mmstudio.store.engine import parse_url, sqlite_path

    path = sqlite_path(parse_url(url))
    if path is not None and not path.expanduser().exists():
        raise UsageError(f"{option} {url}: there is no store at {path}; check the path")
    return url


def cmd_upgrade(args: argparse.Namespace) -> int:
    from mmstudio.store.store import upgrade_store

    url = getattr(args, "db", None)
    if url is not None:
        _existing(url, "--db")
    done = upgrade_store(url)
    if args.json:
        print_json(
            {
                "url": done.url,
                "from": done.before,
                "to": done.after,
                "changed": done.changed,
                "backup": str(done.backup) if done.backup else None,
            }
        )
    elif not done.changed:
        print(f"{done.url} is already at the current schema (revision {done.after})")
    elif done.before is None:
        print(f"{done.url} was empty: created the store at revision {done.after}")
    else:
        saved = f"; the store before it is backed up in {done.backup}" if done.backup else ""
        print(f"upgraded {done.url} from revision {done.before} to {done.after}{saved}")
    return EXIT_OK


def cmd_copy(args: argparse.Namespace) -> int:
    from mmstudio.console import ProgressBar
    from mmstudio.store import NotFoundError, Store
    from mmstudio.store.transfer import COPIED, PRESENT, CopyError, copy_runs

    _existing(args.source, "--from")
    with Store.open(args.source, read_only=True) as source, Store.open(args.target) as target:
        bar = ProgressBar("copying", unit="runs")
        try:
            report = copy_runs(source, target, args.runs, with_files=args.with_checkpoints, progress=bar)
            failed = None
        except NotFoundError as exc:
            raise UsageError(f"{exc}; 'mmstudio runs list --db URL' shows them") from exc
        except CopyError as exc:
            report, failed = exc.report, exc
        finally:
            bar.close()
    if args.json:
        doc = report.to_dict()
        doc["error"] = str(failed) if failed else None
        print_json(doc)
    else:
        for r in report.runs:
            if r.action == COPIED:
                files = f", {r.files} file{'s' * (r.files != 1)}" if r.files else ""
                print(f"run {r.source_id} -> run {r.target_id}  ({r.name}{files})")
            elif r.action == PRESENT:
                print(f"run {r.source_id} = run {r.target_id}  ({r.name}: already in the target)")
            else:
                print(f"run {r.source_id} not copied  ({r.name}: {r.reason})")
        counts = report.to_dict()
        print(
            f"copied {counts['copied']} run{'s' * (counts['copied'] != 1)} from {report.source} to "
            f"{report.target}; {counts['present']} already there, {counts['skipped']} not finished",
            file=sys.stderr,
        )
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
