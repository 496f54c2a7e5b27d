"""``mmstudio train``, ``mmstudio eval`` and ``mmstudio export``.

Training runs in this process through the same runner the GUI's worker process uses, so a headless
run is recorded exactly like a GUI run. Progress goes to stderr; ``--json`` prints a summary on stdout.
``train --check`` runs the Model page's checks instead (:mod:`mmstudio.training.preflight`) and records
nothing.
"""

from __future__ import annotations

import argparse
import errno
import json
import re
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
from mmstudio.cli.data import add_dataset_options, column_roles
from mmstudio.training.exports import EXPORT_FORMATS
from mmstudio.training.spec import AUGMENT_LEVELS

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def add_parsers(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a model headless",
        description="Train a model on a dataset and record the run in the store. SPEC is a JSON file: a "
        "model spec, or a whole job with 'dataset', 'model' and 'train' sections; the options below "
        "override it. With --data and no encoder options, a sensible architecture for the dataset is used.",
    )
    p.add_argument("spec", nargs="?", metavar="SPEC.json", help="a model spec or a job spec (JSON)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data", metavar="PATH", help="the dataset (folder, manifest, COCO json or shards)")
    where.add_argument("--demo", action="store_true", help="train on the built-in demo dataset")
    add_dataset_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--task", choices=("classification", "multilabel", "regression", "contrastive"))
    g.add_argument(
        "--preset", metavar="NAME", help="an architecture preset (e.g. early_concat, gated, late_fusion)"
    )
    g.add_argument(
        "--text-encoder",
        metavar="NAME",
        help="text encoder, hf:ID_OR_FOLDER for a pretrained Hugging Face model, or 'none' for an image-only "
        "model",
    )
    g.add_argument(
        "--image-encoder",
        metavar="NAME",
        help="image encoder, hf:ID_OR_FOLDER for a pretrained Hugging Face model, or 'none' for a text-only "
        "model",
    )
    g.add_argument(
        "--finetune",
        type=_finetune,
        metavar="MODE",
        help="how every pretrained encoder trains: frozen (the default), top:N (its last N blocks), full "
        "(at --backbone-lr-scale times the rate), lora (adapters)",
    )
    g.add_argument(
        "--pretrained",
        action="store_true",
        help="start a torchvision image encoder from its pretrained weights (found locally)",
    )
    g.add_argument(
        "--fusion", metavar="NAME", help="fusion module (concat, gated, lmf, cross_attention, ...)"
    )
    g.add_argument("--head", metavar="NAME", help="head (mlp, linear)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument(
        "--backbone-lr-scale",
        type=float,
        metavar="X",
        help="fine-tuned pretrained weights train at lr times this (default 0.1)",
    )
    g.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        default=None,
        help="recompute the fine-tuned blocks' activations in backward: less memory, more compute",
    )
    g.add_argument("--optimizer", choices=("adamw", "sgd"))
    g.add_argument("--schedule", choices=("constant", "cosine", "step", "plateau"))
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--precision", choices=PRECISIONS, help="mixed precision on CUDA (default: auto)")
    g.add_argument("--seed", type=int)
    g.add_argument("--image-size", type=int, help="image side in pixels fed to the model")
    g.add_argument("--max-len", type=int, help="text length in tokens")
    g.add_argument("--early-stopping", metavar="METRIC", help="stop when this metric stops improving")
    g.add_argument(
        "--patience", type=int, help="evaluations without improvement before stopping (default: by data size)"
    )
    g.add_argument(
        "--best-metric",
        metavar="METRIC",
        help="the validation metric that picks the best checkpoint and drives early stopping "
        "(default: the task's key metric, e.g. val/accuracy)",
    )
    g.add_argument(
        "--no-early-stopping",
        dest="early_stopping_on",
        action="store_false",
        default=None,
        help="train every epoch (the best checkpoint is still the one evaluated)",
    )
    g.add_argument(
        "--modality-dropout",
        type=float,
        metavar="P",
        help="in training, zero one modality's features per item with this probability (default 0.1)",
    )
    g.add_argument(
        "--no-fusion-guard",
        dest="fusion_guard",
        action="store_false",
        default=None,
        help="keep both modalities of a fused model even when one alone scores better on val at the end",
    )
    g.add_argument(
        "--augment-image",
        choices=AUGMENT_LEVELS,
        help="random changes to the training images: light (crop, flip), strong (also colour jitter and "
        "TrivialAugment); never to val or test (default none)",
    )
    g.add_argument(
        "--no-flip",
        dest="augment_flip",
        action="store_false",
        default=None,
        help="no horizontal flips in image augmentation (text in images, left/right labels)",
    )
    g.add_argument(
        "--augment-text",
        choices=AUGMENT_LEVELS,
        help="random changes to the training texts: light (token dropout), strong (also span masking) "
        "(default none)",
    )
    g.add_argument(
        "--no-feature-cache",
        dest="feature_cache",
        action="store_false",
        default=None,
        help="run frozen pretrained encoders every step instead of computing their features once and "
        "reading them back from the cache",
    )
    g.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    g = p.add_argument_group("run")
    g.add_argument("--name", help="the run's name (default: run-<id>)")
    g.add_argument("--experiment", help="the experiment to file the run under (default: Default)")
    g.add_argument(
        "--resume",
        type=run_id_arg,
        metavar="RUN_ID",
        help="continue a stopped or interrupted run from its last checkpoint, on the dataset and with the "
        "settings it was started with (--data: a copy of its dataset; training options given here win)",
    )
    g.add_argument(
        "--check",
        action="store_true",
        help="check the job instead of training it: load the dataset, resolve and validate the model spec, "
        "print the architecture (blocks, shapes, parameters, memory estimate) and run one real batch "
        "forward and backward on the CPU; records no run (exit 0, 1 if the batch fails, 2 with the "
        "validation errors)",
    )
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")
    json_option(p, "a run summary (with --check: the check's report)")
    db_option(p)
    p.set_defaults(func=cmd_train)

    p = commands.add_parser(
        "eval",
        help="evaluate a saved run on a dataset",
        description="Evaluate a saved run's best checkpoint on a dataset (every usable row) and record the "
        "evaluation with the run.",
    )
    p.add_argument("run_id", type=run_id_arg, metavar="RUN_ID")
    p.add_argument(
        "--data",
        metavar="PATH",
        help="the dataset to evaluate on (default: the run's own, with its split: '--split test' scores "
        "the test items it was trained without)",
    )
    add_dataset_options(p)
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all", help="default: all")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="default: best")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (warnings are still said)")
    json_option(p, "the metrics, the overlap with the run's training split ('overlap') and 'warnings'")
    db_option(p)
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser(
        "export",
        help="export a saved run's model (ONNX or TorchScript)",
        description="Export a saved run's best checkpoint as an ONNX file (needs the onnx package) or a "
        "TorchScript file, with its label map and vocabulary beside it.",
    )
    p.add_argument("run_id", type=run_id_arg, metavar="RUN_ID")
    p.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="default: best")
    db_option(p)
    p.set_defaults(func=cmd_export)


