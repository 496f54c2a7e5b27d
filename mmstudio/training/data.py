"""Prepared data: a validated dataset turned into tensors once, and fast batches of them.

:class:`PreparedData` does the per-dataset work a single time, before the first step: the label map,
the tokenizer (fit on the training split only, so validation text stays unseen), the token ids (cached
on disk by :func:`~mmstudio.data.cache.build_text_cache`) and the decoded images (a memory-mapped
``uint8`` cache from :func:`~mmstudio.data.cache.build_image_cache`). After that a batch is a gather:
``np.take`` of the image rows, ``index_select`` of the small columns, and the ``uint8`` → ``float``
conversion and normalisation on the target device. No ``DataLoader`` and no worker processes are
needed: nothing is decoded while training.

Batches follow the contract of ``docs/architecture.md`` (``tokens``, ``lengths``, ``image``,
``target``, ``group``, ``index``; ``text_features`` / ``image_features`` in place of a frozen encoder's
inputs once its features are cached: :meth:`PreparedData.attach_features`); :func:`mask_batch` masks
one modality for an ablation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mmstudio.data.cache import build_image_cache, build_text_cache
from mmstudio.data.dataset import Dataset
from mmstudio.data.text import UNK_ID, Tokenizer, build_tokenizer, tokenizer_from_dict
from mmstudio.data.types import SPLITS, Item, Problem, ProblemKind
from mmstudio.formatting import plural
from mmstudio.progress import check_cancel
from mmstudio.training.augment import Augmenter
from mmstudio.training.distributed import Distributed
from mmstudio.training.labels import regression_value, split_multilabel
from mmstudio.training.spec import DEFAULT_MAX_LEN, TrainSpec
from mmstudio.vocabulary import check_task

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODALITIES = ("text", "image")
#: The batch key of each modality's cached frozen-encoder features (:meth:`PreparedData.attach_features`).
FEATURE_KEYS = {"text": "text_features", "image": "image_features"}
#: The batch keys a modality's features stand in for: its encoder's inputs.
_INPUT_KEYS = {"text": ("tokens", "lengths"), "image": ("image",)}
_EXAMPLES = 5  # how many offending rows an error message names
_FLOAT32_MAX = float(np.finfo(np.float32).max)

Batch = dict[str, torch.Tensor]


def fit_tokenizer(texts: Sequence[str], train: TrainSpec) -> Tokenizer:
    """The tokenizer ``train`` asks for (``word`` or ``bpe``, its size and minimum frequency), fit on
    ``texts``: how training fits it on the training split, and the Model page to count the vocabulary."""
    if train.tokenizer == "bpe":
        params = {"vocab_size": train.vocab_max_size, "min_freq": train.vocab_min_freq}
    else:
        params = {"max_size": train.vocab_max_size, "min_freq": train.vocab_min_freq}
    return build_tokenizer(train.tokenizer, list(texts), **params)


def mask_batch(
    batch: Batch,
    modality: str,
    *,
    empty_text: tuple[Sequence[int], int] | None = None,
    masked_features: Mapping[str, torch.Tensor] | None = None,
) -> Batch:
    """A copy of ``batch`` with one modality masked, for an ablation ("does the model use it?").

    Text masked: every token ``<pad>`` except one ``<unk>``, length 1 (a valid, empty sentence); for a
    pretrained tokenizer, ``empty_text`` = ``(ids, pad_id)``: the empty text as it writes it (BERT's
    ``[CLS] [SEP]``, :meth:`PreparedData.empty_text`), then its padding.
    Image masked: all zeros after normalisation, which is the ImageNet mean image.
    A batch that carries a frozen encoder's cached features (``text_features`` / ``image_features``)
    gets, in every row, what that encoder gives for the masked input: ``masked_features[modality]``
    (:meth:`PreparedData.masked_features`), computed once when the features were.
    The other keys are shared with ``batch``, not copied.
    """
    if modality not in MODALITIES:
        raise ValueError(f"can mask {' or '.join(MODALITIES)}, not {modality!r}")
    masked = dict(batch)
    feature_key = FEATURE_KEYS[modality]
    if feature_key in batch:
        if masked_features is None or modality not in masked_features:
            raise ValueError(f"the batch holds cached {modality} features but not those of the masked input")
        features = batch[feature_key]
        row = masked_features[modality].to(device=features.device, dtype=features.dtype)
        masked[feature_key] = row.expand_as(features)
        return masked
    if modality == "text":
        if "tokens" not in batch:
            raise ValueError("the batch has no text to mask: the model has no text encoder")
        if empty_text is None:
            tokens = torch.zeros_like(batch["tokens"])
            tokens[:, 0] = UNK_ID
            masked["lengths"] = torch.ones_like(batch["lengths"])
        else:
            ids, pad_id = empty_text
            ids = list(ids)[: batch["tokens"].shape[1]]
            tokens = torch.full_like(batch["tokens"], pad_id)
            tokens[:, : len(ids)] = torch.tensor(ids, dtype=tokens.dtype, device=tokens.device)
            masked["lengths"] = torch.full_like(batch["lengths"], max(len(ids), 1))
        masked["tokens"] = tokens
    else:
        if "image" not in batch:
            raise ValueError("the batch has no image to mask: the model has no image encoder")
        masked["image"] = torch.zeros_like(batch["image"])
    return masked


class PreparedData:
    """A dataset as tensors for one task and one :class:`TrainSpec`, built once.

    ``need_text`` / ``need_image`` say which inputs the model reads, so a text-only model never decodes
    an image. ``labels`` and ``tokenizer`` (an object or its ``to_dict()``) reuse the label order and
    vocabulary of a checkpoint, so a resumed or re-evaluated model sees the ids it was trained on;
    otherwise the labels are the dataset's, sorted, and the tokenizer is fit on the training split.
    A pretrained text encoder's own tokenizer comes the same way (its ``to_dict()``, from
    :func:`mmstudio.models.pretrained.model_tokenizer`). ``image_norm`` is the ``(mean, std)`` per RGB
    channel the images are normalised with (a pretrained image encoder's processor's; default ImageNet's).

    Items that cannot be used (an image that failed to decode in the cache, a label the model does not
    know) are left out of every split and listed in :attr:`problems`, with a summary in
    :attr:`messages` for the run log. ``index`` in a batch is the position in ``dataset.items``.
    """

    def __init__(
        self,
        dataset: Dataset,
        train: TrainSpec,
        task: str,
        *,
        need_text: bool = True,
        need_image: bool = True,
        labels: Sequence[str] | None = None,
        tokenizer: Tokenizer | dict[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel=None,
        cache_root: str | os.PathLike[str] | None = None,
        require_train: bool = True,
        image_norm: tuple[Sequence[float], Sequence[float]] | None = None,
    ):
        check_task(task)
        if not (need_text or need_image):
            raise ValueError("a model reads text, images or both; need_text and need_image are both False")
        if not dataset.items:
            raise ValueError("the dataset has no usable items; run `mmstudio data check` to see why")
        check_cancel(cancel, "preparing the data")
        self.dataset = dataset
        self.train = train
        self.task = task
        self.need_text = need_text
        self.need_image = need_image
        self.problems: list[Problem] = []
        self.messages: list[str] = []
        self._cache_root = None if cache_root is None else os.fspath(cache_root)
        items = dataset.items
        self._usable = np.ones(len(items), dtype=bool)

        self.labels, target = self._prepare_targets(items, labels)
        self._columns: dict[str, torch.Tensor] = {}
        if target is not None:
            self._columns["target"] = torch.from_numpy(target)
        if task == "contrastive":
            self._columns["group"] = torch.from_numpy(group_ids(items))
        self._pixels: np.ndarray | None = None
        if need_image:
            self._prepare_images(items, progress, cancel)
        # Evaluating a trained run needs no training rows when its tokenizer comes with it.
        self.splits = self._split_indices(items, require_train or (need_text and tokenizer is None))
        self.tokenizer: Tokenizer | None = None
        if need_text:
            check_cancel(cancel, "preparing the data")
            self._prepare_text(items, tokenizer)
        self._device_columns: dict[torch.device, dict[str, torch.Tensor]] = {}
        self._norm: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._masked: dict[str, torch.Tensor] = {}  # modality -> features of the masked input [D]
        self._skipped: set[str] = set()  # batch keys that cached features stand in for
        self.image_norm = (
            (tuple(IMAGENET_MEAN), tuple(IMAGENET_STD))
            if image_norm is None
            else (tuple(map(float, image_norm[0])), tuple(map(float, image_norm[1])))
        )

    # --- building -------------------------------------------------------------------------------

    def _prepare_targets(
        self, items: Sequence[Item], labels: Sequence[str] | None
    ) -> tuple[list[str], np.ndarray | None]:
        """The label list and the target column (None for contrastive)."""
        if self.task == "contrastive":
            return [], None
        if self.task == "regression":
            return [], regression_targets(items)
        if self.task == "multilabel":
            per_item = [split_multilabel(i.label) if i.label else [] for i in items]
            known = list(labels) if labels is not None else sorted({x for ls in per_item for x in ls})
        else:
            per_item = [[i.label] if i.label else [] for i in items]
            known = list(labels) if labels is not None else self.dataset.labels
        if not known:
            raise ValueError(
                f"the dataset has no labels, so it cannot train a {self.task} model; name its label "
                "column, or choose the contrastive task for image-text pairs without labels"
            )
        position = {label: k for k, label in enumerate(known)}
        if self.task == "multilabel":
            target = np.zeros((len(items), len(known)), dtype=np.float32)
        else:
            target = np.full(len(items), -1, dtype=np.int64)
        for n, (item, item_labels) in enumerate(zip(items, per_item, strict=True)):
            unknown = [x for x in item_labels if x not in position]
            if not item_labels or unknown:
                self._drop(n, item, ProblemKind.MISSING_LABEL, _label_problem(unknown))
            elif self.task == "multilabel":
                target[n, [position[x] for x in item_labels]] = 1.0
            else:
                target[n] = position[item_labels[0]]
        self._summarise(ProblemKind.MISSING_LABEL, "no label the model knows")
        return known, target

    def _prepare_images(self, items: Sequence[Item], progress, cancel) -> None:
        """Decode every image once into the memory-mapped cache (or reuse it); drop the failures."""
        cache = build_image_cache(
            items,
            self.dataset.fingerprint,
            size=self.train.image_size,
            fit=self.train.image_fit,
            progress=progress,
            cancel=cancel,
            cache_root=None if self._cache_root is None else os.path.join(self._cache_root, "images"),
        )
        for failure in cache.failed:
            item = items[failure.index]
            self._drop(failure.index, item, _problem_kind(failure.kind), failure.message)
        if cache.failed:
            self.messages.append(
                f"{plural(len(cache.failed), 'item')} left out: the image could not be decoded "
                f"(first: {items[cache.failed[0].index].image}: {cache.failed[0].message})"
            )
        # A plain ndarray over the mapping: fancy indexing then skips np.memmap's bookkeeping.
        self._pixels = cache.array.view(np.ndarray)

    def _prepare_text(self, items: Sequence[Item], tokenizer: Tokenizer | dict[str, Any] | None) -> None:
        """Fit (or take) the tokenizer and encode every text once: int32 ids, lengths at least 1."""
        if isinstance(tokenizer, dict):
            tokenizer = tokenizer_from_dict(tokenizer)
        if tokenizer is None:
            tokenizer = fit_tokenizer([items[i].text for i in self.splits["train"]], self.train)
        self.tokenizer = tokenizer
        ids, lengths = build_text_cache(
            [item.text for item in items],
            tokenizer,
            self.max_len,
            self.dataset.fingerprint,
            cache_root=None if self._cache_root is None else os.path.join(self._cache_root, "text"),
        )
        self._columns["tokens"] = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int32))
        # An empty text (every token unknown to BPE, say) still gets length 1: packed RNNs refuse 0.
        self._columns["lengths"] = torch.from_numpy(np.maximum(lengths, 1).astype(np.int64))

    def _split_indices(self, items: Sequence[Item], require_train: bool) -> dict[str, np.ndarray]:
        code = {name: k for k, name in enumerate(SPLITS)}
        split_of = np.fromiter((code.get(item.split, -1) for item in items), dtype=np.int64, count=len(items))
        splits = {name: np.flatnonzero((split_of == k) & self._usable) for name, k in code.items()}
        if require_train and len(splits["train"]) == 0:
            raise ValueError(
                "no usable item is in the training split; check the split column or lower the "
                "validation and test fractions (see the problems listed for this dataset)"
            )
        return splits

    def _drop(self, index: int, item: Item, kind: ProblemKind, message: str) -> None:
        self._usable[index] = False
        self.problems.append(Problem(kind, item.row, str(item.image), message, True, item.source))

    def _summarise(self, kind: ProblemKind, what: str) -> None:
        found = [p for p in self.problems if p.kind == kind]
        if found:
            first = found[0]
            self.messages.append(
                f"{plural(len(found), 'item')} left out with {what} (first: {first.source} row {first.row}: "
                f"{first.message})"
            )

    # --- what the model needs to know -----------------------------------------------------------

    def empty_text(self) -> tuple[list[int], int] | None:
        """``(ids, pad_id)`` of an empty text as a pretrained model's own tokenizer writes it (what a
        text-masked ablation feeds it), or None for a tokenizer fit here (``<unk>`` alone)."""
        tokenizer = self.tokenizer
        pad_id = getattr(tokenizer, "pad_id", None)
        if tokenizer is None or pad_id is None:
            return None
        return tokenizer.encode("", self.max_len) or [pad_id], pad_id

    @property
    def vocab_size(self) -> int:
        """The tokenizer's vocabulary size (0 when the model reads no text)."""
        return 0 if self.tokenizer is None else self.tokenizer.vocab_size

    @property
    def num_outputs(self) -> int:
        """Classes (classification, multilabel), 1 (regression) or 0 (contrastive: no head outputs)."""
        if self.task == "regression":
            return 1
        return len(self.labels)

    @property
    def image_size(self) -> int:
        return self.train.image_size

    @property
    def max_len(self) -> int:
        """The text length: the spec's, or :data:`DEFAULT_MAX_LEN` when no dataset chose one."""
        return self.train.max_len or DEFAULT_MAX_LEN

    def class_weights(self) -> list[float] | None:
        """Per-class loss weights from the training split, for imbalanced data.

        Classification: ``n / (C * count_c)`` (inverse frequency, the weights average to 1 over the
        items), for ``CrossEntropyLoss(weight=...)``. Multilabel: ``negatives_c / positives_c``, the
        ``pos_weight`` of ``BCEWithLogitsLoss``. A class absent from training gets 1.0 (neutral).
        None for regression and contrastive.
        """
        if self.task not in ("classification", "multilabel"):
            return None
        target = self._columns["target"].numpy()[self.splits["train"]]
        n, classes = len(target), len(self.labels)
        if self.task == "classification":
            counts = np.bincount(target, minlength=classes).astype(np.float64)
            weights = np.divide(n, classes * counts, out=np.ones(classes), where=counts > 0)
        else:
            positives = target.sum(axis=0, dtype=np.float64)
            weights = np.divide(n - positives, positives, out=np.ones(classes), where=positives > 0)
        return [float(w) for w in weights]

    def context(self) -> dict[str, Any]:
        """The fields of ``ModelContext``; ``class_weights`` only when the spec asks for them."""
        return {
            "vocab_size": self.vocab_size,
            "num_outputs": self.num_outputs,
            "image_size": self.image_size,
            "max_len": self.max_len,
            "class_weights": self.class_weights() if self.train.class_weights else None,
            "unimodal_heads": self.train.fusion_guard,
        }

    def split_sizes(self) -> dict[str, int]:
        return {name: len(indices) for name, indices in self.splits.items()}

    def targets(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """The targets of these items (for metrics): class ids, multi-hot rows or floats."""
        if "target" not in self._columns:
            raise ValueError(f"a {self.task} task has no targets")
        return self._columns["target"].numpy()[np.asarray(indices, dtype=np.int64)]

    def groups(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """The group ids of these items (contrastive): captions of one image share one."""
        if "group" not in self._columns:
            raise ValueError("only a contrastive task has groups")
        return self._columns["group"].numpy()[np.asarray(indices, dtype=np.int64)]

    # --- batches --------------------------------------------------------------------------------

    def num_batches(self, split: str, batch_size: int, *, drop_last: bool = False) -> int:
        n = len(self._split(split))
        return n // batch_size if drop_last else math.ceil(n / batch_size)

    def order(
        self, split: str, *, shuffle: bool = False, seed: int | None = None, epoch: int = 0
    ) -> np.ndarray:
        """The item indices of ``split`` in the order one epoch visits them.

        A shuffled order depends only on ``(seed, epoch)`` (``seed`` defaults to the spec's), so any
        epoch's order can be rebuilt without replaying the epochs before it.
        """
        indices = self._split(split)
        if not shuffle:
            return indices
        seed = self.train.seed if seed is None else seed
        return np.random.default_rng([seed, epoch]).permutation(indices)

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        epoch: int = 0,
        start_step: int = 0,
        drop_last: bool = False,
        device: str | torch.device = "cpu",
        augment: Augmenter | None = None,
        shard: Distributed | None = None,
        pad_shards: bool = False,
    ) -> Iterator[Batch]:
        """Yield the batches of one epoch over ``split`` as dicts of tensors on ``device``.

        The order is :meth:`order`; ``start_step`` skips that many batches without gathering them.
        Because the order depends only on ``(seed, epoch)``, a run resumed at ``(epoch, step)`` gets
        exactly the batches it had left, provided ``batch_size`` and the splits are unchanged (resuming
        at an epoch boundary, ``start_step=0``, needs only the epoch). Within a batch the items are
        sorted by index: the memory-mapped images are then read in file order, which is faster, and a
        batch is a set to the loss anyway.

        ``augment`` (:class:`~mmstudio.training.augment.Augmenter`, the training split only: any other
        split refuses it) changes each batch at random, seeded by ``(epoch, step)``: the same epoch
        and step give the same batch again.

        ``shard`` (under ``torchrun``) keeps this process's share of each batch
        (:meth:`~mmstudio.training.distributed.Distributed.shard`); with ``pad_shards`` (training) a
        batch with fewer items than processes is filled up so every process has one, otherwise a
        process's empty share is skipped.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if augment is not None and split != "train":
            raise ValueError(f"only training batches are augmented, never the {split} split's")
        order = self.order(split, shuffle=shuffle, seed=seed, epoch=epoch)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        device = torch.device(device)
        for step, start in enumerate(range(start_step * batch_size, stop, batch_size), start=start_step):
            indices = np.sort(order[start : start + batch_size])
            if shard is not None:
                indices = shard.shard(indices, pad_from=order if pad_shards else None)
                if len(indices) == 0:
                    continue
            yield self.batch(indices, device, augment=augment, key=(epoch, step))

    def batch(
        self,
        indices: np.ndarray | Sequence[int],
        device: str | torch.device = "cpu",
        *,
        augment: Augmenter | None = None,
        key: tuple[int, int] = (0, 0),
    ) -> Batch:
        """The batch of these item indices (any order, kept) on ``device``; with ``augment``, changed as
        it says for ``key`` = ``(epoch, step)`` (images before their normalisation)."""
        device = torch.device(device)
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        index = torch.from_numpy(indices)
        batch: Batch = {}
        if self._pixels is not None and "image" not in self._skipped:
            batch["image"] = self._images(indices, device, augment, key)
        columns = self._on(device)
        on_device = index.to(device, non_blocking=True) if device.type != "cpu" else index
        for name, column in columns.items():
            if name not in self._skipped:
                batch[name] = column.index_select(0, on_device)
        if "tokens" in batch:
            batch["tokens"] = batch["tokens"].long()
            if augment is not None and augment.augments_text:
                batch["tokens"], batch["lengths"] = augment.text(batch["tokens"], batch["lengths"], *key)
        batch["index"] = on_device
        return batch

    def encoder_inputs(
        self, modality: str, indices: np.ndarray | Sequence[int], device: str | torch.device = "cpu"
    ) -> Batch:
        """The inputs of one modality's encoder for these items (``tokens`` and ``lengths``, or
        ``image``), whether or not its features are cached: what the features are computed from."""
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; choose {' or '.join(MODALITIES)}")
        device = torch.device(device)
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        if modality == "image":
            if self._pixels is None:
                raise ValueError("the data has no images: the model reads none")
            return {"image": self._images(indices, device)}
        if "tokens" not in self._columns:
            raise ValueError("the data has no text: the model reads none")
        index = torch.from_numpy(indices)
        out = {key: self._columns[key].index_select(0, index).to(device) for key in _INPUT_KEYS["text"]}
        out["tokens"] = out["tokens"].long()
        return out

    def masked_inputs(self, modality: str, device: str | torch.device = "cpu") -> Batch:
        """One item's encoder inputs with ``modality`` masked as :func:`mask_batch` masks it."""
        base = self.encoder_inputs(modality, [0], device)
        masked = mask_batch(base, modality, empty_text=self.empty_text() if modality == "text" else None)
        return {key: masked[key] for key in _INPUT_KEYS[modality]}

    def attach_features(self, modality: str, features: np.ndarray | torch.Tensor) -> None:
        """Batches carry ``features`` (rows 0..N-1: item ``index``; row N: the masked input, see
        :meth:`masked_features`) as ``text_features`` / ``image_features`` in place of the encoder's
        inputs, which are no longer gathered: a frozen encoder's outputs, computed once."""
        n = len(self.dataset.items)
        if isinstance(features, torch.Tensor):
            rows = features.detach().to("cpu", torch.float32)
        else:  # read into memory once (a mapped file's pages would be gathered from disk per batch)
            rows = torch.from_numpy(np.array(features, dtype=np.float32))
        if rows.dim() != 2 or rows.shape[0] != n + 1:
            raise ValueError(f"{modality} features must be [{n + 1}, D] (the items, then the masked input)")
        self._columns[FEATURE_KEYS[modality]] = rows[:n]
        self._masked[modality] = rows[n]
        self._skipped.update(_INPUT_KEYS[modality])
        self._device_columns.clear()

    @property
    def cached_modalities(self) -> tuple[str, ...]:
        """The modalities whose batches carry cached features."""
        return tuple(m for m in MODALITIES if m in self._masked)

    def masked_features(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The features of the masked input per cached modality (for :func:`mask_batch`)."""
        return {m: row.to(device) for m, row in self._masked.items()}

    def _images(
        self,
        indices: np.ndarray,
        device: torch.device,
        augment: Augmenter | None = None,
        key: tuple[int, int] = (0, 0),
    ) -> torch.Tensor:
        """Gather the uint8 images, move them (pinned, asynchronously on CUDA), augment them there (a
        training batch, when asked), then convert and normalise on the device: a quarter of the bytes
        cross the bus, and the GPU does the math."""
        pixels = torch.from_numpy(np.take(self._pixels, indices, axis=0))
        if device.type == "cuda":
            pixels = pixels.pin_memory().to(device, non_blocking=True)
        elif device.type != "cpu":
            pixels = pixels.to(device)
        mean, inv_std = self._normalisation(device)
        pixels = pixels.permute(0, 3, 1, 2)  # NHWC -> NCHW, a view
        if augment is not None and augment.augments_images:
            pixels = augment.images(pixels, *key)
        # uint8 NCHW -> contiguous float32 in one pass, then (x/255 - mean) / std in place.
        image = pixels.to(torch.float32, memory_format=torch.contiguous_format)
        return image.sub_(mean).mul_(inv_std)

    def _normalisation(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._norm:
            mean_rgb, std_rgb = self.image_norm
            mean = torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
            inv_std = 1.0 / (torch.tensor(std_rgb, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
            self._norm[device] = (mean.to(device), inv_std.to(device))
        return self._norm[device]

    def _on(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The small columns (tokens, lengths, targets, groups), copied to ``device`` once: gathering
        them there needs only the batch's indices to cross the bus."""
        if device.type == "cpu":
            return self._columns
        if device not in self._device_columns:
            self._device_columns[device] = {k: v.to(device) for k, v in self._columns.items()}
        return self._device_columns[device]

    def _split(self, split: str) -> np.ndarray:
        try:
            return self.splits[split]
        except KeyError:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}") from None


