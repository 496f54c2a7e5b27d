"""The frozen-feature cache: a frozen encoder runs once per item, and training reads its outputs back.

A frozen pretrained encoder (an ``hf`` encoder with ``finetune`` ``frozen``, ``minilm`` with
``freeze``, a torchvision encoder with ``freeze_backbone``) gives the same output for an item in every
epoch, so running it every step only costs time: on a CPU its forward pass is almost all of a step.
When a run starts, :func:`cache_features` computes each such encoder's pooled output for every item
of the dataset once (in eval mode, without gradients, in batches, on the training device) and stores
it on disk (:func:`mmstudio.data.cache.write_feature_cache`: a ``float32`` array, one row per item
index and a last row for the masked input, written atomically with a checksum). Batches then carry
``text_features`` / ``image_features`` in place of the encoder's inputs and the model skips the
encoder (:meth:`mmstudio.models.model.MultimodalModel.forward`).

The cache is keyed by everything that changes the features: the dataset's fingerprint and its items
(their count, and a digest of each one's row and text or image, so row i is item i), the encoder's
spec (model id, revision, pooling), a digest of the encoder's weights (so a model whose files changed
is never read from an old cache, whatever its revision says), and the preprocessing (the tokenizer and
text length; the image size, fit, mean and std). Every later epoch, and every later run with the same
encoder on the same data, reads it; a damaged or mismatched file is computed again.

When the cache is used (:func:`plan_features`): ``TrainSpec.feature_cache`` is on, the encoder is
frozen, its modality is not augmented (augmented inputs must pass through the encoder every step:
augmentation applies to what trains), and the fusion reads pooled vectors only (cross-attention and
FiLM read every token, which are not cached). At run time the built encoder must also prove frozen
(:func:`encoder_is_frozen`: no parameter trains, and nothing in it behaves differently in training).

Evaluation within the run reads the cache too; a masked modality (the ablations) gets the features of
the masked input, computed with the others. Evaluation, inference and export of a saved run rebuild
the whole model and run the encoder, which gives the same outputs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmstudio.formatting import format_bytes
from mmstudio.progress import check_cancel
from mmstudio.training.spec import TrainSpec
from mmstudio.vocabulary import component_name

if TYPE_CHECKING:
    import torch
    from torch import nn

    from mmstudio.training.data import PreparedData

#: The model's slot of each modality's encoder.
ENCODER_SLOTS = {"text": "text_encoder", "image": "image_encoder"}
#: Bumped when what a cached row means changes: older files are then never read.
FEATURE_FORMAT = 1
#: The least time between two progress reports while features are computed.
PROGRESS_INTERVAL_S = 0.5


# --- the plan: which encoders' features are cached, and why not ---------------------------------------


@dataclass(frozen=True)
class FeaturePlan:
    """Whether one modality's encoder reads its features from the cache: ``cached``, or ``reason``
    says why not (``cache off``, ``fine-tuned``, ``augmented``, the fusion reads tokens)."""

    modality: str
    encoder: str
    cached: bool
    reason: str = ""

    def describe(self) -> str:
        """The plan in a few words, as the Train page's summary and the run's log say it."""
        if self.cached:
            return f"{self.modality} features cached from frozen {self.encoder}"
        return f"{self.modality} features computed every step by {self.encoder} ({self.reason})"


def encoder_label(component: Mapping[str, Any]) -> str:
    """How a pretrained encoder is named in the log and the summary: ``hf:MODEL``, ``resnet18``..."""
    name = component_name(component) or "none"
    if name == "hf":
        return f"hf:{component.get('model', '')}"
    if name == "minilm":
        return f"minilm:{component.get('path', '') or 'MMSTUDIO_SENTENCE_MODEL'}"
    return name


def is_pretrained(component: Mapping[str, Any]) -> bool:
    """An encoder that starts from pretrained weights (``hf``, ``minilm``, a torchvision one with
    ``pretrained``), or whose weights are all frozen."""
    return component_name(component) in ("hf", "minilm") or bool(
        component.get("pretrained") or component.get("freeze_backbone")
    )


def frozen_component(component: Mapping[str, Any]) -> bool:
    """Whether a spec's encoder trains nothing: ``hf`` with ``finetune`` ``frozen``, ``minilm`` with
    ``freeze``, a torchvision encoder with ``freeze_backbone``."""
    name = component_name(component)
    if name == "hf":
        return str(component.get("finetune", "frozen")).strip().lower() == "frozen"
    if name == "minilm":
        return bool(component.get("freeze", True))
    return bool(component.get("freeze_backbone"))


def _fusion_reads_tokens(spec: Mapping[str, Any]) -> str | None:
    """The fusion's name when it reads the encoders' tokens (which are not cached), else None."""
    from mmstudio.models import FUSIONS

    fusion = component_name(spec.get("fusion") or {}) or "none"
    reads = fusion in FUSIONS and bool(FUSIONS.get(fusion).info.get("needs_tokens", False))
    return fusion if reads else None


def plan_features(spec: Any, train: TrainSpec) -> dict[str, FeaturePlan]:
    """Per modality whose encoder is pretrained or frozen, whether its features will be cached and
    why not. ``spec``: a ModelSpec or its dict. Encoders trained from scratch are left out (they train,
    so nothing about them could be cached)."""
    request = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec or {})
    plans = {}
    for modality, slot in ENCODER_SLOTS.items():
        component = request.get(slot) or {}
        if (component_name(component) or "none") == "none" or not is_pretrained(component):
            continue
        label = encoder_label(component)
        if not frozen_component(component):
            reason = "fine-tuned"
        elif train.augments(modality):
            reason = f"augmented: augment_{modality} {getattr(train, f'augment_{modality}')}"
        elif not train.feature_cache:
            reason = "feature cache off"
        elif (fusion := _fusion_reads_tokens(request)) is not None:  # imports the model library
            reason = f"the {fusion} fusion reads every token"
        else:
            reason = ""
        plans[modality] = FeaturePlan(modality, label, not reason, reason)
    return plans


def describe_plans(plans: Mapping[str, FeaturePlan]) -> str:
    """The plans in one line ("" without any): "text features cached from frozen hf:X; image ..."."""
    return "; ".join(plan.describe() for plan in plans.values())


def features_line(spec: Any, train: TrainSpec | None) -> str:
    """What the Train page's summary says of the feature cache for a model spec (None: the default
    for the data, which has no pretrained encoder) and a training spec: :func:`describe_plans`."""
    if not spec or train is None:
        return ""
    return describe_plans(plan_features(spec, train))


# --- run time -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedFeatures:
    """One modality's features, attached to the data: how many items, their bytes, and whether they
    were ``computed`` now (in ``seconds``) or read from the cache."""

    modality: str
    encoder: str
    items: int
    nbytes: int
    computed: bool
    seconds: float
    key: str

    def describe(self) -> str:
        """The run log's line: "text features: cached from frozen hf:X (1,200 items, 1.8 MB; computed
        in 3.2 s)", or "...; read from the cache)"."""
        how = f"computed in {self.seconds:.1f} s" if self.computed else "read from the cache"
        return (
            f"{self.modality} features: cached from frozen {self.encoder} ({self.items:,} items, "
            f"{format_bytes(self.nbytes)}; {how})"
        )


