"""Tokenizers whose vocabulary is learnt from the training split.

Two kinds share one interface (:class:`Tokenizer`): :class:`WordTokenizer`, a regex word splitter with
a frequency-ranked vocabulary, and :class:`BpeTokenizer`, byte-pair encoding trained with the Hugging
Face ``tokenizers`` package. Both reserve ``<pad>`` = 0 and ``<unk>`` = 1, so models can use
``padding_idx=0`` whichever tokenizer made the ids, and both serialise to a JSON-friendly dict that
checkpoints store beside the weights (:func:`tokenizer_from_dict` rebuilds either kind).

Normalisation, the same for both kinds: Unicode NFKC (so composed and decomposed accents, full-width
letters and ligatures meet the same token), then lower case unless ``lowercase=False``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
SPECIAL_TOKENS = (PAD, UNK)
FORMAT_VERSION = 1

# A word is a run of letters, digits or underscores in any script, with inner apostrophes kept
# ("can't", "l'eau" stay one token); every other non-space character is a token of its own, so
# punctuation is kept ("!" and "?" carry meaning) and never glued to a word ("sale!" -> "sale", "!").
# Scripts written without spaces (Chinese, Japanese) come out as one token per run: use BPE for them.
WORD_PATTERN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


class Tokenizer(Protocol):
    """What a model and the caches need from a tokenizer."""

    kind: str

    @property
    def vocab_size(self) -> int: ...

    def tokenize(self, text: str) -> list[str]: ...

    def encode(self, text: str, max_len: int | None = None) -> list[int]: ...

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]: ...

    def to_dict(self) -> dict[str, Any]: ...


def normalize(text: str, *, lowercase: bool = True) -> str:
    """NFKC, then lower case when asked (``str.lower``, not ``casefold``: "ß" stays "ß")."""
    text = unicodedata.normalize("NFKC", text)
    return text.lower() if lowercase else text


def pad_batch(sequences: Sequence[Sequence[int]], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncate to ``max_len`` and right-pad with ``<pad>`` (0): ids int32 [N, max_len], lengths int32 [N].

    A length counts the real tokens kept, so it is 0 for an empty text: models that cannot take an
    empty sequence (packed RNNs) should clamp it to 1, where they see only padding.
    """
    _check_max_len(max_len)
    ids = np.zeros((len(sequences), max_len), dtype=np.int32)
    lengths = np.zeros(len(sequences), dtype=np.int32)
    for row, seq in enumerate(sequences):
        kept = seq[:max_len]
        ids[row, : len(kept)] = kept
        lengths[row] = len(kept)
    return ids, lengths


def _check_max_len(max_len: int | None) -> None:
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be at least 1, not {max_len}")


def _check_header(data: dict[str, Any], kind: str) -> None:
    if data.get("kind") != kind:
        raise ValueError(f"not a {kind} tokenizer: kind is {data.get('kind')!r}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{kind} tokenizer format version {version!r} is not supported (this mmstudio reads "
            f"version {FORMAT_VERSION}); retrain the model or update mmstudio"
        )


class WordTokenizer:
    """Words and punctuation (see :data:`WORD_PATTERN`) mapped to ids by a vocabulary.

    The vocabulary is ``<pad>``, ``<unk>``, then the words seen at least ``min_freq`` times, most
    frequent first and, among equally frequent words, in code-point order: the same texts always give
    the same ids, whatever their order.
    """

    kind = "word"

    def __init__(self, tokens: Sequence[str], *, lowercase: bool = True):
        if tuple(tokens[:2]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary starts with {PAD} and {UNK}, not {list(tokens[:2])}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("the vocabulary has duplicate tokens")
        self.tokens = list(tokens)
        self.lowercase = lowercase
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int = 20000,
        lowercase: bool = True,
    ) -> WordTokenizer:
        """Learn the vocabulary from ``texts`` (the training split only, so validation stays unseen).

        ``max_size`` bounds the whole vocabulary, the two special tokens included.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, not {min_freq}")
        if max_size < len(SPECIAL_TOKENS):
            raise ValueError(f"max_size must be at least {len(SPECIAL_TOKENS)}, not {max_size}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(WORD_PATTERN.findall(normalize(text, lowercase=lowercase)))
        kept = [w for w, c in counts.items() if c >= min_freq and w not in SPECIAL_TOKENS]
        kept.sort(key=lambda w: (-counts[w], w))
        words = kept[: max_size - len(SPECIAL_TOKENS)]
        return cls([*SPECIAL_TOKENS, *words], lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def tokenize(self, text: str) -> list[str]:
        return WORD_PATTERN.findall(normalize(text, lowercase=self.lowercase))

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Ids of ``text``'s tokens, unknown ones as ``<unk>``, truncated to ``max_len``; not padded."""
        _check_max_len(max_len)
        ids = [self._ids.get(token, UNK_ID) for token in self.tokenize(text)]
        return ids if max_len is None else ids[:max_len]

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        return pad_batch([self.encode(text, max_len) for text in texts], max_len)

    def decode(self, ids: Iterable[int]) -> str:
        """The tokens of ``ids`` joined by spaces, padding left out (for display, not a true inverse)."""
        return " ".join(self.tokens[i] for i in ids if i != PAD_ID)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "lowercase": self.lowercase,
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordTokenizer:
        _check_header(data, cls.kind)
        return cls(data["tokens"], lowercase=bool(data["lowercase"]))

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"


