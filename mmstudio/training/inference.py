"""Using a saved run: rebuild its model from a checkpoint, evaluate it on a dataset, export it.

A checkpoint carries everything needed (the model spec, the training spec, the label list and the
tokenizer), so a run is rebuilt exactly as it was trained; weights come from safetensors only.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from mmstudio.formatting import plural
from mmstudio.progress import check_cancel
from mmstudio.store import Store
from mmstudio.training.exports import ExportUnavailable as ExportUnavailable  # raised by export_run
from mmstudio.training.exports import check_format
from mmstudio.vocabulary import ABLATIONS

if TYPE_CHECKING:
    from mmstudio.data.overlap import Overlap


@dataclasses.dataclass
class LoadedRun:
    run_id: int
    checkpoint_path: Path
    meta: dict[str, Any]
    model: Any  # MultimodalModel, in eval mode
    spec: Any  # ModelSpec
    train: Any  # TrainSpec


def checkpoint_file(store: Store, run_id: int, which: str = "best") -> Path:
    """The run's ``best`` or ``last`` checkpoint manifest, from its artifacts or its run folder (the
    store's own, or the shared one of a run recorded before stores had their own folders)."""
    folders = store.run_dirs(run_id)
    candidates = [Path(a.path) for a in store.list_artifacts(run_id) if Path(a.path).stem == which]
    candidates += [folder / f"{which}.json" for folder in folders]
    for path in candidates:
        if path.is_file():
            return path
    from mmstudio.training.zeroshot import is_zeroshot, no_checkpoint_message

    spec = store.get_run(run_id).spec
    if is_zeroshot(spec):  # not a run that lost its files: one that never had any
        raise FileNotFoundError(no_checkpoint_message(run_id, spec))
    other = "last" if which == "best" else "best"
    raise FileNotFoundError(
        f"run {run_id} has no {which} checkpoint (looked in {folders[0]}); it may have stopped before "
        f"its first epoch ended, or its files were deleted. Try --checkpoint {other}"
    )


def load_run(store: Store, run_id: int, *, which: str = "best", device: Any = "cpu") -> LoadedRun:
    """Rebuild a run's model with its checkpoint's weights (no code is unpickled)."""
    from mmstudio.models import ModelContext, ModelSpec, SpecError, build_model
    from mmstudio.models.pretrained import require_pretrained
    from mmstudio.models.spec import describe_errors
    from mmstudio.training import checkpoints
    from mmstudio.training.spec import TrainSpec

    path = checkpoint_file(store, run_id, which)
    checkpoint = checkpoints.load_checkpoint(path, map_location=device)
    meta = checkpoint.meta
    checkpoints.check_model_meta(meta, path)
    labels = meta.get("labels") or []
    try:  # what the manifest says, as edited by hand or damaged: its own errors, named
        part = "model spec"
        spec = ModelSpec.from_dict(meta["model"])
        # a pretrained model that is not here: what to pull (frozen weights are rebuilt from it)
        require_pretrained(spec)
        part = "training spec"
        train = TrainSpec.from_dict(meta["train"])
        part = "vocabulary"
        vocab_size = _vocab_size(meta.get("tokenizer"))
        part = "model spec"
        ctx = ModelContext(
            vocab_size=vocab_size,
            num_outputs=len(labels) if spec.task in ("classification", "multilabel") else 1,
            image_size=train.image_size,
            max_len=train.max_len,
            # the fusion guard's heads, where the run trained them (a run before it has none)
            unimodal_heads=isinstance(checkpoint.model_state, dict)
            and any(str(key).startswith("unimodal_heads.") for key in checkpoint.model_state),
        )
        model = build_model(spec, ctx).to(device)
    except (TypeError, ValueError, KeyError) as exc:  # SpecError included
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, SpecError):
            reason = describe_errors(exc.issues) or exc
        raise checkpoints.CheckpointError(
            f"{path}: its {part} cannot be used ({reason}); the checkpoint was edited or damaged: use "
            "another checkpoint of the run, or train again"
        ) from None
    rebuilt = (
        f"the model its manifest describes ({spec.task}, {plural(len(labels), 'label')}, "
        f"a vocabulary of {vocab_size:,})"
    )
    state = checkpoints.complete_model_state(model, checkpoint.model_state, meta, path)
    checkpoints.check_model_state(model.state_dict(), state, path, model=rebuilt)
    model.load_state_dict(state)
    source = meta.get("answer_from")
    if source is not None and (source not in ("text", "image") or model.unimodal_heads is None):
        raise checkpoints.CheckpointError(
            f"{path}: its answer_from {source!r} names no head of the model; the checkpoint was "
            "edited or damaged: use another checkpoint of the run, or train again"
        )
    model.answer_from = source  # what the fusion guard chose when the run ended
    model.eval()
    return LoadedRun(run_id, path, meta, model, spec, train)


def _vocab_size(tokenizer: dict | None) -> int:
    if not tokenizer:
        return 2
    from mmstudio.data.text import tokenizer_from_dict

    return tokenizer_from_dict(tokenizer).vocab_size


