"""What a model needs to know about the data it will see, beyond its spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelContext:
    """Facts from the prepared dataset and the train spec that shape the model.

    - ``vocab_size``: number of token ids (``<pad>`` = 0 and ``<unk>`` = 1 included);
    - ``num_outputs``: classes (classification) or labels (multilabel); regression (one value per
      item) and contrastive ignore it;
    - ``image_size``: the side S of the square images ``[B, 3, S, S]``;
    - ``max_len``: the token length L texts are padded or truncated to;
    - ``class_weights``: optional per-class loss weights (classification and multilabel), one per output;
    - ``has_text`` / ``has_image``: whether the dataset has texts / images at all (None: not known), so
      validation can explain a model that reads a modality the data lacks;
    - ``unimodal_heads``: a predictive model that fuses text and image also gets a head of its own on
      each modality's features, trained with its own loss, so each modality alone is a model as good
      as a unimodal one (the fusion guard, ``TrainSpec.fusion_guard``, chooses among the three).

    ``class_weights`` is stored as a tuple of floats whatever sequence (or tensor) is given, so a
    context stays immutable and comparable.
    """

    vocab_size: int
    num_outputs: int
    image_size: int
    max_len: int
    class_weights: tuple[float, ...] | None = None
    has_text: bool | None = None
    has_image: bool | None = None
    unimodal_heads: bool = False

    def __post_init__(self) -> None:
        weights: Any = self.class_weights
        if weights is not None:
            if hasattr(weights, "tolist"):  # a tensor or numpy array
                weights = weights.tolist()
            if not isinstance(weights, Sequence):
                raise TypeError(f"class_weights must be a sequence of numbers, not {type(weights).__name__}")
            object.__setattr__(self, "class_weights", tuple(float(w) for w in weights))
