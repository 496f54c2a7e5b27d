"""``mmstudio runs list|show|compare|export|delete``."""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from mmstudio.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    check_output_file,
    db_option,
    get_run,
    json_option,
    open_store,
    print_json,
    run_id_arg,
)
from mmstudio.formatting import format_duration, format_value, local_time
from mmstudio.vocabulary import RUN_STATUSES, describe_monitor, recorded_monitor


def add_parsers(commands) -> None:
    runs = commands.add_parser("runs", help="list and manage saved runs", description="Saved runs.")
    sub = runs.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("list", help="list the runs in the store", description="List the runs, newest first.")
    p.add_argument("--status", choices=RUN_STATUSES, help="only runs with this status")
    p.add_argument("--name", help="only runs whose name contains this text")
    json_option(p, "a JSON list")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="everything stored about one run", description="Show one run.")
    p.add_argument("run_id", type=run_id_arg, metavar="ID")
    json_option(p, "the run as JSON")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "compare",
        help="compare runs side by side",
        description="Compare runs: the parameters that differ, their final and best metrics, per-class "
        "F1 and modality contribution on the test split; the same tables as the Compare page.",
    )
    p.add_argument("run_ids", type=run_id_arg, nargs="+", metavar="ID")
    p.add_argument("--all", action="store_true", help="show every parameter, not only those that differ")
    p.add_argument("--csv", metavar="FILE", help="write one table as CSV (the one --table names)")
    p.add_argument(
        "--table",
        type=_table_name,
        default="metrics",
        metavar="NAME",
        help="the table --csv writes, as the Compare page's tab of that name saves it: parameters, "
        "metrics (the default), per_class or modalities",
    )
    p.add_argument(
        "--html", metavar="FILE", help="write the comparison as one self-contained HTML report (no charts)"
    )
    json_option(p, "the comparison as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "export",
        help="export a run with its curves",
        description="Export a run: its specs, metrics, evaluations and every curve (JSON), or every "
        "curve point as rows (CSV).",
    )
    p.add_argument("run_id", type=run_id_arg, metavar="ID")
    p.add_argument("--format", choices=("json", "csv"), default="json", help="default: json")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "delete",
        help="delete runs and their checkpoints",
        description="Delete runs: their records, curves, evaluations and the checkpoint files mmstudio "
        "wrote for them. Files you exported elsewhere are kept.",
    )
    p.add_argument("run_ids", type=run_id_arg, nargs="+", metavar="ID")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "stop",
        help="ask running runs to stop, wherever they train",
        description="Ask running runs to stop through the store, whichever process or machine trains "
        "them (torchrun on a cluster node, another terminal, the app): each stops at its next step, "
        "saves a checkpoint and ends 'cancelled' (resume it with train --resume ID).",
    )
    p.add_argument("run_ids", type=run_id_arg, nargs="+", metavar="ID")
    p.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=600.0,
        metavar="SECONDS",
        help="wait until they ended (default: 600 s)",
    )
    p.set_defaults(func=cmd_stop)

    for parser in sub.choices.values():
        db_option(parser)


def _table_name(text: str) -> str:
    """A table of ``runs compare`` (checked when given: the store's report module is not imported to
    build the parser)."""
    from mmstudio.store.report import TABLES

    if text not in TABLES:
        raise argparse.ArgumentTypeError(f"no table {text!r}; choose one of {', '.join(TABLES)}")
    return text


def summary_dict(run) -> dict:
    return {
        "id": run.id,
        "name": run.name,
        "status": str(run.status),
        "created": run.created.isoformat(),
        "started": run.started.isoformat() if run.started else None,
        "ended": run.ended.isoformat() if run.ended else None,
        "experiment": run.experiment,
        "dataset": run.dataset,
        "device": run.device,
        "duration_s": run.duration_s,
        "tags": list(run.tags),
        "metrics": run.metrics,
    }


def cmd_list(args: argparse.Namespace) -> int:
    from mmstudio.store.summaries import fetch_records

    with open_store(args, read_only=True) as store:
        runs = store.list_runs(status=args.status, name_contains=args.name)
        records = fetch_records(store, [r.id for r in runs])
    runs = [r for r in runs if r.id in records]  # deleted meanwhile
    if args.json:
        print_json([{**summary_dict(r), **record_dict(records[r.id])} for r in runs])
        return EXIT_OK
    if not runs:
        print("no runs yet; train one with: mmstudio train --demo", file=sys.stderr)
        return EXIT_OK
    from mmstudio.console import table

    rows = []
    for r in runs:
        rec = records[r.id]
        metric = f"{rec.metric} {format_value(rec.best)}" if rec.metric else ""
        rows.append(
            [
                str(r.id),
                r.name,
                str(r.status),
                local_time(r.created),
                format_duration(r.duration_s),
                r.device or "",
                rec.architecture,
                metric,
                format_value(rec.test),
            ]
        )
    headers = ["ID", "NAME", "STATUS", "CREATED", "TIME", "DEVICE", "ARCHITECTURE", "METRIC", "TEST"]
    print(table(rows, headers))
    return EXIT_OK


