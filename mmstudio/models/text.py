"""Text encoders: token ids ``[B, L]`` and lengths ``[B]`` → :class:`EncoderOutput`.

Every encoder returns a pooled vector ``[B, D]`` and its tokens ``[B, L, D]`` with the padding mask,
so any of them can feed any fusion (cross-attention and FiLM use the tokens), and exposes ``out_dim``
(= D). Ids follow the data layer: ``<pad>`` = 0 (``padding_idx``), ``<unk>`` = 1.

Builders are keyword-only: ``builder(*, ctx, **params)``; ``none`` builds nothing (an image-only
model). ``TEXT_ENCODERS`` is filled by the decorators below, so importing this module gives it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmstudio.models._common import (
    EncoderOutput,
    masked_max,
    masked_mean,
    padding_mask,
)
from mmstudio.models.context import ModelContext
from mmstudio.models.registry import Param, Registry

TEXT_ENCODERS = Registry("text encoder")

#: Where the ``minilm`` encoder's folder is found when its ``path`` parameter is empty
#: (:mod:`mmstudio.models.pretrained`).
SENTENCE_MODEL_ENV = "MMSTUDIO_SENTENCE_MODEL"

_EMBED = Param("embed_dim", "int", 128, 8, 1024, help="size of each token's embedding")


class TextEncoder(nn.Module):
    """Base class of the text encoders: ``forward(tokens, lengths) -> EncoderOutput`` whose pooled
    vectors and tokens have ``out_dim`` features."""

    out_dim: int


def parse_int_list(text: str) -> list[int]:
    """``"3,4,5"`` → ``[3, 4, 5]`` (a str param, since forms have no list type); ValueError if not."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ValueError("expected comma-separated whole numbers such as 3,4,5")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of whole numbers such as 3,4,5") from None


# --- none ------------------------------------------------------------------------------------------


@TEXT_ENCODERS.register("none", help="No text branch: an image-only model")
def none(*, ctx: ModelContext) -> None:
    return None


# --- bag of embeddings -----------------------------------------------------------------------------


class BagOfEmbeddings(TextEncoder):
    """Embeddings pooled over the words, order ignored: the fastest baseline, often a strong one."""

    def __init__(self, vocab_size: int, embed_dim: int, pooling: str) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.pooling = pooling
        self.out_dim = embed_dim

    def forward(self, tokens: Tensor, lengths: Tensor) -> EncoderOutput:
        x = self.embedding(tokens)
        mask = padding_mask(lengths, tokens.shape[1])
        pooled = masked_mean(x, mask) if self.pooling == "mean" else masked_max(x, mask)
        return EncoderOutput(pooled, x, mask)


@TEXT_ENCODERS.register(
    "bag",
    help="Bag of embeddings: word embeddings averaged (or max-pooled), order ignored",
    params=[_EMBED, Param("pooling", "choice", "mean", choices=("mean", "max"), help="how words are pooled")],
)
def bag(*, ctx: ModelContext, embed_dim: int, pooling: str) -> BagOfEmbeddings:
    return BagOfEmbeddings(ctx.vocab_size, embed_dim, pooling)


# --- TextCNN ---------------------------------------------------------------------------------------