# ---------------------------------------------------------------------------------------------- train


def _read_spec_file(path: str) -> dict:
    if Path(path).is_dir() or Path(path).suffix.lower() in (".csv", ".tsv", ".jsonl", ".parquet", ".tar"):
        what = "a folder" if Path(path).is_dir() else "a data file"
        raise UsageError(
            f"{path} is {what}, not a spec file: the first argument of 'mmstudio train' is a model or job "
            f"spec (.json); to train on a dataset, give it with --data {path}"
        )
    from mmstudio.training.spec import read_spec_file

    try:
        doc = read_spec_file(path, "spec file")
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    if "model" in doc or "train" in doc or "dataset" in doc:
        for section in ("model", "train", "dataset"):
            if not isinstance(doc.get(section), dict | None):
                raise UsageError(
                    f"{path}: its {section} section must be a JSON object, not "
                    f"{type(doc[section]).__name__} {json.dumps(doc[section])[:40]}"
                )
        return doc
    return {"model": doc}


def _model_request(args: argparse.Namespace, base: dict) -> dict:
    """The model part of the job: the spec file's (possibly partial), with the options on top.

    What is left out is completed for the dataset by the runner (``resolve_model_spec``): a text-only
    dataset gets no image encoder, a captions dataset a contrastive model, and so on.
    """
    spec = dict(base)
    if args.preset:
        spec["preset"] = args.preset
    if args.task:
        spec["task"] = args.task
    for key in ("text_encoder", "image_encoder", "fusion", "head"):
        name = getattr(args, key)
        if name and key in ("text_encoder", "image_encoder") and name.startswith("hf:"):
            spec[key] = {"name": "hf", "model": name[3:]}
        elif name:
            spec[key] = {"name": name}
    if args.finetune or args.pretrained:
        _pretrained_options(spec, args.finetune, args.pretrained)
    return spec