def record_dict(record) -> dict:
    """What the runs table adds to a run's summary: its architecture label and its key metric
    (the metric it is judged by, its best and last value, and its test value)."""
    return {"architecture": record.architecture, "key_metric": record.key_metric_json()}


def _run_document(store, run_id: int) -> dict:
    from mmstudio.store.summaries import make_record

    run = get_run(store, run_id)
    stats = store.metric_stats([run_id]).get(run_id, {})
    doc = summary_dict(run)
    doc.update(record_dict(make_record(run, stats)))
    doc.update(
        uid=run.uid,
        seed=run.seed,
        notes=run.notes,
        error_message=run.error_message,
        error_traceback=run.error_traceback,
        spec=run.spec,
        train_spec=run.train_spec,
        metric_stats={
            k: {"count": s.count, "last": s.last_value, "best": s.best, "last_step": s.last_step}
            for k, s in sorted(stats.items())
        },
        evaluations=[
            {
                "split": e.split,
                "ablation": e.ablation,
                "dataset_id": e.dataset_id,
                "metrics": e.metrics,
                "labels": e.labels,
                "confusion_matrix": e.confusion_matrix,
                "per_class": e.per_class,
            }
            for e in store.list_evaluations(run_id)
        ],
        artifacts=[
            {"kind": a.kind, "path": a.path, "size_bytes": a.size_bytes, "sha256": a.sha256}
            for a in store.list_artifacts(run_id)
        ],
    )
    return doc


