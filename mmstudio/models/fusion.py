"""Fusions: the two encoders' outputs → one or more feature *streams* for the head.

A fusion maps ``(text, image)`` (each an :class:`EncoderOutput`, or None for a missing modality) to a
dict of named streams ``{name: [B, D]}`` with sizes ``out_dims``. The model puts one head on each
stream and merges the heads' outputs with :meth:`Fusion.combine`. Almost every fusion yields one
stream, ``fused``, and ``combine`` returns its output unchanged; ``late`` fusion yields ``text`` and
``image`` streams and combines their heads' outputs with learned softmax weights. That way late fusion
needs no special case in the model, and a head never knows which fusion feeds it.

Builders are keyword-only: ``builder(*, text_dim, image_dim, **params)``, a dim 0 meaning "absent".
Every fusion except ``none`` needs both modalities (``needs_both`` in its registry info).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mmstudio.models._common import EncoderOutput, masked_mean
from mmstudio.models.context import ModelContext
from mmstudio.models.registry import Param, Registry

FUSIONS = Registry("fusion")

_DIM = Param("dim", "int", 256, 8, 4096, help="size both modalities are projected to")


class Fusion(nn.Module):
    """Base class: ``forward(text, image) -> {stream: [B, D]}``; ``out_dims`` gives each D."""

    out_dims: dict[str, int]

    def combine(self, outputs: Mapping[str, Tensor]) -> Tensor:
        """Merge the per-stream head outputs; a single stream passes through."""
        if len(outputs) != 1:
            raise ValueError(f"{type(self).__name__} cannot combine streams {sorted(outputs)}")
        return next(iter(outputs.values()))

    def extra_outputs(self) -> dict[str, Tensor]:
        """Tensors the model adds to its outputs (e.g. late fusion's modality weights)."""
        return {}


def _both(text: EncoderOutput | None, image: EncoderOutput | None) -> tuple[EncoderOutput, EncoderOutput]:
    if text is None or image is None:
        raise ValueError("this fusion needs both a text and an image encoder")
    return text, image


# --- none ------------------------------------------------------------------------------------------


class NoFusion(Fusion):
    """Passes each present modality's pooled vector through as its own stream.

    One modality: a unimodal baseline. Both: the contrastive task, whose head compares the two.
    """

    def __init__(self, text_dim: int, image_dim: int) -> None:
        super().__init__()
        self.out_dims = {k: d for k, d in (("text", text_dim), ("image", image_dim)) if d}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        streams = {}
        if text is not None:
            streams["text"] = text.pooled
        if image is not None:
            streams["image"] = image.pooled
        return streams


@FUSIONS.register(
    "none",
    help="No fusion: the one modality of a unimodal model (or both, for contrastive retrieval)",
    needs_both=False,
)
def none(*, text_dim: int, image_dim: int) -> NoFusion:
    return NoFusion(text_dim, image_dim)


# --- concat / sum / product ------------------------------------------------------------------------


class ConcatFusion(Fusion):
    """Early fusion by concatenation: [text; image]."""

    def __init__(self, text_dim: int, image_dim: int) -> None:
        super().__init__()
        self.out_dims = {"fused": text_dim + image_dim}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        return {"fused": torch.cat([text.pooled, image.pooled], dim=-1)}


@FUSIONS.register("concat", help="Concatenate the pooled text and image vectors", needs_both=True)
def concat(*, text_dim: int, image_dim: int) -> ConcatFusion:
    return ConcatFusion(text_dim, image_dim)


class ElementwiseFusion(Fusion):
    """Project both modalities to ``dim``, then add or multiply them element by element."""

    def __init__(self, text_dim: int, image_dim: int, dim: int, op: str) -> None:
        super().__init__()
        self.text_proj = nn.Linear(text_dim, dim)
        self.image_proj = nn.Linear(image_dim, dim)
        self.op = op
        self.out_dims = {"fused": dim}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        t, i = self.text_proj(text.pooled), self.image_proj(image.pooled)
        return {"fused": t + i if self.op == "sum" else t * i}


@FUSIONS.register("sum", help="Project both to a common size and add", params=[_DIM], needs_both=True)
def sum(*, text_dim: int, image_dim: int, dim: int) -> ElementwiseFusion:  # the registry key shadows sum()
    return ElementwiseFusion(text_dim, image_dim, dim, "sum")


@FUSIONS.register(
    "product", help="Project both to a common size and multiply element-wise", params=[_DIM], needs_both=True
)
def product(*, text_dim: int, image_dim: int, dim: int) -> ElementwiseFusion:
    return ElementwiseFusion(text_dim, image_dim, dim, "product")


# --- gated (GMU) -----------------------------------------------------------------------------------


class GatedFusion(Fusion):
    """Gated Multimodal Unit (Arevalo et al., 2017): h = z·tanh(W_t t) + (1 − z)·tanh(W_i i), with the
    gate z = σ(W_z [t; i]) deciding per feature and per item how much each modality contributes."""

    def __init__(self, text_dim: int, image_dim: int, dim: int) -> None:
        super().__init__()
        self.text_proj = nn.Linear(text_dim, dim)
        self.image_proj = nn.Linear(image_dim, dim)
        self.gate = nn.Linear(text_dim + image_dim, dim)
        self.out_dims = {"fused": dim}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        t, i = text.pooled, image.pooled
        z = torch.sigmoid(self.gate(torch.cat([t, i], dim=-1)))
        return {"fused": z * torch.tanh(self.text_proj(t)) + (1 - z) * torch.tanh(self.image_proj(i))}


@FUSIONS.register(
    "gated", help="Gated multimodal unit (GMU): a learned per-feature gate", params=[_DIM], needs_both=True
)
def gated(*, text_dim: int, image_dim: int, dim: int) -> GatedFusion:
    return GatedFusion(text_dim, image_dim, dim)


# --- low-rank multimodal fusion --------------------------------------------------------------------


class LowRankFusion(Fusion):
    """Low-rank Multimodal Fusion (Liu et al., 2018): the bilinear map of [t; 1] ⊗ [i; 1] with its weight
    tensor factored into ``rank`` modality-specific factors, so it costs (d_t + d_i)·rank·dim weights
    instead of d_t·d_i·dim."""

    def __init__(self, text_dim: int, image_dim: int, dim: int, rank: int) -> None:
        super().__init__()
        self.text_factor = nn.Parameter(torch.empty(rank, text_dim + 1, dim))
        self.image_factor = nn.Parameter(torch.empty(rank, image_dim + 1, dim))
        self.rank_weights = nn.Parameter(torch.empty(rank))
        self.bias = nn.Parameter(torch.zeros(dim))
        # Each factor's output has about unit variance for unit inputs; the rank weights average them.
        nn.init.normal_(self.text_factor, std=1 / math.sqrt(text_dim + 1))
        nn.init.normal_(self.image_factor, std=1 / math.sqrt(image_dim + 1))
        nn.init.normal_(self.rank_weights, std=1 / math.sqrt(rank))
        self.out_dims = {"fused": dim}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        t = nn.functional.pad(text.pooled, (0, 1), value=1.0)  # [t; 1]
        i = nn.functional.pad(image.pooled, (0, 1), value=1.0)
        zt = torch.einsum("bd,rdo->rbo", t, self.text_factor)
        zi = torch.einsum("bd,rdo->rbo", i, self.image_factor)
        return {"fused": torch.einsum("r,rbo->bo", self.rank_weights, zt * zi) + self.bias}


@FUSIONS.register(
    "lmf",
    help="Low-rank multimodal fusion (LMF): a bilinear text × image interaction of low rank",
    params=[_DIM, Param("rank", "int", 4, 1, 64, help="rank of the factored bilinear weights")],
    needs_both=True,
)
def lmf(*, text_dim: int, image_dim: int, dim: int, rank: int) -> LowRankFusion:
    return LowRankFusion(text_dim, image_dim, dim, rank)


# --- tensor fusion ---------------------------------------------------------------------------------


class TensorFusion(Fusion):
    """Tensor Fusion Network (Zadeh et al., 2017): the flattened outer product [h_t; 1] ⊗ [h_i; 1] of
    both modalities projected to ``dim``. The appended 1s keep the unimodal terms beside the bimodal
    ones; the output has (dim + 1)² features, hence the small projection."""

    def __init__(self, text_dim: int, image_dim: int, dim: int) -> None:
        super().__init__()
        self.text_proj = nn.Linear(text_dim, dim)
        self.image_proj = nn.Linear(image_dim, dim)
        self.out_dims = {"fused": (dim + 1) ** 2}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        t = nn.functional.pad(torch.relu(self.text_proj(text.pooled)), (0, 1), value=1.0)
        i = nn.functional.pad(torch.relu(self.image_proj(image.pooled)), (0, 1), value=1.0)
        return {"fused": torch.einsum("bi,bj->bij", t, i).flatten(1)}


TENSOR_FUSION_WARN = 4096  # output features above which the head's first layer gets heavy


def _check_tensor(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    size = (params["dim"] + 1) ** 2
    if size > TENSOR_FUSION_WARN:
        yield (
            "warning",
            (
                f"tensor fusion outputs (dim + 1)² = {size} features, so the head's first layer alone is "
                f"{size} × its width: keep dim ≤ {math.isqrt(TENSOR_FUSION_WARN) - 1}, or use lmf"
            ),
        )


@FUSIONS.register(
    "tensor",
    help="Tensor fusion (TFN): outer product of both modalities, each projected small",
    params=[Param("dim", "int", 16, 2, 128, help="projection size; the output has (dim + 1)² features")],
    check=_check_tensor,
    needs_both=True,
)
def tensor(*, text_dim: int, image_dim: int, dim: int) -> TensorFusion:
    return TensorFusion(text_dim, image_dim, dim)


# --- cross-attention -------------------------------------------------------------------------------


class CrossAttentionBlock(nn.Module):
    """Pre-norm: queries attend to the other modality's tokens, then a feed-forward; both residual."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, 2 * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, queries: Tensor, keys: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        kv = self.norm_kv(keys)
        attended, _ = self.attention(
            self.norm_q(queries), kv, kv, key_padding_mask=key_padding_mask, need_weights=False
        )
        x = queries + attended
        return x + self.ff(self.norm_ff(x))


class CrossAttentionFusion(Fusion):
    """Tokens of one modality attend to the other's (``text_to_image``: words query image regions),
    or both ways at once (``both``: each layer updates both sides from the other's previous state).
    The attended tokens are mean-pooled (padding excluded); ``both`` concatenates the two pools."""

    def __init__(
        self, text_dim: int, image_dim: int, dim: int, heads: int, layers: int, direction: str, dropout: float
    ) -> None:
        super().__init__()
        self.text_proj = nn.Linear(text_dim, dim)
        self.image_proj = nn.Linear(image_dim, dim)
        self.direction = direction
        self.layers = layers

        def stack() -> nn.ModuleList:
            return nn.ModuleList(CrossAttentionBlock(dim, heads, dropout) for _ in range(layers))

        self.text_layers = stack() if direction in ("text_to_image", "both") else None
        self.image_layers = stack() if direction in ("image_to_text", "both") else None
        self.out_dims = {"fused": dim * (2 if direction == "both" else 1)}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        t, i = self.text_proj(text.tokens), self.image_proj(image.tokens)
        for k in range(self.layers):
            t_next = self.text_layers[k](t, i, image.mask) if self.text_layers is not None else t
            i_next = self.image_layers[k](i, t, text.mask) if self.image_layers is not None else i
            t, i = t_next, i_next
        pools = []
        if self.text_layers is not None:
            pools.append(masked_mean(t, text.mask))
        if self.image_layers is not None:
            pools.append(masked_mean(i, image.mask))
        return {"fused": torch.cat(pools, dim=-1)}


def _check_cross_attention(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    if params["dim"] % params["heads"]:
        yield "error", f"dim {params['dim']} must be divisible by heads {params['heads']}"


@FUSIONS.register(
    "cross_attention",
    help="Cross-attention: text tokens attend to image regions and/or the reverse, then pooled",
    params=[
        Param("dim", "int", 128, 16, 2048, help="attention width both modalities are projected to"),
        Param("heads", "int", 4, 1, 32, help="attention heads; must divide dim"),
        Param("layers", "int", 1, 1, 8, help="cross-attention layers"),
        Param(
            "direction",
            "choice",
            "both",
            choices=("both", "text_to_image", "image_to_text"),
            help="which modality queries the other",
        ),
        Param("dropout", "float", 0.1, 0.0, 0.9, help="dropout in attention and feed-forward"),
    ],
    check=_check_cross_attention,
    needs_both=True,
    needs_tokens=True,
)
def cross_attention(
    *, text_dim: int, image_dim: int, dim: int, heads: int, layers: int, direction: str, dropout: float
) -> CrossAttentionFusion:
    return CrossAttentionFusion(text_dim, image_dim, dim, heads, layers, direction, dropout)


# --- FiLM ------------------------------------------------------------------------------------------


class FiLMFusion(Fusion):
    """FiLM (Perez et al., 2018): the text predicts a per-channel scale γ and shift β that modulate the
    image tokens (the final feature map, projected to ``dim``): relu((1 + γ)·x + β), mean-pooled.

    The γ/β layer starts at zero, so training starts from the unmodulated image features.
    """

    def __init__(self, text_dim: int, image_dim: int, dim: int, include_text: bool) -> None:
        super().__init__()
        self.image_proj = nn.Linear(image_dim, dim)
        self.film = nn.Linear(text_dim, 2 * dim)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.include_text = include_text
        self.out_dims = {"fused": dim + (text_dim if include_text else 0)}

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        gamma, beta = self.film(text.pooled).unsqueeze(1).chunk(2, dim=-1)  # [B, 1, dim] each
        x = torch.relu(self.image_proj(image.tokens) * (1 + gamma) + beta)
        pooled = masked_mean(x, image.mask)
        return {"fused": torch.cat([pooled, text.pooled], dim=-1) if self.include_text else pooled}


@FUSIONS.register(
    "film",
    help="FiLM: the text scales and shifts the image feature map's channels",
    params=[
        _DIM,
        Param("include_text", "bool", True, help="also pass the pooled text vector to the head"),
    ],
    needs_both=True,
    needs_tokens=True,
)
def film(*, text_dim: int, image_dim: int, dim: int, include_text: bool) -> FiLMFusion:
    return FiLMFusion(text_dim, image_dim, dim, include_text)


# --- late fusion -----------------------------------------------------------------------------------


class LateFusion(Fusion):
    """Late fusion: a head per modality (the model builds one per stream) whose outputs are averaged
    with learned softmax weights, which also show how much the model leans on each modality."""

    def __init__(self, text_dim: int, image_dim: int) -> None:
        super().__init__()
        self.out_dims = {"text": text_dim, "image": image_dim}
        self.weight_logits = nn.Parameter(torch.zeros(2))  # equal weights to start

    def forward(self, text: EncoderOutput | None, image: EncoderOutput | None) -> dict[str, Tensor]:
        text, image = _both(text, image)
        return {"text": text.pooled, "image": image.pooled}

    def weights(self) -> Tensor:
        """``[2]``: the text and image weights, summing to 1."""
        return torch.softmax(self.weight_logits, dim=0)

    def combine(self, outputs: Mapping[str, Tensor]) -> Tensor:
        w = self.weights()
        return w[0] * outputs["text"] + w[1] * outputs["image"]

    def extra_outputs(self) -> dict[str, Tensor]:
        return {"modality_weights": self.weights()}


@FUSIONS.register(
    "late",
    help="Late fusion: one head per modality, outputs mixed with learned weights",
    needs_both=True,
)
def late(*, text_dim: int, image_dim: int) -> LateFusion:
    return LateFusion(text_dim, image_dim)