def _finetune(value: str) -> str:
    if not re.fullmatch(r"frozen|full|lora|top:[1-9][0-9]*", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not one of frozen, top:N, full, lora")
    return value


def _pretrained_options(spec: dict, finetune: str | None, pretrained: bool) -> None:
    """``--finetune`` on every hf encoder (a torchvision one with pretrained weights: frozen or full),
    ``--pretrained`` on a torchvision image encoder."""
    from mmstudio.models import IMAGE_ENCODERS

    found = False
    for key in ("text_encoder", "image_encoder"):
        component = spec.get(key)
        if isinstance(component, str):
            component = spec[key] = {"name": component}
        if not isinstance(component, dict):
            continue
        name = component.get("name")
        torchvision = key == "image_encoder" and name in IMAGE_ENCODERS
        torchvision = torchvision and IMAGE_ENCODERS.get(name).info.get("torchvision", False)
        if pretrained and torchvision:
            component["pretrained"] = True
        if finetune and name == "hf":
            component["finetune"] = finetune
            found = True
        elif finetune and torchvision and component.get("pretrained"):
            if finetune not in ("frozen", "full"):
                raise UsageError(
                    f"--finetune {finetune} is for hf encoders; a torchvision one is frozen or full"
                )
            component["freeze_backbone"] = finetune == "frozen"
            found = True
    if pretrained and not (spec.get("image_encoder") or {}).get("pretrained"):
        raise UsageError(
            "--pretrained starts a torchvision image encoder from its weights: name one with --image-encoder "
            "(e.g. resnet18)"
        )
    if finetune and not found:
        raise UsageError(
            "--finetune applies to pretrained encoders: give --text-encoder hf:MODEL or --image-encoder "
            "hf:MODEL (or a torchvision one with --pretrained)"
        )


_TRAIN_OPTIONS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "backbone_lr_scale": "backbone_lr_scale",
    "gradient_checkpointing": "gradient_checkpointing",
    "optimizer": "optimizer",
    "schedule": "schedule",
    "weight_decay": "weight_decay",
    "precision": "precision",
    "seed": "seed",
    "image_size": "image_size",
    "max_len": "max_len",
    "early_stopping": "early_stopping_metric",
    "patience": "patience",
    "best_metric": "best_metric",
    "early_stopping_on": "early_stopping",
    "modality_dropout": "modality_dropout",
    "augment_image": "augment_image",
    "augment_flip": "augment_flip",
    "augment_text": "augment_text",
    "feature_cache": "feature_cache",
    "fusion_guard": "fusion_guard",
    "device": "device",
}


def _train_options(args: argparse.Namespace) -> dict:
    return {key: getattr(args, opt) for opt, key in _TRAIN_OPTIONS.items() if getattr(args, opt) is not None}


def _resume_job(args: argparse.Namespace):
    """The job of ``train --resume RUN_ID``: the run's own (:func:`mmstudio.training.resume.resume_job`)."""
    from mmstudio.store import NotFoundError
    from mmstudio.training.resume import resume_job

    given = [
        flag for flag, on in (("SPEC", args.spec), ("--demo", args.demo), ("--preset", args.preset)) if on
    ]
    given += [
        f"--{k.replace('_', '-')}"
        for k in ("text_encoder", "image_encoder", "fusion", "task")
        if getattr(args, k)
    ]
    if given:
        raise UsageError(
            f"--resume continues a run with its own model; leave out {', '.join(given)} (training options "
            "such as --epochs may be given)"
        )
    try:
        return resume_job(
            args.resume, db_url=getattr(args, "db", None), data=args.data, train=_train_options(args)
        )
    except NotFoundError as exc:
        raise UsageError(str(exc)) from exc
    except (TypeError, ValueError) as exc:  # ResumeError included
        raise UsageError(str(exc)) from exc