def group_ids(items: Sequence[Item]) -> np.ndarray:
    """Integer group ids, in order of first appearance: items that share ``Item.group`` (the captions
    of one image) share an id; an item without a group is a group of its own."""
    ids: dict[object, int] = {}
    out = np.empty(len(items), dtype=np.int64)
    for n, item in enumerate(items):
        key = ("group", item.group) if item.group is not None else ("item", n)
        out[n] = ids.setdefault(key, len(ids))
    return out


def regression_targets(items: Sequence[Item]) -> np.ndarray:
    """The labels as float32 numbers; a ValueError names the rows whose label is not a finite number."""
    values = np.empty(len(items), dtype=np.float32)
    bad: list[Item] = []
    for n, item in enumerate(items):
        value = regression_value(item.label)
        if value is None or abs(value) > _FLOAT32_MAX:  # a number that float32 holds
            bad.append(item)
        else:
            values[n] = value
    if bad:
        shown = "; ".join(f"{i.source} row {i.row}: {i.label!r}" for i in bad[:_EXAMPLES])
        more = f" and {len(bad) - _EXAMPLES:,} more" if len(bad) > _EXAMPLES else ""
        raise ValueError(
            f"a regression target must be a number, but {plural(len(bad), 'label')} "
            f"{'is' if len(bad) == 1 else 'are'} not ({shown}{more}); "
            "fix those rows or choose the classification task"
        )
    return values


def _problem_kind(kind: str) -> ProblemKind:
    try:
        return ProblemKind(kind)
    except ValueError:
        return ProblemKind.CORRUPT_IMAGE


def _label_problem(unknown: list[str]) -> str:
    if unknown:
        return f"label {', '.join(map(repr, unknown))} is not one of the model's labels"
    return "the item has no label"