def evaluate_run(
    run_id: int,
    dataset: Any,
    *,
    split: str = "all",
    checkpoint: str = "best",
    device: str = "auto",
    db_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
    stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a saved run on a validated ``dataset`` and record the evaluation with the run.

    ``split="all"`` evaluates every usable row. Rows whose label the run never saw are left out and
    said in ``notes``. Models that read both modalities are evaluated again with each one masked.

    The evaluated items are checked against the run's training split (its recorded dataset, read
    again): ``overlap`` says how many show an image the run trained on
    (:func:`mmstudio.data.overlap.shared_images`), and ``warnings`` says so in a sentence when any do,
    since the scores then overstate how the model does on unseen data.

    ``stage(message)`` names each step as it starts (preparing the images, checking the overlap,
    scoring); ``progress(done, total)`` counts within the step; ``cancel.is_set()`` stops the work
    between chunks with :class:`~mmstudio.progress.Cancelled`, before anything is recorded.
    """
    from mmstudio.training.data import PreparedData
    from mmstudio.training.device import resolve_device, resolve_precision
    from mmstudio.training.preflight import model_inputs
    from mmstudio.training.trainer import Trainer

    say = stage or (lambda _message: None)
    torch_device = resolve_device(device)
    with Store.open(db_url) as store:
        say("Loading the checkpoint")
        run = load_run(store, run_id, which=checkpoint, device=torch_device)
        check_cancel(cancel, "the evaluation")
        given = dataset
        if split == "all":
            dataset = dataclasses.replace(
                dataset, items=[dataclasses.replace(item, split="test") for item in dataset.items]
            )
        elif not any(item.split == split for item in dataset.items):
            raise ValueError(f"the dataset has no {split} rows; use --split all")
        say("Preparing the images" if run.spec.has_image else "Preparing the texts")
        _, _, image_norm = model_inputs(run.spec, run.train)
        data = PreparedData(
            dataset,
            run.train,
            run.spec.task,
            image_norm=image_norm,
            need_text=run.spec.has_text,
            need_image=run.spec.has_image,
            labels=run.meta.get("labels"),
            require_train=False,
            tokenizer=run.meta.get("tokenizer"),
            progress=progress,
            cancel=cancel,
        )
        target = "test" if split == "all" else split
        evaluated = [dataset.items[i] for i in data.order(target)]
        if not evaluated:  # nothing to score: say why, and record nothing
            why = "; ".join(data.messages) or f"the dataset has no {target} rows"
            raise ValueError(
                f"none of the items of {Path(dataset.root).name} can be scored by run {run_id} ({why}); "
                "nothing was recorded"
            )
        overlap, unchecked = training_overlap(
            store, run_id, given, evaluated, progress=progress, cancel=cancel, stage=say
        )
        trainer = Trainer(
            run.model,
            data,
            run.train,
            device=torch_device,
            precision=resolve_precision("fp32", torch_device),
            run_id=run_id,
        )
        ablations = [None, *ABLATIONS] if run.spec.has_text and run.spec.has_image else [None]
        results = []
        for ablation in ablations:
            say(
                f"Scoring {plural(len(evaluated), 'item')}"
                + (f", {ablation.replace('_', ' ')}" if ablation else "")
            )
            results.append(
                (ablation, trainer.evaluate(target, ablation=ablation, progress=progress, cancel=cancel))
            )
        # recorded only now: a cancelled evaluation leaves nothing behind
        record = store.find_dataset(dataset.fingerprint)
        if record is None:
            record = store.ensure_dataset(
                name=Path(dataset.root).name,
                path=str(dataset.root),
                format=dataset.format,
                fingerprint=dataset.fingerprint,
                item_count=len(dataset.items),
            )
        metrics: dict[str, Any] = {}
        for ablation, evaluation in results:
            result = evaluation.result
            store.add_evaluation(
                run_id,
                split=f"eval:{split}",
                metrics=result.metrics,
                dataset_id=record.id,
                ablation=ablation,
                labels=result.labels,
                confusion_matrix=result.confusion,
                per_class=result.per_class,
            )
            prefix = "" if ablation is None else f"{ablation}/"
            metrics.update({f"{prefix}{k}": v for k, v in result.metrics.items()})
    cautions = [overlap_warning(run_id, overlap)] if overlap is not None and overlap.shared else []
    return {
        "run_id": run_id,
        "dataset": str(dataset.root),
        "fingerprint": dataset.fingerprint,
        "split": split,
        "checkpoint": str(run.checkpoint_path),
        "items": int(data.split_sizes().get(target, 0)),
        "metrics": metrics,
        "overlap": overlap.to_dict() if overlap is not None else {"shared": None, "reason": unchecked},
        "warnings": cautions,
        "notes": list(data.messages) + ([unchecked] if unchecked else []),
        "time": time.time(),
    }


def training_overlap(
    store: Store,
    run_id: int,
    dataset: Any,
    evaluated: list[Any],
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
    stage: Callable[[str], None] | None = None,
) -> tuple[Overlap | None, str]:
    """How many of the ``evaluated`` items of ``dataset`` show an image of run ``run_id``'s training
    split, and ``""``; or ``(None, why it could not be checked)``.

    The training split is the run's recorded dataset (:func:`mmstudio.training.resume.recorded_dataset`)
    split again as it was: the evaluated dataset's own train split when it is that dataset (same
    fingerprint and split settings), else the recorded spec loaded again, checking image headers only
    (as the Compare page does: the split is a per-label hash order, so it is the run's).
    """
    from mmstudio.data.overlap import shared_images
    from mmstudio.store import NotFoundError
    from mmstudio.training.resume import ResumeError, recorded_dataset

    say = stage or (lambda _message: None)
    try:
        spec = recorded_dataset(store, run_id)
    except (ResumeError, NotFoundError) as exc:
        return None, f"the overlap with the training split was not checked: {exc}"
    run = store.get_run(run_id)
    fingerprint = store.get_dataset(run.dataset_id).fingerprint if run.dataset_id is not None else None
    options = dataset.options
    same_split = (options.val_fraction, options.test_fraction, options.seed, options.stratify) == (
        spec.val_fraction,
        spec.test_fraction,
        spec.seed,
        spec.stratify,
    )
    if fingerprint == dataset.fingerprint and same_split:
        trained = dataset
    else:
        say("Reading the run's training split")
        try:
            trained = dataclasses.replace(spec, check_images="header").load(progress=progress, cancel=cancel)
        except (OSError, ValueError) as exc:
            return None, f"the overlap with the training split was not checked: {exc}"
    training = [item for item in trained.items if item.split == "train"]
    say("Looking for training images among the evaluated items")
    return shared_images(evaluated, training, progress=progress, cancel=cancel), ""


def overlap_warning(run_id: int, overlap: Overlap) -> str:
    """The sentence that warns of evaluated items the run trained on."""
    return (
        f"{overlap.shared:,} of the {plural(overlap.items, 'evaluated item')} ({overlap.fraction:.0%}) "
        f"show an image that run {run_id} was trained on: these scores overstate how it does on unseen data"
    )


def export_run(
    run_id: int, format: str, output: str | Path, *, checkpoint: str = "best", db_url: str | None = None
) -> Path:
    """Write a run's model as ONNX or TorchScript, with ``<output>.json`` beside it holding the label
    list, the tokenizer, the specs and the input names (what an application needs to use the file)."""
    from mmstudio.models import example_batch

    check_format(format)  # torch.onnx.export needs the onnx package to write the file
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(db_url) as store:
        run = load_run(store, run_id, which=checkpoint)
        batch = example_batch(run.spec, run.model.ctx, batch_size=2)
        inputs = [k for k in ("tokens", "lengths", "image") if k in batch]
        wrapper = ExportWrapper(run.model, inputs).eval()
        args = tuple(batch[k] for k in inputs)
        if format == "torchscript":
            with torch.no_grad(), warnings.catch_warnings():
                # TorchScript is deprecated upstream in favour of torch.export, yet it is still the
                # format C++ and mobile runtimes load; the user asked for it by name.
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # transformers' shape checks
                traced = torch.jit.trace(wrapper, args, check_trace=False)
                buffer = io.BytesIO()  # written with Python's own file calls: a bad path is an OSError
                torch.jit.save(traced, buffer)
            output.write_bytes(buffer.getvalue())
        else:
            torch.onnx.export(
                wrapper,
                args,
                str(output),
                input_names=inputs,
                output_names=list(wrapper.output_names),
                dynamic_axes={name: {0: "batch"} for name in [*inputs, *wrapper.output_names]},
            )
        sidecar = {
            "format": format,
            "run_id": run_id,
            "inputs": inputs,
            "outputs": list(wrapper.output_names),
            "labels": run.meta.get("labels"),
            "tokenizer": run.meta.get("tokenizer"),
            "model": run.meta.get("model"),
            "train": run.meta.get("train"),
            "image_normalisation": _image_normalisation(run),
        }
        meta_path = output.with_name(output.name + ".json")
        meta_path.write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
        store.add_artifact(run_id, f"export-{format}", output)
    return output


def _image_normalisation(run: LoadedRun) -> dict[str, list[float]]:
    """The mean and std the run's images were normalised with (a pretrained encoder's own)."""
    from mmstudio.training.preflight import model_inputs

    norm = model_inputs(run.spec, run.train)[2]
    if norm is None:
        return {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    return {"mean": list(norm[0]), "std": list(norm[1])}


class ExportWrapper(torch.nn.Module):
    """Positional tensors in, a tuple of tensors out: what tracing and ONNX need."""

    OUTPUTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "classification": ("logits",),
        "multilabel": ("logits",),
        "regression": ("prediction",),
        "contrastive": ("text_embedding", "image_embedding"),
    }

    def __init__(self, model: torch.nn.Module, inputs: list[str]):
        super().__init__()
        self.model = model
        self.inputs = inputs
        self.output_names = self.OUTPUTS[model.task]

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(dict(zip(self.inputs, tensors, strict=True)))
        return tuple(outputs[name] for name in self.output_names)
