"""``mmstudio zeroshot MODEL --data PATH``: a CLIP / SigLIP pair's zero-shot baseline, recorded as a run."""

from __future__ import annotations

import argparse
import sys

from mmstudio.cli._common import EXIT_OK, UsageError, db_option, json_option, print_json


def add_parsers(commands) -> None:
    from mmstudio.cli.data import add_dataset_options
    from mmstudio.training.zeroshot import DEFAULT_BATCH_SIZE, DEFAULT_PROMPT

    p = commands.add_parser(
        "zeroshot",
        help="score a dataset with a CLIP / SigLIP pair, no training (a baseline run)",
        description="Score each item of a dataset against one prompt per label with a CLIP or SigLIP "
        "checkpoint (both towers), and record the result as a completed run with no training, to compare "
        "with fine-tuned runs ('mmstudio runs compare').",
    )
    p.add_argument("model", metavar="MODEL", help="a hub id pulled first, an imported name or a model folder")
    p.add_argument("--data", metavar="PATH", required=True, help="the dataset to score")
    add_dataset_options(p)
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="test", help="default: test")
    p.add_argument(
        "--prompt",
        default=DEFAULT_PROMPT,
        help=f"the prompt of each label, with {{label}} where its name goes (default: {DEFAULT_PROMPT!r})",
    )
    p.add_argument(
        "--use-text", action="store_true", help="score each item's caption too (with its image, if any)"
    )
    p.add_argument("--name", help="the run's name (default: 'zero-shot MODEL')")
    p.add_argument("--experiment", help="the experiment to record the run in (default: the default one)")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda, cuda:N, mps")
    p.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16", "auto"), default="fp32", help="default: fp32"
    )
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"default: {DEFAULT_BATCH_SIZE}"
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    json_option(p, "the run id, the model and its revision, the metrics and the prompts")
    db_option(p)
    p.set_defaults(func=cmd_zeroshot)


def cmd_zeroshot(args: argparse.Namespace) -> int:
    from mmstudio.cli.data import dataset_spec, load_for_cli
    from mmstudio.cli.train import _Steps
    from mmstudio.formatting import plural
    from mmstudio.training.zeroshot import zeroshot

    spec = dataset_spec(args.data, args)
    dataset = load_for_cli(spec, label="loading", quiet=args.quiet)
    if not dataset.report.usable:
        raise UsageError(f"{spec.path} has no usable pairs; 'mmstudio data check {spec.path}' shows why")
    steps = _Steps(enabled=not args.quiet)
    try:
        result = zeroshot(
            args.model,
            dataset,
            split=args.split,
            prompt=args.prompt,
            use_text=args.use_text,
            name=args.name,
            experiment=args.experiment,
            device=args.device,
            precision=args.precision,
            batch_size=args.batch_size,
            db_url=getattr(args, "db", None),
            progress=steps.progress,
            stage=steps.stage,
        )
    except (ValueError, FileNotFoundError) as exc:  # ZeroShotError, ModelNotCached, a device not here
        raise UsageError(" ".join(str(exc).split())) from exc
    finally:
        steps.close()
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print_json(result)
        return EXIT_OK
    print(
        f"run {result['run_id']}: zero-shot {result['model']} ({result['family']}, revision "
        f"{result['revision'][:19]}) on {spec.path} ({plural(result['items'], 'item')}, split {args.split}):"
    )
    for key, value in sorted(result["metrics"].items()):
        print(f"  {key} {value:.4f}")
    return EXIT_OK