def build_job(args: argparse.Namespace):
    """A :class:`RunJob` from a spec file and the command-line options (options win)."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.spec import RunJob, TrainSpec

    if args.resume is not None:
        return _resume_job(args)
    doc = _read_spec_file(args.spec) if args.spec else {}
    if args.demo:
        from mmstudio.data.demo import ensure_demo

        data_path = str(ensure_demo().parent)
    else:
        data_path = args.data or (doc.get("dataset") or {}).get("path")
    if not data_path:
        raise UsageError("say which data to train on: --data PATH, --demo, or a job spec with a dataset path")
    ds = dict(doc.get("dataset") or {})
    ds["path"] = data_path
    if args.format:
        ds["format"] = args.format
    roles = column_roles(args)
    if roles is not None:
        ds["columns"] = roles.to_dict()
    if args.split_seed:
        ds["seed"] = args.split_seed
    try:
        dataset_spec = DatasetSpec.from_dict(ds)
        train_spec = TrainSpec.from_dict({**(doc.get("train") or {}), **_train_options(args)})
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    try:  # the model's task, the job's name and experiment: checked here, before any run exists
        return RunJob(
            dataset=dataset_spec,
            model=_model_request(args, doc.get("model") or {}),
            train=train_spec,
            name=args.name or doc.get("name"),
            db_url=getattr(args, "db", None),
            experiment=args.experiment or doc.get("experiment"),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


class _Progress:
    """Turns training events into a progress bar and epoch lines on stderr."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, event) -> None:
        from mmstudio.console import ProgressBar
        from mmstudio.training import events as ev

        if not self.enabled:
            return
        if isinstance(event, ev.ProgressUpdated):
            if self.bar is not None:
                self.bar.update(
                    event.step,
                    event.total_steps,
                    extra=f"{event.samples_per_s:,.0f} samples/s  epoch {event.epoch}",
                )
            return
        if isinstance(event, ev.RunStarted):
            print(ev.describe(event)[1], file=sys.stderr)
            self.bar = ProgressBar("training", unit="steps")
            return
        if isinstance(event, ev.RunFailed | ev.RunFinished):
            self.close()  # the command prints how the run ended
            return
        line = (
            ev.describe(event)
            if isinstance(event, ev.EpochEnded | ev.EvaluationFinished | ev.LogMessage)
            else None
        )
        if line is not None:
            self.close()
            level, text = line
            print(f"{level}: {text}" if isinstance(event, ev.LogMessage) else text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    if args.check:
        return cmd_check(args)
    from mmstudio.training.control import TrainingControl
    from mmstudio.training.distributed import DistributedError, from_environment, stop_on_sigterm
    from mmstudio.training.runner import run_job
    from mmstudio.training.worker import keep_freed_memory

    job = build_job(args)
    try:
        distributed = from_environment()  # started by torchrun
    except DistributedError as exc:
        raise UsageError(str(exc)) from None
    main = distributed is None or distributed.main
    if distributed is not None:
        stop_on_sigterm()
    progress = _Progress(enabled=not args.quiet and main)  # rank 0 speaks for the job
    control = TrainingControl()
    keep_freed_memory()  # this process trains now, as the GUI's worker does (see its docstring)
    try:
        result = run_job(job, on_event=progress, control=control, distributed=distributed)
    except KeyboardInterrupt:
        control.stop()
        raise
    finally:
        progress.close()
    summary = result.summary()
    if not main:  # rank 0 says what every process found; a process speaks of its own failures
        if result.status != "failed":
            return EXIT_OK
        from mmstudio.training.runner import UNUSABLE_INPUT

        if result.kind not in (UNUSABLE_INPUT, "nan_loss"):  # the loss is reduced: rank 0 saw it too
            print(f"error: process {distributed.rank}: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print_json(summary)
    if result.status == "failed":
        from mmstudio.training.runner import UNUSABLE_INPUT

        if result.kind == UNUSABLE_INPUT:
            raise UsageError(result.message)
        who = f"run {result.run_id}" if result.run_id is not None else "the job"
        print(f"error: {who} failed: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    if not args.json:
        shown = "  ".join(
            f"{k} {v:.4f}" for k, v in sorted(summary["metrics"].items()) if k.startswith("test")
        )
        print(f"run {result.run_id} {result.status} in {summary['duration_s']:.1f} s on {summary['device']}")
        if shown:
            print(shown)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """``train --check``: :func:`mmstudio.training.preflight.check_job` on the job, its report on stdout."""
    from mmstudio.cli.data import load_for_cli
    from mmstudio.models import SpecError, SpecIssue
    from mmstudio.progress import TaskState
    from mmstudio.training.preflight import check_job

    job = build_job(args)
    dataset = load_for_cli(job.dataset, label="loading", quiet=args.quiet)
    if not dataset.report.usable:
        raise UsageError(
            f"{job.dataset.path} has no usable pairs; 'mmstudio data check {job.dataset.path}' shows why"
        )
    said: list[str] = []

    def say(_fraction: float, message: str) -> None:
        if not args.quiet and message and message not in said[-1:]:
            said.append(message)
            print(message, file=sys.stderr)

    try:
        report = check_job(dataset, job.model, job.train, state=TaskState(say))
    except ValueError as exc:  # a request that is not a model spec (SpecError included)
        raise UsageError(str(exc)) from exc
    except KeyError as exc:  # an unknown preset
        raise UsageError(str(exc.args[0])) from exc
    if args.json:
        print_json(report.to_dict())
    if report.errors:
        raise UsageError(str(SpecError([SpecIssue(**issue) for issue in report.errors])))
    if not args.json:
        print("\n".join(report.text_lines()))
    if not report.ok:
        failure = report.error or (report.check or {}).get("error") or "the loss is not finite"
        print(f"error: the check failed: {failure}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------------------- eval, export


def cmd_eval(args: argparse.Namespace) -> int:
    from mmstudio.cli.data import dataset_spec, load_for_cli
    from mmstudio.formatting import plural
    from mmstudio.training.inference import evaluate_run
    from mmstudio.training.resume import ResumeError, recorded_dataset

    with open_store(args) as store:
        get_run(store, args.run_id)
        if args.data is None:
            try:
                spec = recorded_dataset(store, args.run_id)
            except ResumeError as exc:
                raise UsageError(f"{exc}; give the dataset to evaluate on with --data PATH") from exc
        else:
            spec = dataset_spec(args.data, args)
    try:
        dataset = load_for_cli(spec, quiet=args.quiet)
    except UsageError as exc:
        if args.data is not None:
            raise
        raise UsageError(  # the run's own dataset, as recorded: say how to give another
            f"run {args.run_id}'s recorded dataset cannot be read: {exc}; give the dataset to evaluate on "
            "with --data PATH"
        ) from exc
    if not dataset.report.usable:
        raise UsageError(f"{spec.path} has no usable pairs; 'mmstudio data check {spec.path}' shows why")
    steps = _Steps(enabled=not args.quiet)
    try:
        result = evaluate_run(
            args.run_id,
            dataset,
            split=args.split,
            checkpoint=args.checkpoint,
            device=args.device,
            db_url=getattr(args, "db", None),
            progress=steps.progress,
            stage=steps.stage,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    finally:
        steps.close()
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(result)
    else:
        print(f"run {args.run_id} on {spec.path} ({plural(result['items'], 'item')}, split {args.split}):")
        for k, v in sorted(result["metrics"].items()):
            if isinstance(v, int | float):
                print(f"  {k} {v:.4f}")
        for note in result.get("notes", []):
            print(f"  note: {note}", file=sys.stderr)
    return EXIT_OK


class _Steps:
    """The steps of an evaluation on stderr: each step's name, and a progress bar while it counts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.name = ""
        self.bar = None

    def stage(self, name: str) -> None:
        self.close()
        self.name = name
        if self.enabled:
            print(f"{name}…", file=sys.stderr)

    def progress(self, done: int, total: int) -> None:
        from mmstudio.console import ProgressBar

        if self.bar is None:
            self.bar = ProgressBar(self.name.lower() or "working", enabled=self.enabled)
        self.bar.update(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_export(args: argparse.Namespace) -> int:
    from mmstudio.training.inference import ExportUnavailable, export_run

    if Path(args.output).is_dir():
        check_output_file(args.output)  # a folder: a usage error (a missing folder is created)

    with open_store(args) as store:
        get_run(store, args.run_id)
    try:
        path = export_run(
            args.run_id,
            args.format,
            args.output,
            checkpoint=args.checkpoint,
            db_url=getattr(args, "db", None),
        )
    except ExportUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        if exc.errno is None:  # the run has no checkpoint: the message says what to try
            raise UsageError(str(exc)) from exc
        message = f"cannot write {args.output}: {exc.strerror or exc}"
        if exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT):  # the job failed, not its input
            print(f"error: {message}", file=sys.stderr)
            return EXIT_FAILED
        raise UsageError(message) from exc  # a folder that cannot be made, a path that cannot be opened
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(f"exported run {args.run_id} as {args.format} to {path}", file=sys.stderr)
    return EXIT_OK