class TextCNN(TextEncoder):
    """Kim (2014): parallel 1-D convolutions of several widths over the embeddings, ReLU, max over time.

    Convolutions are padded to keep the length, so texts shorter than the widest kernel still work
    and every position has a token vector (the concatenated filters) for cross-attention.
    """

    def __init__(self, vocab_size: int, embed_dim: int, kernel_sizes: list[int], filters: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, k, padding=k // 2) for k in kernel_sizes)
        self.out_dim = filters * len(kernel_sizes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> EncoderOutput:
        length = tokens.shape[1]
        x = self.embedding(tokens).transpose(1, 2)  # [B, E, L]
        # An even kernel with padding k // 2 gives L + 1 positions; keep the first L.
        maps = [torch.relu(conv(x))[..., :length] for conv in self.convs]
        seq = torch.cat(maps, dim=1).transpose(1, 2)  # [B, L, F * K]
        mask = padding_mask(lengths, length)
        return EncoderOutput(masked_max(seq, mask), seq, mask)


def _check_textcnn(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    try:
        sizes = parse_int_list(params["kernel_sizes"])
    except ValueError as exc:
        yield "error", f"kernel_sizes: {exc}"
        return
    if any(k < 1 or k > 15 for k in sizes):
        yield "error", f"kernel_sizes: each width must be between 1 and 15, got {params['kernel_sizes']}"
    elif max(sizes) > ctx.max_len:
        yield "warning", f"kernel width {max(sizes)} is longer than the texts ({ctx.max_len} tokens)"


@TEXT_ENCODERS.register(
    "textcnn",
    help="TextCNN (Kim 2014): convolutions of several widths over word embeddings, max-pooled",
    params=[
        _EMBED,
        Param("kernel_sizes", "str", "3,4,5", help="comma-separated convolution widths (n-gram sizes)"),
        Param("filters", "int", 64, 4, 1024, help="filters per width; the output has filters × widths"),
    ],
    check=_check_textcnn,
)
def textcnn(*, ctx: ModelContext, embed_dim: int, kernel_sizes: str, filters: int) -> TextCNN:
    return TextCNN(ctx.vocab_size, embed_dim, parse_int_list(kernel_sizes), filters)


# --- RNN / GRU / LSTM ------------------------------------------------------------------------------


class RecurrentEncoder(TextEncoder):
    """A (bi-directional) RNN, GRU or LSTM run on packed sequences, so padding never enters the state.

    ``last`` pooling takes the final hidden state of the top layer (both directions when
    bi-directional: the backward direction's final state is the one at the first word).
    """

    CELLS: ClassVar[dict[str, type[nn.RNNBase]]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

    def __init__(
        self,
        cell: str,
        vocab_size: int,
        embed_dim: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        pooling: str,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = self.CELLS[cell](
            embed_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,  # torch warns about dropout on a single layer
        )
        self.pooling = pooling
        self.directions = 2 if bidirectional else 1
        self.out_dim = hidden * self.directions

    def forward(self, tokens: Tensor, lengths: Tensor) -> EncoderOutput:
        length = tokens.shape[1]
        x = self.embedding(tokens)
        mask = padding_mask(lengths, length)
        if tokens.is_meta:
            # Packing reads the lengths' values, which meta tensors (summarize) do not have; the
            # shapes are the same either way.
            seq, state = self.rnn(x)
        else:
            packed = pack_padded_sequence(
                x, lengths.clamp(1, length).cpu(), batch_first=True, enforce_sorted=False
            )
            out, state = self.rnn(packed)
            seq, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
        if self.pooling == "mean":
            pooled = masked_mean(seq, mask)
        elif self.pooling == "max":
            pooled = masked_max(seq, mask)
        else:
            h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
            pooled = torch.cat(list(h[-self.directions :]), dim=-1)  # the top layer's directions
        return EncoderOutput(pooled, seq, mask)


_RNN_PARAMS = [
    _EMBED,
    Param("hidden", "int", 128, 8, 2048, help="hidden size per direction"),
    Param("layers", "int", 1, 1, 6, help="stacked recurrent layers"),
    Param("bidirectional", "bool", True, help="read the text both ways; doubles the output size"),
    Param("dropout", "float", 0.0, 0.0, 0.9, help="dropout between stacked layers (needs layers > 1)"),
    Param("pooling", "choice", "last", choices=("last", "mean", "max"), help="final state or pooled outputs"),
]


def _check_rnn(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    if params["dropout"] > 0 and params["layers"] == 1:
        yield "warning", "dropout applies between stacked layers, so it does nothing with layers = 1"


def _make_rnn_builder(cell: str):
    def build(
        *,
        ctx: ModelContext,
        embed_dim: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        pooling: str,
    ) -> RecurrentEncoder:
        return RecurrentEncoder(
            cell, ctx.vocab_size, embed_dim, hidden, layers, bidirectional, dropout, pooling
        )

    build.__name__ = build.__qualname__ = cell
    return build


rnn = TEXT_ENCODERS.register(
    "rnn", help="Elman RNN (tanh) over word embeddings", params=_RNN_PARAMS, check=_check_rnn
)(_make_rnn_builder("rnn"))
gru = TEXT_ENCODERS.register(
    "gru", help="GRU over word embeddings, optionally bi-directional", params=_RNN_PARAMS, check=_check_rnn
)(_make_rnn_builder("gru"))
lstm = TEXT_ENCODERS.register(
    "lstm", help="LSTM over word embeddings, optionally bi-directional", params=_RNN_PARAMS, check=_check_rnn
)(_make_rnn_builder("lstm"))


# --- Transformer -----------------------------------------------------------------------------------


class TransformerTextEncoder(TextEncoder):
    """A pre-norm Transformer encoder with learned positions, trained from scratch.

    Padding is masked out of attention and out of mean pooling; ``cls`` pooling prepends a learned
    token whose output is the pooled vector (its position is not part of ``tokens``).
    """

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        width: int,
        layers: int,
        heads: int,
        ff: int,
        dropout: float,
        pooling: str,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        self.max_len = max_len
        self.embedding = nn.Embedding(vocab_size, width, padding_idx=0)
        extra = 1 if pooling == "cls" else 0
        self.position = nn.Parameter(torch.zeros(1, max_len + extra, width))
        nn.init.normal_(self.position, std=0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, width)) if pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(
            width, heads, ff, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # No nested tensors: they only speed up inference and change outputs' padded positions.
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(width), enable_nested_tensor=False
        )
        self.out_dim = width

    def forward(self, tokens: Tensor, lengths: Tensor) -> EncoderOutput:
        batch, length = tokens.shape
        if length > self.max_len:
            raise ValueError(
                f"texts of {length} tokens are longer than this encoder's max_len {self.max_len}"
            )
        x = self.embedding(tokens)
        mask = padding_mask(lengths, length)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(batch, -1, -1), x], dim=1)
            full_mask = torch.cat([mask.new_zeros(batch, 1), mask], dim=1)
        else:
            full_mask = mask
        x = self.encoder(x + self.position[:, : x.shape[1]], src_key_padding_mask=full_mask)
        if self.cls is not None:
            pooled, seq = x[:, 0], x[:, 1:]
        else:
            seq = x
            pooled = masked_mean(seq, mask)
        return EncoderOutput(pooled, seq, mask)


def _check_transformer(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    if params["width"] % params["heads"]:
        yield "error", f"width {params['width']} must be divisible by heads {params['heads']}"


@TEXT_ENCODERS.register(
    "transformer",
    help="Transformer encoder trained from scratch: learned positions up to max_len, padding masked",
    params=[
        Param("width", "int", 128, 16, 1024, help="model width (embedding size)"),
        Param("layers", "int", 2, 1, 12, help="encoder layers"),
        Param("heads", "int", 4, 1, 16, help="attention heads; must divide width"),
        Param("ff", "int", 256, 16, 4096, help="feed-forward hidden size", title="Feed-forward size"),
        Param("dropout", "float", 0.1, 0.0, 0.9, help="dropout in attention and feed-forward"),
        Param("pooling", "choice", "mean", choices=("mean", "cls"), help="mean of tokens or a learned [CLS]"),
    ],
    check=_check_transformer,
)
def transformer(
    *, ctx: ModelContext, width: int, layers: int, heads: int, ff: int, dropout: float, pooling: str
) -> TransformerTextEncoder:
    return TransformerTextEncoder(ctx.vocab_size, ctx.max_len, width, layers, heads, ff, dropout, pooling)
