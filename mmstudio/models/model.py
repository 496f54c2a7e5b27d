"""``MultimodalModel``: text encoder + image encoder → fusion → head(s), built from a ``ModelSpec``.

The flow is the same for every architecture::

    text  = text_encoder(tokens, lengths)   # EncoderOutput, or None for an image-only model
    image = image_encoder(image)            # EncoderOutput, or None for a text-only model
    streams = fusion(text, image)           # {stream: [B, D]}: "fused", or "text"/"image"
    outputs = fusion.combine({s: heads[s](x) for s, x in streams.items()})

so late fusion (a head per modality, learned weights) and unimodal baselines need no special case.
The contrastive task instead gives both streams of the ``none`` fusion to its projection head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mmstudio.models._common import EncoderOutput
from mmstudio.models.context import ModelContext
from mmstudio.models.fusion import FUSIONS
from mmstudio.models.heads import HEADS, task_loss
from mmstudio.models.image import IMAGE_ENCODERS
from mmstudio.models.spec import ModelSpec, SpecError
from mmstudio.models.text import TEXT_ENCODERS

UNIMODAL_LOSS_WEIGHT = 0.5  # each modality's own head's loss, added to the prediction's


class MultimodalModel(nn.Module):
    """The network of one :class:`ModelSpec`. Build it with :func:`build_model`, which validates first.

    - ``forward(batch)`` → ``{"logits": [B, C]}`` (classification, multilabel), ``{"prediction": [B]}``
      (regression) or ``{"text_embedding": [B, D], "image_embedding": [B, D], "logit_scale": []}``
      (contrastive; embeddings L2-normalised, the scale is 1 / temperature). With several streams
      (late fusion) each stream's output is added as ``logits_text`` / ``logits_image`` (or
      ``prediction_*``), and the fusion's extras, such as late fusion's ``modality_weights`` [2].
    - A batch may carry ``text_features`` / ``image_features`` ``[B, D]`` in place of an encoder's
      inputs: the pooled output of a frozen encoder, cached (:mod:`mmstudio.training.features`); that
      encoder then does not run, and the fusion gets no tokens (a fusion that reads tokens, such as
      cross-attention, is never given cached features).
    - ``loss(outputs, batch)`` → the task's scalar loss.
    - ``spec`` / ``ctx``: what it was built from (the spec complete, defaults filled).
    - ``modality_dropout``: in training mode only, for a predictive model that reads both modalities,
      each item's text or image features (one of the two, at random) are zeroed with this
      probability before the fusion (the trainer sets it from ``TrainSpec.modality_dropout``; 0 by
      default, and never in eval mode). The fused model then cannot rely on one modality alone, so
      a modality that turns out uninformative costs it little.
    - With ``ctx.unimodal_heads`` (a predictive model that reads both modalities), each modality's
      pooled features also go to a head of its own (the same kind as the model's), whose outputs are
      ``logits_alone_text`` / ``logits_alone_image`` (or ``prediction_alone_*``); :meth:`loss` adds
      :data:`UNIMODAL_LOSS_WEIGHT` times each one's loss, so each modality alone learns as a unimodal
      model would. ``answer_from`` (``"text"``, ``"image"`` or None): when set, by the fusion guard at
      the end of training and from the checkpoint's meta when a run is loaded, the prediction is that
      modality's own head's: the fused model is never worse on val than its better modality.
    """

    def __init__(self, spec: ModelSpec, ctx: ModelContext) -> None:
        super().__init__()
        spec = spec.resolved()
        self.spec = spec
        self.ctx = ctx
        self.task = spec.task
        self.text_encoder = TEXT_ENCODERS.build(
            spec.text_encoder["name"], ctx=ctx, **spec.params("text_encoder")
        )
        self.image_encoder = IMAGE_ENCODERS.build(
            spec.image_encoder["name"], ctx=ctx, **spec.params("image_encoder")
        )
        text_dim = self.text_encoder.out_dim if self.text_encoder is not None else 0
        image_dim = self.image_encoder.out_dim if self.image_encoder is not None else 0
        self.fusion = FUSIONS.build(
            spec.fusion["name"], text_dim=text_dim, image_dim=image_dim, **spec.params("fusion")
        )

        head_name, head_params = spec.head["name"], spec.params("head")
        loss_keys = HEADS.get(head_name).info.get("loss_params", ())
        self.loss_options = {k: head_params.pop(k) for k in loss_keys}
        if self.task == "contrastive":
            head = HEADS.build(head_name, text_dim=text_dim, image_dim=image_dim, **head_params)
            self.heads = nn.ModuleDict({"contrastive": head})
        else:
            out_dim = 1 if self.task == "regression" else ctx.num_outputs
            self.heads = nn.ModuleDict(
                {
                    stream: HEADS.build(head_name, in_dim=dim, out_dim=out_dim, **head_params)
                    for stream, dim in self.fusion.out_dims.items()
                }
            )
        self.unimodal_heads: nn.ModuleDict | None = None
        if ctx.unimodal_heads and text_dim and image_dim and self.task != "contrastive":
            out_dim = 1 if self.task == "regression" else ctx.num_outputs
            self.unimodal_heads = nn.ModuleDict(
                {
                    modality: HEADS.build(head_name, in_dim=dim, out_dim=out_dim, **head_params)
                    for modality, dim in (("text", text_dim), ("image", image_dim))
                }
            )
        self.modality_dropout = 0.0
        self.answer_from: str | None = None
        weights = ctx.class_weights if self.task in ("classification", "multilabel") else None
        self.class_weights: Tensor | None
        self.register_buffer(
            "class_weights", torch.tensor(weights, dtype=torch.float32) if weights else None, persistent=False
        )

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        text = image = None
        if self.text_encoder is not None:
            if "text_features" in batch:  # a frozen encoder's cached output: the encoder does not run
                text = EncoderOutput(batch["text_features"], None, None)  # type: ignore[arg-type]
            else:
                text = self.text_encoder(batch["tokens"], batch["lengths"])
        if self.image_encoder is not None:
            if "image_features" in batch:
                image = EncoderOutput(batch["image_features"], None, None)  # type: ignore[arg-type]
            else:
                image = self.image_encoder(batch["image"])
        both = text is not None and image is not None and self.task != "contrastive"
        key = "prediction" if self.task == "regression" else "logits"
        alone: dict[str, Tensor] = {}
        if self.unimodal_heads is not None and text is not None and image is not None:
            alone = {
                f"{key}_alone_{modality}": self._shape(self.unimodal_heads[modality](out.pooled))
                for modality, out in (("text", text), ("image", image))
            }
        if self.answer_from is not None and alone:  # the fusion guard chose one modality's own head
            return {key: alone[f"{key}_alone_{self.answer_from}"], **alone}
        if both and self.training and self.modality_dropout > 0:
            text, image = drop_modality(text, image, self.modality_dropout)
        streams = self.fusion(text, image)
        if self.task == "contrastive":
            return self.heads["contrastive"](streams["text"], streams["image"])
        per_stream = {name: self._shape(self.heads[name](x)) for name, x in streams.items()}
        outputs = {key: self.fusion.combine(per_stream)}
        if len(per_stream) > 1:
            outputs.update((f"{key}_{name}", out) for name, out in per_stream.items())
        outputs.update(self.fusion.extra_outputs())
        outputs.update(alone)
        return outputs

    def _shape(self, out: Tensor) -> Tensor:
        return out.squeeze(-1) if self.task == "regression" else out

    def loss(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> Tensor:
        """What training minimises: :meth:`loss_parts`' total."""
        return self.loss_parts(outputs, batch)[1]

    def prediction_loss(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> Tensor:
        """The task's loss of the prediction alone: what a run logs and evaluates as ``loss``."""
        return task_loss(
            self.task, dict(outputs), dict(batch), class_weights=self.class_weights, **self.loss_options
        )

    def loss_parts(self, outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(prediction, total)``: the task's loss of the prediction, and that plus
        :data:`UNIMODAL_LOSS_WEIGHT` times the loss of each modality's own head, when the model has them
        (:attr:`ModelContext.unimodal_heads`). Training minimises the total and logs the prediction's,
        so training and validation losses stay comparable."""
        prediction = self.prediction_loss(outputs, batch)
        total = prediction
        key = "prediction" if self.task == "regression" else "logits"
        for modality in ("text", "image"):
            out = outputs.get(f"{key}_alone_{modality}")
            if out is not None:
                total = total + UNIMODAL_LOSS_WEIGHT * self.prediction_loss({key: out}, batch)
        return prediction, total

    def num_parameters(self, *, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


def drop_modality(text: EncoderOutput, image: EncoderOutput, p: float) -> tuple[EncoderOutput, EncoderOutput]:
    """``text`` and ``image`` with, for each item, with probability ``p``, one of them (either, with
    equal chance) zeroed: its pooled vector and its tokens. Padding masks are kept as they are."""
    batch = text.pooled.shape[0]
    device = text.pooled.device
    dropped = torch.rand(batch, device=device) < p
    which = torch.rand(batch, device=device) < 0.5  # True: drop the text, False: the image
    keep_text = ~(dropped & which)
    keep_image = ~(dropped & ~which)
    return _keep_rows(text, keep_text), _keep_rows(image, keep_image)


def _keep_rows(out: EncoderOutput, keep: Tensor) -> EncoderOutput:
    """``out`` with the rows where ``keep`` is False zeroed: the pooled vector and its tokens."""
    k = keep.to(out.pooled.dtype)
    tokens = out.tokens
    if tokens is not None:
        tokens = tokens * k.view(-1, *([1] * (tokens.dim() - 1))).to(tokens.dtype)
    return out._replace(pooled=out.pooled * k[:, None], tokens=tokens)


def build_model(spec: ModelSpec | Mapping[str, Any], ctx: ModelContext) -> MultimodalModel:
    """Validate ``spec`` for ``ctx`` and build its model (on the default device; move it with ``.to``).

    Raises :class:`SpecError` listing every error when the spec cannot be built.
    """
    spec = ModelSpec.from_dict(spec) if isinstance(spec, Mapping) else spec.resolved()
    issues = spec.validate(ctx)
    if any(i.level == "error" for i in issues):
        raise SpecError(issues)
    return MultimodalModel(spec, ctx)


def example_batch(
    spec: ModelSpec, ctx: ModelContext, batch_size: int = 2, device: torch.device | str | None = None
) -> dict[str, Tensor]:
    """A deterministic batch following the batch contract, with just the keys ``spec`` needs: for
    smoke tests, summaries (on the meta device) and export tracing. Lengths vary, so padding is
    exercised; every token id is valid for ``ctx.vocab_size``."""
    b = batch_size
    kw: dict[str, Any] = {"device": device}
    batch: dict[str, Tensor] = {"index": torch.arange(b, **kw)}
    if spec.has_text:
        length = ctx.max_len
        ids = torch.arange(b * length, **kw) % max(ctx.vocab_size - 2, 1) + min(2, ctx.vocab_size - 1)
        lengths = (length - torch.arange(b, **kw)).clamp(min=1)
        padding = torch.arange(length, **kw)[None, :] >= lengths[:, None]
        batch["tokens"] = ids.view(b, length).masked_fill(padding, 0)
        batch["lengths"] = lengths
    if spec.has_image:
        size = ctx.image_size
        batch["image"] = torch.sin(torch.arange(b * 3 * size * size, dtype=torch.float32, **kw)).view(
            b, 3, size, size
        )
    if spec.task == "classification":
        batch["target"] = torch.arange(b, **kw) % max(ctx.num_outputs, 1)
    elif spec.task == "multilabel":
        batch["target"] = (torch.arange(b * ctx.num_outputs, **kw) % 2).float().view(b, ctx.num_outputs)
    elif spec.task == "regression":
        batch["target"] = torch.linspace(-1.0, 1.0, b, **kw)
    elif spec.task == "contrastive":
        batch["group"] = torch.arange(b, **kw)
    return batch