class BpeTokenizer:
    """Byte-pair encoding (``tokenizers``): frequent words stay whole, rare ones split into pieces.

    Text is split into words and punctuation first (the ``Whitespace`` pre-tokenizer, the same split
    as :data:`WORD_PATTERN` without the apostrophe rule), so pieces never cross word boundaries. A
    character never seen in training becomes ``<unk>``.
    """

    kind = "bpe"

    def __init__(self, tokenizer: Any):
        if tokenizer.token_to_id(PAD) != PAD_ID or tokenizer.token_to_id(UNK) != UNK_ID:
            raise ValueError(f"a BPE tokenizer needs {PAD} = {PAD_ID} and {UNK} = {UNK_ID}")
        self._tokenizer = tokenizer

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int = 8000,
        min_freq: int = 2,
        lowercase: bool = True,
    ) -> BpeTokenizer:
        """Train merges on ``texts`` until the vocabulary (specials included) reaches ``vocab_size``
        or no pair occurs ``min_freq`` times; it can end up smaller on a small corpus."""
        from tokenizers import Tokenizer as HfTokenizer
        from tokenizers import models, normalizers, pre_tokenizers, trainers

        if vocab_size < len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size must be at least {len(SPECIAL_TOKENS)}, not {vocab_size}")
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, not {min_freq}")
        tokenizer = HfTokenizer(models.BPE(unk_token=UNK))
        steps = [normalizers.NFKC(), normalizers.Lowercase()] if lowercase else [normalizers.NFKC()]
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_freq,
            special_tokens=list(SPECIAL_TOKENS),  # in this order: <pad> = 0, <unk> = 1
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def tokenize(self, text: str) -> list[str]:
        return self._tokenizer.encode(text, add_special_tokens=False).tokens

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        _check_max_len(max_len)
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return ids if max_len is None else ids[:max_len]

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        # The Rust side encodes the batch on several threads.
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return pad_batch([e.ids for e in encodings], max_len)

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self._tokenizer.id_to_token(i) for i in ids if i != PAD_ID)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "tokenizer_json": self._tokenizer.to_str(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BpeTokenizer:
        from tokenizers import Tokenizer as HfTokenizer

        _check_header(data, cls.kind)
        return cls(HfTokenizer.from_str(data["tokenizer_json"]))

    def __repr__(self) -> str:
        return f"BpeTokenizer(vocab_size={self.vocab_size})"


TOKENIZERS: dict[str, type[WordTokenizer] | type[BpeTokenizer]] = {
    "word": WordTokenizer,
    "bpe": BpeTokenizer,
}


def _tokenizer_class(kind: str) -> type[WordTokenizer] | type[BpeTokenizer]:
    try:
        return TOKENIZERS[kind]
    except KeyError:
        raise ValueError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZERS)}") from None


def build_tokenizer(kind: str, texts: Iterable[str], **params: Any) -> WordTokenizer | BpeTokenizer:
    """Fit a tokenizer of ``kind`` (``"word"`` or ``"bpe"``) on ``texts`` with its ``fit`` parameters."""
    return _tokenizer_class(kind).fit(texts, **params)


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its :meth:`to_dict` (as a checkpoint stores it): a fitted ``word`` or
    ``bpe`` one, or a pretrained model's own (``hf``, :mod:`mmstudio.data.hf_tokenizer`)."""
    if data.get("kind") == "hf":
        from mmstudio.data.hf_tokenizer import HFTokenizer

        return HFTokenizer.from_dict(data)
    return _tokenizer_class(data.get("kind", "")).from_dict(data)


def tokenizer_hash(tokenizer: Tokenizer) -> str:
    """SHA-256 of the tokenizer's canonical JSON: equal exactly when the tokenizers encode alike."""
    canonical = json.dumps(tokenizer.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
