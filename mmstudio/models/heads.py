"""Heads and the loss of each task.

Predictive heads (``linear``, ``mlp``) map one fusion stream ``[B, D]`` to ``[B, num_outputs]``:
logits for classification and multilabel, one value for regression. Builders:
``builder(*, in_dim, out_dim, **params)``. The contrastive head (``projection``) maps the text and
image vectors into one embedding space: ``builder(*, text_dim, image_dim, **params)``.

A head's ``loss_params`` (its registry info) are options of the task's loss, not of the module:
the model passes them to :func:`task_loss` rather than to the builder.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mmstudio.models.registry import Param, Registry
from mmstudio.vocabulary import PREDICTIVE_TASKS, check_task

HEADS = Registry("head")

#: What ``MultimodalModel.forward`` returns per task (extra keys may follow).
TASK_OUTPUTS = {
    "classification": ("logits",),
    "multilabel": ("logits",),
    "regression": ("prediction",),
    "contrastive": ("text_embedding", "image_embedding", "logit_scale"),
}
DEFAULT_HEADS = {
    "classification": "mlp",
    "multilabel": "mlp",
    "regression": "mlp",
    "contrastive": "projection",
}

#: CLIP's initial temperature 0.07 and its cap on the logit scale (1 / temperature) of 100.
INIT_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = math.log(100)

_LABEL_SMOOTHING = Param(
    "label_smoothing", "float", 0.0, 0.0, 0.5, help="classification only: soften the one-hot targets"
)


# --- predictive heads ------------------------------------------------------------------------------


class LinearHead(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.dropout(x))


@HEADS.register(
    "linear",
    help="A linear layer on the fused features (a linear probe)",
    params=[Param("dropout", "float", 0.0, 0.0, 0.9, help="dropout before the layer"), _LABEL_SMOOTHING],
    tasks=PREDICTIVE_TASKS,
    loss_params=("label_smoothing",),
)
def linear(*, in_dim: int, out_dim: int, dropout: float) -> LinearHead:
    return LinearHead(in_dim, out_dim, dropout)


class MLPHead(nn.Module):
    """Linear → GELU → dropout → linear."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@HEADS.register(
    "mlp",
    help="A one-hidden-layer MLP on the fused features",
    params=[
        Param("hidden", "int", 256, 8, 8192, help="hidden layer size"),
        Param("dropout", "float", 0.1, 0.0, 0.9, help="dropout after the hidden layer"),
        _LABEL_SMOOTHING,
    ],
    tasks=PREDICTIVE_TASKS,
    loss_params=("label_smoothing",),
)
def mlp(*, in_dim: int, out_dim: int, hidden: int, dropout: float) -> MLPHead:
    return MLPHead(in_dim, out_dim, hidden, dropout)


# --- contrastive head ------------------------------------------------------------------------------


class ContrastiveHead(nn.Module):
    """CLIP-style: linear projections of both modalities into one ``dim``-sized space, L2-normalised,
    and the logit scale (1 / temperature), learned from log(1/0.07) and capped at 100.

    ``forward`` returns the normalised embeddings and the scale itself (``exp`` of the learned log),
    as open_clip does, so similarities are ``scale · text @ image.T``.
    """

    def __init__(self, text_dim: int, image_dim: int, dim: int, learn_temperature: bool) -> None:
        super().__init__()
        self.text_proj = nn.Linear(text_dim, dim, bias=False)
        self.image_proj = nn.Linear(image_dim, dim, bias=False)
        scale = torch.tensor(INIT_LOGIT_SCALE)
        if learn_temperature:
            self.log_logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer("log_logit_scale", scale)

    def forward(self, text: Tensor, image: Tensor) -> dict[str, Tensor]:
        # Clamped in the forward rather than after each optimiser step, so the cap holds whatever
        # trains the model; at the cap the gradient pushing it further is zero.
        return {
            "text_embedding": F.normalize(self.text_proj(text), dim=-1),
            "image_embedding": F.normalize(self.image_proj(image), dim=-1),
            "logit_scale": self.log_logit_scale.clamp(max=MAX_LOGIT_SCALE).exp(),
        }


@HEADS.register(
    "projection",
    help="Contrastive (CLIP-style) projections of text and image into one embedding space",
    params=[
        Param("dim", "int", 128, 8, 2048, help="embedding size"),
        Param("learn_temperature", "bool", True, help="learn the softmax temperature (else fixed at 0.07)"),
    ],
    tasks=("contrastive",),
)
def projection(*, text_dim: int, image_dim: int, dim: int, learn_temperature: bool) -> ContrastiveHead:
    return ContrastiveHead(text_dim, image_dim, dim, learn_temperature)


# --- losses ----------------------------------------------------------------------------------------


def classification_loss(
    logits: Tensor, target: Tensor, *, class_weights: Tensor | None = None, label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy, optionally class-weighted and label-smoothed (computed in float32)."""
    return F.cross_entropy(
        logits.float(), target.long(), weight=class_weights, label_smoothing=label_smoothing
    )


def multilabel_loss(logits: Tensor, target: Tensor, *, class_weights: Tensor | None = None) -> Tensor:
    """Binary cross-entropy per label; ``class_weights`` scales each label's term (as in
    classification: the weight of a class, not a positive-to-negative ratio)."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float(), weight=class_weights)


def regression_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(prediction.float(), target.float())


def contrastive_loss(
    text_embedding: Tensor, image_embedding: Tensor, logit_scale: Tensor, group: Tensor | None = None
) -> Tensor:
    """CLIP's symmetric InfoNCE: row i's text should pick image i among the batch's images, and the
    reverse, each direction a cross-entropy over ``scale · text @ image.T``.

    With ``group`` (captions of one image share an id), a pair of different rows from the same group
    is not a negative: it is masked out of both softmaxes. We mask rather than count it as another
    positive so the loss stays CLIP's when groups are unique and can still reach zero; retrieval
    metrics count a same-group hit as correct either way.
    """
    logits = logit_scale * text_embedding.float() @ image_embedding.float().T
    batch = logits.shape[0]
    target = torch.arange(batch, device=logits.device)
    if group is not None:
        eye = torch.eye(batch, dtype=torch.bool, device=logits.device)
        same = (group[:, None] == group[None, :]) & ~eye
        logits = logits.masked_fill(same, float("-inf"))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def task_loss(
    task: str,
    outputs: dict[str, Tensor],
    batch: dict[str, Tensor],
    *,
    class_weights: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """The scalar loss of ``task`` for a model's ``outputs`` on ``batch``."""
    if task == "classification":
        return classification_loss(
            outputs["logits"], batch["target"], class_weights=class_weights, label_smoothing=label_smoothing
        )
    if task == "multilabel":
        return multilabel_loss(outputs["logits"], batch["target"], class_weights=class_weights)
    if task == "regression":
        return regression_loss(outputs["prediction"], batch["target"])
    if task == "contrastive":
        return contrastive_loss(
            outputs["text_embedding"], outputs["image_embedding"], outputs["logit_scale"], batch.get("group")
        )
    check_task(task)
    raise AssertionError(f"task {task!r} has no loss")