def cmd_show(args: argparse.Namespace) -> int:
    with open_store(args, read_only=True) as store:
        doc = _run_document(store, args.run_id)
    if args.json:
        print_json(doc)
        return EXIT_OK
    from mmstudio.console import table

    print(f"Run {doc['id']}  {doc['name']}  [{doc['status']}]")
    duration = format_duration(doc["duration_s"]) or "-"
    print(f"  experiment {doc['experiment']}   dataset {doc['dataset'] or '-'}")
    print(f"  device {doc['device'] or '-'}   seed {doc['seed']}   duration {duration}")
    if doc["spec"]:
        print(f"  model {doc['architecture']}   task {doc['spec'].get('task', '?')}")
    if doc["train_spec"]:
        print(f"  best checkpoint by {describe_monitor(recorded_monitor(doc['train_spec']))}")
    if doc["tags"]:
        print(f"  tags {', '.join(doc['tags'])}")
    if doc["notes"]:
        print(f"  notes {doc['notes']}")
    if doc["error_message"]:
        print(f"  error {doc['error_message']}")
    if doc["metric_stats"]:
        rows = [
            [k, format_value(s["last"]), format_value(s["best"]), f"{s['count']:,}"]
            for k, s in doc["metric_stats"].items()
        ]
        print()
        print(table(rows, ["METRIC", "LAST", "BEST", "POINTS"]))
    if doc["evaluations"]:
        print()
    for e in doc["evaluations"]:
        what = e["split"] + (f" ({e['ablation'].replace('_', ' ')})" if e["ablation"] else "")
        scalars = {k: v for k, v in e["metrics"].items() if isinstance(v, int | float)}
        print(f"evaluation {what}: " + "  ".join(f"{k} {format_value(v)}" for k, v in scalars.items()))
    if doc["artifacts"]:
        print()
        for a in doc["artifacts"]:
            size = f"{a['size_bytes'] / 1e6:.1f} MB" if a["size_bytes"] else ""
            print(f"artifact {a['kind']}: {a['path']} {size}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from mmstudio.store.compare import MAX_RUNS, load_comparison
    from mmstudio.store.report import comparison_document, html_report, report_tables, table, write_csv

    if len(args.run_ids) < 2:
        raise UsageError("give at least two run ids to compare")
    if len(set(args.run_ids)) > MAX_RUNS:
        raise UsageError(f"compare at most {MAX_RUNS} runs at once")
    for option, path in (("--csv", args.csv), ("--html", args.html)):
        if path:
            check_output_file(path, option)
    with open_store(args, read_only=True) as store:
        for run_id in args.run_ids:
            get_run(store, run_id)  # an unknown id says how to find the right one
        c = load_comparison(store, args.run_ids, predictions=False)
    if args.csv:
        write_csv(args.csv, table(c, args.table, show_all=args.all))
        print(f"wrote the {args.table.replace('_', '-')} table to {args.csv}", file=sys.stderr)
    if args.html:
        Path(args.html).write_text(
            html_report(c, tables=report_tables(c, show_all=args.all)), encoding="utf-8"
        )
        print(f"wrote the comparison to {args.html}", file=sys.stderr)
    if args.json:
        print_json(comparison_document(c, show_all=args.all))
        return EXIT_OK
    if args.csv or args.html:
        return EXIT_OK
    from mmstudio.console import table as text_table

    for n, (title, (headers, rows)) in enumerate(report_tables(c, show_all=args.all)):
        print(("\n" if n else "") + f"{title}:")
        print(text_table(rows, headers) if rows else "  (none)")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    if args.output:
        check_output_file(args.output)
    with open_store(args, read_only=True) as store:
        doc = _run_document(store, args.run_id)
        curves = {k: store.read_curve(args.run_id, k) for k in store.metric_keys(args.run_id)}
    try:
        _write_export(args, doc, curves)
    except OSError as exc:  # a full disk, a file that cannot be written: the job failed, say why
        if args.output is None:
            raise
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.output:
        print(f"exported run {args.run_id} to {args.output}", file=sys.stderr)
    return EXIT_OK


def _write_export(args: argparse.Namespace, doc: dict, curves: dict) -> None:
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "csv":
            writer = csv.writer(out)
            writer.writerow(["run_id", "key", "step", "epoch", "value", "time"])
            for key, c in curves.items():
                for step, epoch, value, t in zip(c.step, c.epoch, c.value, c.time, strict=True):
                    writer.writerow([args.run_id, key, int(step), _num(epoch), _num(value), f"{t:.3f}"])
        else:
            import json

            doc["curves"] = {
                k: {
                    "step": c.step.tolist(),
                    "epoch": _nan_to_none(c.epoch),
                    "value": _nan_to_none(c.value),
                    "time": c.time.tolist(),
                }
                for k, c in curves.items()
            }
            json.dump(doc, out, indent=1, default=str)
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()


def _num(x: float) -> str:
    return "" if math.isnan(x) else repr(float(x))


def _nan_to_none(values) -> list:
    return [None if math.isnan(v) else v for v in values.tolist()]


def cmd_stop(args: argparse.Namespace) -> int:
    import time

    from mmstudio.store.errors import InvalidTransitionError

    with open_store(args) as store:
        runs = [get_run(store, i) for i in args.run_ids]
        for r in runs:
            try:
                asked = store.request_stop(r.id)
            except InvalidTransitionError as exc:
                raise UsageError(str(exc)) from None
            where = f"process {r.pid} on {r.hostname}" if r.pid and r.hostname else "its process"
            said = "asked to stop" if asked else "already asked to stop"
            print(f"run {r.id} ({r.name}) {said}: {where} stops at its next step", file=sys.stderr)
        if args.wait is None:
            return EXIT_OK
        deadline = time.monotonic() + args.wait
        waiting = {r.id for r in runs}
        while waiting and time.monotonic() < deadline:
            time.sleep(0.5)
            for run_id in sorted(waiting):
                run = store.get_run(run_id)
                if str(run.status) != "running":
                    waiting.discard(run_id)
                    print(f"run {run_id} {run.status}", file=sys.stderr)
        if waiting:
            print(
                f"still running after {args.wait:g} s: {', '.join(map(str, sorted(waiting)))} (is its "
                "process alive? a process that died stays 'running' until its machine opens the store)",
                file=sys.stderr,
            )
            return EXIT_FAILED
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        runs = [get_run(store, i) for i in args.run_ids]
        for r in runs:
            if str(r.status) == "running":
                raise UsageError(f"run {r.id} is running; stop it first (mmstudio runs stop {r.id} --wait)")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("deleting runs needs confirmation: pass --yes")
            names = ", ".join(f"{r.id} ({r.name})" for r in runs)
            which = f"run {names} and its" if len(runs) == 1 else f"runs {names} and their"
            answer = input(f"delete {which} checkpoints? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted", file=sys.stderr)
                return EXIT_OK
        for r in runs:
            store.delete_run(r.id)
            print(f"deleted run {r.id} ({r.name})", file=sys.stderr)
    return EXIT_OK
