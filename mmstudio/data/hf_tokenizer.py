"""A pretrained model's own tokenizer behind mmstudio's :class:`~mmstudio.data.text.Tokenizer` protocol.

A Hugging Face text encoder must read the ids its own tokenizer makes, with its special tokens
(``[CLS] … [SEP]``) and its padding id: :class:`HFTokenizer` wraps ``AutoTokenizer`` loaded from the
model's local folder (never the network, never remote code). ``to_dict()`` records the folder, the
model id and its revision, so a checkpoint rebuilds the same tokenizer and the text cache
(:func:`~mmstudio.data.cache.build_text_cache`, keyed by :func:`~mmstudio.data.text.tokenizer_hash`)
tells one model's ids from another's.

``transformers`` is imported only when one is built, so the data layer stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

KIND = "hf"
FORMAT_VERSION = 1


def model_folder(path: str | Path) -> Path:
    """The folder holding the tokenizer: the model folder itself, or the ``0_Transformer/`` of an
    older sentence-transformers export."""
    folder = Path(path)
    for candidate in (folder, folder / "0_Transformer"):
        if (candidate / "config.json").is_file() or (candidate / "tokenizer_config.json").is_file():
            return candidate
    return folder


def _missing_message(folder: Path, model_id: str, revision: str) -> str:
    """What to do when a recorded model's folder is gone: pull the exact revision of a hub model,
    bring back a local folder or an imported one."""
    said = f"the tokenizer's model folder {folder} does not exist: model {model_id} is not on this machine"
    if Path(model_id).is_absolute():
        return f"{said}; copy the folder back to {model_id}, or train again with a model that is here"
    if revision.startswith("sha256:"):  # an imported model: its folder came from elsewhere
        return f"{said}; import its folder again: 'mmstudio models import FOLDER --name {model_id}'"
    pinned = f"{model_id}@{revision}" if revision else model_id
    return (
        f"{said}: fetch it with 'mmstudio models pull {pinned}', or on a machine with no network copy its "
        "folder here and run 'mmstudio models import FOLDER'"
    )


class HFTokenizer:
    """The tokenizer of a local Hugging Face model folder (``path``), known as ``model_id`` at
    ``revision``. Ids are right-padded with the tokenizer's own padding id; ``lengths`` count the
    real tokens (special tokens included), from which the encoder builds the attention mask."""

    kind = KIND

    def __init__(self, path: str | Path, *, model_id: str = "", revision: str = "") -> None:
        from transformers import AutoTokenizer

        self.path = str(path)
        self.model_id = model_id or self.path
        self.revision = revision
        folder = model_folder(path)
        if not folder.is_dir():
            raise FileNotFoundError(_missing_message(folder, self.model_id, revision))
        self._tokenizer = AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )

    @property
    def vocab_size(self) -> int:
        return len(self._tokenizer)

    @property
    def pad_id(self) -> int:
        pad = self._tokenizer.pad_token_id
        return 0 if pad is None else int(pad)

    @property
    def special_ids(self) -> tuple[int, ...]:
        """The ids that give the model's input its structure (``[CLS]``, ``[SEP]``, begin and end of
        text, padding): text augmentation never removes or masks them. The unknown and mask tokens
        are not among them (they stand for words)."""
        tokenizer = self._tokenizer
        words = {tokenizer.unk_token_id, tokenizer.mask_token_id} - {None}
        structure = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id}
        structure |= {tokenizer.cls_token_id, tokenizer.sep_token_id}
        structure -= {None}
        # A token that is both (CLIP's unknown token is its end of text) is structure.
        ids = (set(tokenizer.all_special_ids) - words) | structure | {self.pad_id}
        return tuple(sorted(int(i) for i in ids))

    @property
    def mask_id(self) -> int | None:
        """The id a masked word becomes: the mask token, else the unknown token, else None; never one
        of :attr:`special_ids`."""
        for candidate in (self._tokenizer.mask_token_id, self._tokenizer.unk_token_id):
            if candidate is not None and int(candidate) not in self.special_ids:
                return int(candidate)
        return None

    def tokenize(self, text: str) -> list[str]:
        return self._tokenizer.tokenize(text)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """The model's ids of ``text``, special tokens included, truncated to ``max_len``; not padded."""
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be at least 1, not {max_len}")
        kwargs: dict[str, Any] = {"truncation": True, "max_length": max_len} if max_len else {}
        return list(self._tokenizer(text, **kwargs)["input_ids"])

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, not {max_len}")
        ids = np.full((len(texts), max_len), self.pad_id, dtype=np.int32)
        lengths = np.zeros(len(texts), dtype=np.int32)
        if not texts:
            return ids, lengths
        encoded = self._tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
        for row, seq in enumerate(encoded):
            kept = seq[:max_len]
            ids[row, : len(kept)] = kept
            lengths[row] = len(kept)
        return ids, lengths

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "path": self.path,
            "model_id": self.model_id,
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HFTokenizer:
        if data.get("kind") != KIND:
            raise ValueError(f"not a {KIND} tokenizer: kind is {data.get('kind')!r}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{KIND} tokenizer format version {data.get('format_version')!r} is not supported (this "
                f"mmstudio reads version {FORMAT_VERSION})"
            )
        return cls(data["path"], model_id=data.get("model_id", ""), revision=data.get("revision", ""))

    def __repr__(self) -> str:
        return f"HFTokenizer({self.model_id!r}, revision={self.revision!r}, vocab_size={self.vocab_size})"
