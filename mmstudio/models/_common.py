"""Small pieces shared by the encoders and fusions: the encoder output and masked pooling."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class EncoderOutput(NamedTuple):
    """What every encoder returns.

    - ``pooled``: ``[B, D]``, one vector per item (concat, gated, ... fuse these);
    - ``tokens``: ``[B, T, D]``, the sequence (words, or the final feature map's positions) that
      cross-attention and FiLM work on; ``D`` equals ``pooled``'s;
    - ``mask``: ``[B, T]`` bool, True at padding (``key_padding_mask`` convention), or None when every
      position is real (image feature maps).
    """

    pooled: Tensor
    tokens: Tensor
    mask: Tensor | None


def padding_mask(lengths: Tensor, length: int) -> Tensor:
    """``[B, length]`` bool, True where a position is padding. Lengths are clamped to [1, length]:
    the batch contract promises >= 1, and a text longer than the tensor cannot be."""
    lengths = lengths.clamp(1, length)
    positions = torch.arange(length, device=lengths.device)
    return positions[None, :] >= lengths[:, None]


def masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over dim 1 of ``x [B, T, D]`` ignoring positions where ``mask`` is True."""
    if mask is None:
        return x.mean(dim=1)
    keep = (~mask).unsqueeze(-1).to(x.dtype)
    return (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


def masked_max(x: Tensor, mask: Tensor | None) -> Tensor:
    """Max over dim 1 of ``x [B, T, D]`` ignoring positions where ``mask`` is True."""
    if mask is None:
        return x.amax(dim=1)
    return x.masked_fill(mask.unsqueeze(-1), float("-inf")).amax(dim=1)


def building_on_meta() -> bool:
    """True inside ``with torch.device("meta")``: :func:`~mmstudio.models.summary.summarize` builds
    models there to count parameters and shapes, so builders must not load weights from files."""
    return torch.empty(0).is_meta
