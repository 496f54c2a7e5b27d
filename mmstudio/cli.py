"""The ``mmstudio`` command line (the contract is in DESIGN.md).

Exit codes: 0 success, 1 the job failed (message on stderr), 2 bad usage or unusable input.
Heavy imports (torch, Qt, the store) happen inside the command that needs them, so ``--help`` and
``data check`` start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mmstudio import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unusable input: reported on stderr, exit code 2."""


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="experiment store: any SQLAlchemy URL (default: $MMSTUDIO_DB, else a SQLite file in the "
        "user data directory; $MMSTUDIO_HOME relocates it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmstudio",
        description="A studio for multimodal (text + image) deep-learning experiments: load a paired "
        "dataset, validate it, train encoder + fusion models and compare every run.",
        epilog="Run 'mmstudio COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"mmstudio {__version__}")
    _db_option(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="write the built-in demo dataset",
        description="Write the built-in demo dataset: procedurally generated images and captions whose "
        "label needs both modalities (the shape is only in the image, the rest only in the caption).",
    )
    demo.add_argument("dir", nargs="?", default="mmstudio-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--items", type=int, default=3000, help="number of pairs (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument(
        "--image-size", type=int, default=64, help="image side in pixels (default: %(default)s)"
    )
    demo.add_argument("--force", action="store_true", help="overwrite a folder that is not empty")
    demo.set_defaults(func=cmd_demo)

    data = commands.add_parser("data", help="inspect datasets", description="Inspect datasets.")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    check = data_commands.add_parser(
        "check",
        help="detect, validate and summarise a dataset",
        description="Detect a dataset's format, validate every row and summarise it. Exit 0 when the "
        "dataset is usable (at least one valid pair), 2 when it is not.",
    )
    check.add_argument("path", help="a folder, a manifest file, a COCO captions .json, or tar shard(s)")
    from mmstudio.data.types import FORMATS

    check.add_argument("--format", choices=FORMATS, help="skip detection and read the dataset as this format")
    for role in ("image", "text", "label", "split"):
        check.add_argument(
            f"--{role}-column", metavar="NAME", help=f"the column that holds the {role} (default: guessed)"
        )
    check.add_argument(
        "--quick",
        action="store_true",
        help="read image headers only (fast; truncated or corrupt image data is not found)",
    )
    check.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split (default: 0)")
    check.add_argument("--max-examples", type=int, default=5, help="example rows shown per problem kind")
    check.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    check.set_defaults(func=cmd_data_check)

    runs = commands.add_parser("runs", help="list and manage saved runs", description="Saved runs.")
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)
    runs_list = runs_commands.add_parser(
        "list", help="list the runs in the store", description="List the runs in the store."
    )
    _db_option(runs_list)
    runs_list.add_argument("--status", help="only runs with this status")
    runs_list.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    runs_list.set_defaults(func=cmd_runs_list)
    return parser


# ---------------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from mmstudio.data.demo import write_demo

    out = Path(args.dir)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"{out} exists and is not empty; choose another folder or pass --force")
    if args.items < 1:
        raise UsageError("--items must be at least 1")
    manifest = write_demo(out, n_items=args.items, seed=args.seed, image_size=args.image_size)
    print(f"wrote {args.items:,} demo pairs to {out}", file=sys.stderr)
    print(f"  manifest: {manifest}", file=sys.stderr)
    print(f"  next: mmstudio data check {out}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------------------- data check


def _print_check(dataset, max_examples: int) -> None:
    report = dataset.report
    cols = ", ".join(f"{k}={v}" for k, v in dataset.columns.to_dict().items() if v)
    print(f"Dataset   {dataset.source.root}")
    print(f"Format    {dataset.format}: {dataset.reason}")
    print(f"Task      {dataset.task}")
    print(f"Columns   {cols or '(none)'}")
    print(f"Rows      {report.rows:,}: {report.summary()}")
    for note in dataset.notes:
        print(f"Note      {note}")
    groups = report.by_kind()
    if groups:
        print("Problems")
        for kind, problems in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            skipped = sum(p.skipped for p in problems)
            note = "skipped" if skipped == len(problems) else f"{skipped:,} skipped, rest kept"
            print(f"  {kind}: {len(problems):,} rows ({note})")
            for p in problems[:max_examples]:
                where = f"row {p.row}" if p.row is not None else "file"
                src = f"{p.source} " if p.source else ""
                path = f" {p.path}:" if p.path else ""
                print(f"    {src}{where}:{path} {p.message}")
            if len(problems) > max_examples:
                print(f"    ... and {len(problems) - max_examples:,} more (--json lists them all)")
    else:
        print("Problems  none")
    labels = dataset.label_counts()
    if labels:
        print(f"Labels    {len(labels):,}")
        top = max(labels.values())
        width = max(len(str(name)) for name in labels)
        shown = list(labels.items())[:30]
        for name, count in shown:
            bar = "#" * max(1, round(30 * count / top))
            print(f"  {str(name).ljust(width)}  {count:>7,}  {bar}")
        if len(labels) > len(shown):
            print(f"  ... and {len(labels) - len(shown):,} more labels")
    splits = dataset.split_counts()
    if splits:
        print("Splits    " + "   ".join(f"{k} {v:,}" for k, v in splits.items()))


def cmd_data_check(args: argparse.Namespace) -> int:
    from mmstudio.console import ProgressBar
    from mmstudio.data import LoadOptions, load_dataset
    from mmstudio.data.detect import DatasetFormatError
    from mmstudio.data.types import ColumnRoles

    roles = {r: getattr(args, f"{r}_column") for r in ("image", "text", "label", "split")}
    columns = ColumnRoles(**roles) if any(roles.values()) else None
    options = LoadOptions(check_images="header" if args.quick else "full", seed=args.seed)
    bar = ProgressBar("checking", unit="rows")
    try:
        dataset = load_dataset(args.path, format=args.format, columns=columns, options=options, progress=bar)
    except (DatasetFormatError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    finally:
        bar.close()
    if args.json:
        json.dump(dataset.summary_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_check(dataset, args.max_examples)
    if not dataset.report.usable:
        print(
            f"error: {args.path} has no usable pairs ({dataset.report.rows:,} rows, all skipped); "
            "see the problems above",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- runs


def _open_store(args: argparse.Namespace):
    from mmstudio.store import Store

    return Store.open(getattr(args, "db", None))


_HEADLINE_METRICS = ("test/accuracy", "val/accuracy", "test/loss", "val/loss", "train/loss")


def cmd_runs_list(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        runs = store.list_runs(status=args.status)
    if args.json:
        doc = [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "created": r.created.isoformat(),
                "experiment": r.experiment,
                "dataset": r.dataset,
                "device": r.device,
                "duration_s": r.duration_s,
                "tags": r.tags,
                "metrics": r.metrics,
            }
            for r in runs
        ]
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not runs:
        print("no runs yet; train one with: mmstudio train --demo", file=sys.stderr)
        return EXIT_OK
    from mmstudio.console import format_duration, table

    rows = []
    for r in runs:
        key = next(
            (k for k in ("test/accuracy", "val/accuracy", "val/loss", "train/loss") if k in r.metrics), None
        )
        metric = f"{key} {r.metrics[key]:.4g}" if key else ""
        duration = format_duration(r.duration_s) if r.duration_s is not None else ""
        rows.append(
            [
                str(r.id),
                r.name,
                r.status,
                r.created.strftime("%Y-%m-%d %H:%M"),
                duration,
                r.device or "",
                metric,
            ]
        )
    print(table(rows, ["ID", "NAME", "STATUS", "CREATED", "TIME", "DEVICE", "METRIC"]))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
