"""``mmstudio demo`` and ``mmstudio data check``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmstudio.cli._common import EXIT_OK, EXIT_USAGE, UsageError, json_option, print_json
from mmstudio.formatting import plural


def add_parsers(commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="write the built-in demo dataset",
        description="Write the built-in demo dataset: procedurally generated images and captions whose "
        "label needs both modalities (the shape is only in the image, the rest only in the caption).",
    )
    demo.add_argument("dir", nargs="?", default="mmstudio-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--items", type=int, default=3000, help="number of pairs (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--image-size", type=int, default=64, help="image side in pixels (default: 64)")
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
    add_dataset_options(check)
    check.add_argument(
        "--quick",
        action="store_true",
        help="read image headers only (fast; truncated or corrupt image data is not found)",
    )
    check.add_argument("--max-examples", type=int, default=5, help="example rows shown per problem kind")
    check.add_argument(
        "--problems-csv",
        metavar="FILE",
        help="also write every problem to FILE (file, row, kind, message, skipped, image), as the "
        "Datasets page's Export CSV does",
    )
    json_option(check)
    check.set_defaults(func=cmd_data_check)

    cache = data_commands.add_parser(
        "cache",
        help="show or clear the preprocessing caches",
        description="Show the caches of decoded images, tokenized texts and frozen encoders' features "
        "(each dataset's images at each size), their size against the cap (MMSTUDIO_CACHE_MAX_GB in GiB, "
        "20 by default; the least recently used go first), and clear them. Everything in them is rebuilt "
        "when needed.",
    )
    cache.add_argument("--clear", action="store_true", help="remove every cache")
    json_option(cache)
    cache.set_defaults(func=cmd_data_cache)


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """``--format``, the column-role overrides and the split seed, shared by data check, train and eval."""
    from mmstudio.data.formats import available_formats

    parser.add_argument(
        "--format", choices=available_formats(), help="skip detection and read the dataset as this format"
    )
    for role in ("image", "text", "label", "split"):
        parser.add_argument(
            f"--{role}-column", metavar="NAME", help=f"the column that holds the {role} (default: guessed)"
        )
    parser.add_argument(
        "--split-seed", type=int, default=0, help="seed of the train/val/test split (default: 0)"
    )


def column_roles(args: argparse.Namespace):
    from mmstudio.data.types import ColumnRoles

    roles = {r: getattr(args, f"{r}_column", None) for r in ("image", "text", "label", "split")}
    return ColumnRoles(**roles) if any(roles.values()) else None


def cmd_demo(args: argparse.Namespace) -> int:
    from mmstudio.data.demo import write_demo

    out = Path(args.dir)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise UsageError(f"{out} exists and is not empty; choose another folder or pass --force")
    if args.items < 1:
        raise UsageError("--items must be at least 1")
    if args.image_size < 32:
        raise UsageError(f"--image-size must be at least 32 pixels, not {args.image_size}")
    if args.seed < 0:
        raise UsageError(f"--seed must be 0 or more, not {args.seed}")
    try:
        manifest = write_demo(out, n_items=args.items, seed=args.seed, image_size=args.image_size)
    except OSError as exc:
        raise UsageError(f"cannot write the demo dataset to {out}: {exc.strerror or exc}") from exc
    print(f"wrote {plural(args.items, 'demo pair')} to {out}", file=sys.stderr)
    print(f"  manifest: {manifest}", file=sys.stderr)
    print(f"  next: mmstudio data check {out}", file=sys.stderr)
    return EXIT_OK


def _print_check(dataset, max_examples: int) -> None:
    from mmstudio.data.report import summary_text

    report = dataset.report
    cols = ", ".join(f"{k}={v}" for k, v in dataset.columns.to_dict().items() if v)
    print(f"Dataset   {dataset.source.root}")
    print(f"Format    {dataset.format}: {dataset.reason}")
    print(f"Task      {dataset.task}")
    print(f"Columns   {cols or '(none)'}")
    print(f"Rows      {summary_text(report)}")
    for note in dataset.notes:
        print(f"Note      {note}")
    groups = report.by_kind()
    if groups:
        print("Problems")
        for kind, problems in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            skipped = sum(p.skipped for p in problems)
            note = "skipped" if skipped == len(problems) else f"{skipped:,} skipped, rest kept"
            print(f"  {kind}: {plural(len(problems), 'row')} ({note})")
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
            print(f"  ... and {plural(len(labels) - len(shown), 'more label')}")
    splits = dataset.split_counts()
    if splits:
        print("Splits    " + "   ".join(f"{k} {v:,}" for k, v in splits.items()))


def dataset_spec(path: str, args: argparse.Namespace, *, check_images: str = "full"):
    """The :class:`DatasetSpec` of ``path`` with the dataset options of the command line."""
    from mmstudio.data.spec import DatasetSpec

    return DatasetSpec(
        path=path,
        format=args.format,
        columns=column_roles(args),
        seed=args.split_seed,
        check_images=check_images,
    )


def load_for_cli(spec, *, label: str = "checking", quiet: bool = False):
    """Load and validate the dataset of ``spec`` with a progress bar on stderr (none when ``quiet``);
    unreadable input is a usage error."""
    from mmstudio.console import ProgressBar
    from mmstudio.data.types import DatasetFormatError

    bar = ProgressBar(label, unit="images", enabled=not quiet)
    try:
        return spec.load(progress=bar)
    except (DatasetFormatError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    finally:
        bar.close()


def _escape_undecodable(stream) -> None:
    """File names that are not UTF-8 reach Python as lone surrogates, which UTF-8 output refuses:
    write them as ``\\udce9`` escapes (in ``--json`` output, the JSON escape of the same string)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):
            pass