def encoder_is_frozen(encoder: nn.Module) -> bool:
    """Whether ``encoder`` gives the same output for an input in training as in evaluation, always:
    none of its parameters trains and, with the model in training mode, everything inside it stays in
    eval mode (no dropout, BatchNorm statistics fixed)."""
    if any(p.requires_grad for p in encoder.parameters()):
        return False
    was_training = encoder.training
    encoder.train(True)
    try:
        return all(not module.training for module in encoder.modules() if module is not encoder)
    finally:
        encoder.train(was_training)


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, dtypes, shapes and values)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def preprocessing(data: PreparedData, modality: str) -> dict[str, Any]:
    """What turns an item into the encoder's input: the tokenizer and text length, or the image size,
    fit, mean and std."""
    if modality == "text":
        from mmstudio.data.text import tokenizer_hash

        assert data.tokenizer is not None
        return {"tokenizer": tokenizer_hash(data.tokenizer), "max_len": data.max_len}
    mean, std = data.image_norm
    return {"size": data.image_size, "fit": data.train.image_fit, "mean": list(mean), "std": list(std)}


def items_digest(data: PreparedData, modality: str) -> str:
    """SHA-256 of what each item gives the encoder, in item order (its source and row, and its text or
    image reference): the rows of a cache line up with these items, whatever was left out of the
    dataset when it was loaded."""
    digest = hashlib.sha256()
    for item in data.dataset.items:
        what = item.text if modality == "text" else str(item.image)
        digest.update(f"{item.source}\x1f{item.row}\x1f{what}\x1e".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def feature_key(
    modality: str,
    fingerprint: str,
    items: int | str,
    component: Mapping[str, Any],
    weights: str,
    preprocessing: Mapping[str, Any],
) -> str:
    """The cache's name for these features: the modality and a digest of everything they depend on.
    How the encoder is trained (frozen) and LoRA's rank do not change a frozen encoder's output."""
    encoder = {k: v for k, v in component.items() if k not in ("finetune", "lora_r", "freeze")}
    payload = {
        "format": FEATURE_FORMAT,
        "modality": modality,
        "fingerprint": fingerprint,
        "items": items,
        "encoder": encoder,
        "weights": weights,
        "preprocessing": dict(preprocessing),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return f"{modality}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:40]}"


def _encode(encoder: nn.Module, modality: str, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    out = encoder(inputs["tokens"], inputs["lengths"]) if modality == "text" else encoder(inputs["image"])
    return out.pooled.float()


def _encode_all(
    encoder: nn.Module,
    modality: str,
    data: PreparedData,
    array: Any,
    *,
    device: Any,
    batch_size: int,
    progress: Callable[[str, int, int], None] | None,
    cancel: Any,
) -> None:
    """Fill ``array`` [N + 1, D]: row i with item i's pooled output, row N with the masked input's;
    in eval mode, without gradients, in batches, checking ``cancel`` between them."""
    import numpy as np
    import torch

    n = len(data.dataset.items)
    was_training = encoder.training
    encoder.eval()
    last = float("-inf")
    try:
        with torch.inference_mode():
            for first in range(0, n, batch_size):
                check_cancel(cancel, f"computing the {modality} features")
                stop = min(first + batch_size, n)
                inputs = data.encoder_inputs(modality, np.arange(first, stop), device)
                array[first:stop] = _encode(encoder, modality, inputs).cpu().numpy()
                now = time.monotonic()
                if progress is not None and (now - last >= PROGRESS_INTERVAL_S or stop == n):
                    last = now
                    progress(modality, stop, n)
            masked = data.masked_inputs(modality, device)
            array[n] = _encode(encoder, modality, masked)[0].cpu().numpy()
    finally:
        encoder.train(was_training)


def cache_features(
    model: nn.Module,
    data: PreparedData,
    plans: Mapping[str, FeaturePlan],
    *,
    device: Any = "cpu",
    batch_size: int = 64,
    progress: Callable[[str, int, int], None] | None = None,
    cancel: Any = None,
    cache_root: Any = None,
) -> list[CachedFeatures]:
    """Attach to ``data`` the cached features of each planned modality whose encoder in ``model`` is
    frozen (:func:`encoder_is_frozen`), computing them first when the cache has none (or a damaged
    one). ``progress(modality, done, total)`` is called at most every :data:`PROGRESS_INTERVAL_S`
    seconds while items are encoded; ``cancel.is_set()`` stops between batches with
    :class:`~mmstudio.progress.Cancelled` and leaves nothing on disk. ``cache_root``: the folder of
    the feature files (default: the user's cache folder's ``features/``)."""
    from mmstudio.data.cache import open_feature_cache, write_feature_cache

    results = []
    n = len(data.dataset.items)
    for modality, plan in plans.items():
        encoder = getattr(model, ENCODER_SLOTS[modality], None)
        if not plan.cached or encoder is None or not encoder_is_frozen(encoder):
            continue
        component = getattr(model, "spec", None)
        component = getattr(component, ENCODER_SLOTS[modality], {}) if component is not None else {}
        key = feature_key(
            modality,
            data.dataset.fingerprint,
            f"{n}:{items_digest(data, modality)}",
            component,
            weights_digest(encoder),
            preprocessing(data, modality),
        )
        dim = int(encoder.out_dim)
        start = time.perf_counter()
        cache = open_feature_cache(key, n=n, dim=dim, cache_root=cache_root)
        computed = cache is None
        if cache is None:
            fill = functools.partial(
                _encode_all, encoder, modality, data,
                device=device, batch_size=batch_size, progress=progress, cancel=cancel,
            )  # fmt: skip
            meta = {"encoder": plan.encoder, "fingerprint": data.dataset.fingerprint, "modality": modality}
            cache = write_feature_cache(key, n, dim, fill, meta=meta, cache_root=cache_root)
        data.attach_features(modality, cache.array)
        results.append(
            CachedFeatures(
                modality, plan.encoder, n, cache.nbytes, computed, time.perf_counter() - start, key
            )
        )
    return results


__all__ = [
    "CachedFeatures",
    "FeaturePlan",
    "cache_features",
    "describe_plans",
    "encoder_is_frozen",
    "feature_key",
    "features_line",
    "frozen_component",
    "plan_features",
]
