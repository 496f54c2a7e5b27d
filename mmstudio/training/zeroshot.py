"""A zero-shot baseline: a CLIP or SigLIP pair scores a dataset's items against prompts built from its
label names, and the result is recorded as a run with no training.

``mmstudio zeroshot MODEL --data PATH`` calls :func:`zeroshot`. Both towers come from one checkpoint
(``AutoModel``: ``CLIPModel``, ``SiglipModel``), found by :func:`mmstudio.models.fetch.resolve` (a
local folder, an imported model or one pulled into the cache: nothing is downloaded); weights are
read from safetensors only, never with remote code. Each label becomes one prompt (``"a photo of
{label}"``, the label humanised: ``circle-sale`` -> ``circle sale``); each item's image goes through
the model's own image processor, and (``use_text``) its caption through the model's own tokenizer,
the two unit embeddings averaged. An item is predicted the label whose prompt is nearest: CLIP's
logits are ``scale * cosine`` (probabilities their softmax), SigLIP's ``scale * cosine + bias``
(probabilities their sigmoid, as SigLIP was trained).

The run is recorded as a trained run's final evaluation is (:func:`mmstudio.training.runner`), so
the Experiments and Compare pages show it beside fine-tuned runs: status ``completed``, the tag
``zeroshot``, the dataset and its spec, the metrics ``<split>/accuracy`` and ``<split>/macro_f1``,
an evaluation of the split (labels, confusion matrix, per-class scores) and one prediction per item.
Its model spec names the two towers and what joins them::

    {"task": "classification",
     "text_encoder": {"name": "hf", "model": ID, "revision": REV},
     "image_encoder": {"name": "hf", "model": ID, "revision": REV},
     "fusion": {"name": "zeroshot"},
     "head": {"name": "zeroshot", "family": "clip", "prompt": "a photo of {label}", "use_text": false,
              "labels": [...]}}

(``zeroshot`` is no registered fusion or head: a run with it has no checkpoint to resume, evaluate or
export, which :func:`no_checkpoint_message` says to whoever asks; opened in the builder, it opens
:func:`pair_spec`: the two towers, frozen, with the default fusion and head, ready to fine-tune.)
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmstudio.formatting import plural
from mmstudio.progress import Cancelled, check_cancel

#: The two-tower checkpoints zero-shot scoring understands (``config.json``'s ``model_type``).
PAIR_FAMILIES = {"clip": "clip", "siglip": "siglip", "siglip2": "siglip"}
DEFAULT_PROMPT = "a photo of {label}"
DEFAULT_BATCH_SIZE = 64
ZEROSHOT_TAG = "zeroshot"


def is_zeroshot(spec: Any) -> bool:
    """Whether a run's model spec (a dict) is a zero-shot baseline's: nothing trained, no checkpoint."""
    fusion = spec.get("fusion") if isinstance(spec, dict) else None
    return isinstance(fusion, dict) and fusion.get("name") == ZEROSHOT_TAG


def _pair_model(spec: dict) -> str:
    encoder = spec.get("image_encoder") or spec.get("text_encoder") or {}
    return str(encoder.get("model") or "MODEL") if isinstance(encoder, dict) else "MODEL"


def no_checkpoint_message(run_id: int, spec: dict) -> str:
    """What ``eval``, ``export`` and ``train --resume`` (and the app's Evaluate and Export) say of a
    zero-shot run: what it is, and the commands that do work."""
    model = _pair_model(spec)
    family = (
        str((spec.get("head") or {}).get("family") or "CLIP / SigLIP").upper().replace("SIGLIP", "SigLIP")
    )
    return (
        f"run {run_id} is a zero-shot baseline: {family} model {model} scored the dataset against prompts "
        "built from its labels, and nothing was trained, so it has no checkpoint to evaluate, export or "
        f"resume. To score that model on other data, run 'mmstudio zeroshot {model} --data PATH'; to "
        f"fine-tune the pair (then evaluate and export it), train it: 'mmstudio train --data PATH "
        f"--text-encoder hf:{model} --image-encoder hf:{model}'"
    )


def pair_spec(spec: dict) -> dict:
    """The model spec that fine-tunes a zero-shot run's pair (a ``spec`` that is not a zero-shot
    run's is returned as it is): both towers of the checkpoint at the recorded revision, frozen, with
    the fusion and head a model spec completes them with (concat, an MLP head) for the run's task."""
    if not is_zeroshot(spec):
        return spec
    tower = ("name", "model", "revision")
    return {
        "task": spec.get("task") or "classification",
        **{
            slot: {k: v for k, v in spec[slot].items() if k in tower}
            for slot in ("text_encoder", "image_encoder")
            if isinstance(spec.get(slot), dict)
        },
    }


class ZeroShotError(ValueError):
    """A model or a dataset that zero-shot scoring cannot use; the message says why in one sentence."""


@dataclasses.dataclass
class LoadedPair:
    """A CLIP / SigLIP checkpoint ready to score: the model (eval mode), its tokenizer and processor."""

    model: Any
    tokenizer: Any
    processor: Any
    family: str  # "clip" or "siglip"
    id: str
    revision: str
    path: Path
    max_len: int


def humanize_label(label: str) -> str:
    """``circle-sale`` -> ``circle sale``: separators (``-``, ``_``, ``/``) become spaces."""
    text = str(label)
    for sep in ("-", "_", "/"):
        text = text.replace(sep, " ")
    return " ".join(text.split()) or str(label)


def build_prompts(labels: Sequence[str], prompt: str = DEFAULT_PROMPT) -> list[str]:
    """One prompt per label; ``prompt`` must hold ``{label}``."""
    if "{label}" not in prompt:
        raise ZeroShotError(f"the prompt {prompt!r} has no {{label}} for the label's name to go into")
    return [prompt.replace("{label}", humanize_label(label)) for label in labels]


def load_pair(ref: str, *, device: Any = "cpu") -> LoadedPair:
    """The CLIP / SigLIP checkpoint ``ref`` (a hub id pulled first, an imported name or a local
    folder); :class:`ZeroShotError` for a model that is not such a pair or holds only pickles,
    :class:`~mmstudio.models.fetch.ModelNotCached` for one that is not on this machine."""
    import transformers

    from mmstudio.models.pretrained import _config, check_weights, resolve_model, transformer_dir

    try:
        resolved = resolve_model(ref)
        folder = transformer_dir(resolved.path)
        check_weights(folder)
    except ValueError as exc:  # pickled weights only
        raise ZeroShotError(str(exc)) from None
    config = _config(folder)
    model_type = str(config.get("model_type", ""))
    family = PAIR_FAMILIES.get(model_type)
    if family is None:
        raise ZeroShotError(
            f"{resolved.id} is a {model_type or 'unknown'} model, not a CLIP or SigLIP pair: zero-shot "
            "scoring needs one checkpoint with both a text and an image tower (such as "
            "openai/clip-vit-base-patch32 or google/siglip-base-patch16-224)"
        )
    transformers.logging.disable_progress_bar()
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        model = transformers.AutoModel.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )
        processor = transformers.AutoImageProcessor.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError) as exc:
        raise ZeroShotError(f"{resolved.id} could not be loaded as a {family} pair: {exc}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    positions = int((config.get("text_config") or {}).get("max_position_embeddings") or 64)
    model.eval().to(device)
    return LoadedPair(model, tokenizer, processor, family, resolved.id, resolved.revision, folder, positions)


def _features(output: Any) -> Any:
    """The embeddings ``get_text_features`` / ``get_image_features`` return (a tensor before
    transformers 5, an output whose ``pooler_output`` holds them since)."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def encode_texts(pair: LoadedPair, texts: Sequence[str], device: Any, batch_size: int) -> Any:
    """Unit text embeddings ``[N, D]`` (float32) of ``texts``."""
    import torch

    # SigLIP was trained on texts padded to its full length; CLIP on texts ending at their end token
    padding = "max_length" if pair.family == "siglip" else True
    parts = []
    for start in range(0, len(texts), batch_size):
        chunk = [t or " " for t in texts[start : start + batch_size]]
        encoded = pair.tokenizer(
            chunk, padding=padding, truncation=True, max_length=pair.max_len, return_tensors="pt"
        )
        encoded = {k: v.to(device) for k, v in encoded.items() if k in ("input_ids", "attention_mask")}
        if pair.family == "siglip":
            encoded.pop("attention_mask", None)  # SigLIP attends to its padding as it was trained
        parts.append(_features(pair.model.get_text_features(**encoded)).float())
    return torch.nn.functional.normalize(torch.cat(parts), dim=-1)


def encode_images(pair: LoadedPair, items: Sequence[Any], device: Any) -> Any:
    """Unit image embeddings ``[N, D]`` (float32) of ``items``' images, through the model's processor."""
    import io

    import torch
    from PIL import Image

    images = []
    for item in items:
        try:
            with Image.open(io.BytesIO(item.image.read_bytes())) as image:
                images.append(image.convert("RGB"))
        except (OSError, ValueError) as exc:  # a file gone or changed since the dataset was checked
            where = item.image.path if item.image.member is None else f"{item.image.path}:{item.image.member}"
            raise ZeroShotError(f"the image of row {item.row} ({where}) could not be read: {exc}") from None
    pixels = pair.processor(images=images, return_tensors="pt")["pixel_values"].to(device)
    return torch.nn.functional.normalize(
        _features(pair.model.get_image_features(pixel_values=pixels)).float(), dim=-1
    )


def zeroshot(
    model_ref: str,
    dataset: Any,
    *,
    split: str = "test",
    prompt: str = DEFAULT_PROMPT,
    use_text: bool = False,
    name: str | None = None,
    experiment: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    db_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
    stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score split ``split`` (``all``: every item) of the validated ``dataset`` with the CLIP / SigLIP
    pair ``model_ref`` against one prompt per label, record a completed run with no training, and
    return ``{"run_id", "model", "revision", "family", "split", "items", "metrics", "prompts",
    "seconds", ...}``.

    Raises :class:`ZeroShotError` (a one-line message) for a model or a dataset it cannot use, and
    :class:`~mmstudio.models.fetch.ModelNotCached` for a model not on this machine; nothing is
    recorded then. ``progress(done, total)`` counts the items scored; ``cancel.is_set()`` stops
    between batches with :class:`~mmstudio.progress.Cancelled` (the run is then recorded stopped).
    """
    import torch

    from mmstudio.data.spec import DatasetSpec
    from mmstudio.store import Store
    from mmstudio.store.types import RunStatus
    from mmstudio.training.device import describe_device, resolve_device, resolve_precision
    from mmstudio.training.metrics import compute_metrics, sigmoid

    say = stage or (lambda _message: None)
    if batch_size < 1:
        raise ZeroShotError(f"the batch size must be at least 1, not {batch_size}")
    labels = dataset.labels
    if not labels:
        raise ZeroShotError(
            "the dataset has no labels: zero-shot scoring predicts a label per item; name its label column"
        )
    prompts = build_prompts(labels, prompt)
    if split == "all":
        chosen = [(n, item) for n, item in enumerate(dataset.items) if item.label is not None]
    else:
        chosen = [
            (n, item)
            for n, item in enumerate(dataset.items)
            if item.split == split and item.label is not None
        ]
    if not chosen:
        raise ZeroShotError(f"the dataset has no labelled {split} items; choose another --split (or all)")
    has_image = dataset.columns.image is not None
    has_text = dataset.columns.text is not None
    if use_text and not has_text:
        raise ZeroShotError("the dataset has no text column, so its captions cannot be used (--use-text)")
    if not has_image and not use_text:
        raise ZeroShotError("the dataset has no images: score its captions with --use-text")
    torch_device = resolve_device(device)
    chosen_precision = resolve_precision(precision, torch_device)
    say(f"Loading {model_ref}")
    pair = load_pair(model_ref, device=torch_device)
    check_cancel(cancel, "the zero-shot evaluation")

    spec = {
        "task": "classification",
        "text_encoder": {"name": "hf", "model": pair.id, "revision": pair.revision},
        "image_encoder": {"name": "hf", "model": pair.id, "revision": pair.revision}
        if has_image
        else {"name": "none"},
        "fusion": {"name": "zeroshot"},
        "head": {
            "name": "zeroshot",
            "family": pair.family,
            "prompt": prompt,
            "use_text": bool(use_text),
            "labels": list(labels),
        },
    }
    train_spec = {"batch_size": batch_size, "precision": chosen_precision.name, "device": device}
    started = time.monotonic()
    with Store.open(db_url) as store:
        record = store.ensure_dataset(
            name=dataset.root.name or str(dataset.root),
            path=dataset.root,
            format=dataset.format,
            fingerprint=dataset.fingerprint,
            item_count=len(dataset.items),
            summary={
                "task": dataset.task,
                "labels": dataset.label_counts(),
                "splits": dataset.split_counts(),
            },
        )
        run_id = store.create_run(
            name=name or f"zero-shot {Path(pair.id).name}",
            experiment=experiment,
            dataset_id=record.id,
            spec=spec,
            train_spec=train_spec,
            dataset_spec=DatasetSpec.of(dataset).to_dict(),
            device=str(torch_device),
            tags=[ZEROSHOT_TAG],
            notes=f"zero-shot baseline: {pair.family} {pair.id} scored against prompts like "
            f"{prompts[0]!r}; nothing was trained",
        )
        store.start_run(run_id, pid=os.getpid(), hostname=socket.gethostname(), device=str(torch_device))
        try:
            say(f"Scoring {plural(len(chosen), 'item')} against {plural(len(prompts), 'prompt')}")
            with torch.inference_mode(), chosen_precision.autocast():
                text_side = encode_texts(pair, prompts, torch_device, batch_size)
                logits = []
                for start in range(0, len(chosen), batch_size):
                    check_cancel(cancel, "the zero-shot evaluation")
                    batch = [item for _, item in chosen[start : start + batch_size]]
                    parts = []
                    if has_image:
                        parts.append(encode_images(pair, batch, torch_device))
                    if use_text:
                        parts.append(encode_texts(pair, [i.text for i in batch], torch_device, batch_size))
                    embedding = torch.nn.functional.normalize(sum(parts), dim=-1)
                    logits.append(_logits(pair, embedding, text_side))
                    if progress is not None:
                        progress(min(start + batch_size, len(chosen)), len(chosen))
            scores = torch.cat(logits).cpu().numpy()
            position = {label: k for k, label in enumerate(labels)}
            targets = [position[item.label] for _, item in chosen]
            indices = [n for n, _ in chosen]
            result = compute_metrics("classification", {"logits": scores}, targets, labels, indices=indices)
            if pair.family == "siglip":  # SigLIP's probabilities are sigmoids, one per label
                for prediction, row in zip(result.predictions, sigmoid(scores), strict=True):
                    prediction["probabilities"] = [float(x) for x in row]
                    prediction["score"] = float(row.max())
            prefix = "test" if split == "all" else split
            metrics = result.prefixed(prefix)
            evaluation_id = store.add_evaluation(
                run_id,
                split=prefix,
                metrics=result.metrics,
                dataset_id=record.id,
                labels=result.labels,
                confusion_matrix=result.confusion,
                per_class=result.per_class,
            )
            store.add_predictions(run_id, result.predictions, evaluation_id=evaluation_id)
            now = time.time()
            store.log_metrics(run_id, [(key, 0, None, value, now) for key, value in metrics.items()])
        except BaseException as exc:
            cancelled = isinstance(exc, Cancelled | KeyboardInterrupt)
            store.finish_run(
                run_id,
                RunStatus.CANCELLED if cancelled else RunStatus.FAILED,
                error_message="stopped before every item was scored" if cancelled else str(exc),
            )
            raise
        store.finish_run(run_id, RunStatus.COMPLETED)
    return {
        "run_id": run_id,
        "model": pair.id,
        "revision": pair.revision,
        "family": pair.family,
        "dataset": str(dataset.root),
        "split": split,
        "items": len(chosen),
        "labels": list(labels),
        "prompts": prompts,
        "use_text": bool(use_text),
        "device": describe_device(torch_device),
        "metrics": metrics,
        "seconds": time.monotonic() - started,
        "notes": [chosen_precision.note] if chosen_precision.note else [],
    }


def _logits(pair: LoadedPair, items: Any, prompts: Any) -> Any:
    """``[B, C]`` logits of unit item embeddings against unit prompt embeddings, as the model scores
    them: CLIP ``scale * cosine``, SigLIP ``scale * cosine + bias``."""
    scale = pair.model.logit_scale.exp().float()
    logits = scale * items @ prompts.T
    bias = getattr(pair.model, "logit_bias", None)
    if pair.family == "siglip" and bias is not None:
        logits = logits + bias.float()
    return logits.float()