def cmd_data_check(args: argparse.Namespace) -> int:
    _escape_undecodable(sys.stdout)
    dataset = load_for_cli(dataset_spec(args.path, args, check_images="header" if args.quick else "full"))
    if args.json:
        print_json(dataset.summary_dict())
    else:
        _print_check(dataset, args.max_examples)
    if args.problems_csv:
        from mmstudio.data.report import write_problems_csv

        try:
            written = write_problems_csv(dataset.report.problems, args.problems_csv)
        except OSError as exc:
            raise UsageError(f"cannot write {args.problems_csv}: {exc.strerror or exc}") from exc
        print(f"wrote {plural(len(dataset.report.problems), 'problem')} to {written}", file=sys.stderr)
    if not dataset.report.usable:
        print(
            f"error: {args.path} has no usable pairs ({plural(dataset.report.rows, 'row')}, all skipped); "
            "see the problems above",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK


def cmd_data_cache(args: argparse.Namespace) -> int:
    from datetime import datetime

    from mmstudio import paths
    from mmstudio.data.cache import cache_entries, cache_limit, clean_caches, clear_caches
    from mmstudio.formatting import format_bytes, local_time

    try:
        cap = cache_limit()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    root = paths.cache_dir()
    if args.clear:
        freed = clear_caches()
        print(f"removed the caches in {root}: {format_bytes(freed)} freed", file=sys.stderr)
    else:
        clean_caches()  # what a killed build left, and what is over the cap
    entries = cache_entries()
    total = sum(e.bytes for e in entries)
    if args.json:
        print_json(
            {
                "folder": str(root),
                "bytes": total,
                "cap_bytes": cap,
                "caches": [
                    {"kind": e.kind, "key": e.key, "bytes": e.bytes, "last_used": e.last_used}
                    for e in reversed(entries)
                ],
            }
        )
        return EXIT_OK
    limit = f"cap {format_bytes(cap)}" if cap else "no cap"
    print(f"{root}: {plural(len(entries), 'cache')}, {format_bytes(total)} ({limit}, MMSTUDIO_CACHE_MAX_GB)")
    for e in reversed(entries):
        used = local_time(datetime.fromtimestamp(e.last_used))
        print(f"  {e.kind:<8} {format_bytes(e.bytes):>10}  last used {used}  {e.key}")
    return EXIT_OK
