"""Augmentation of training batches: random changes to the images and the text a model trains on.

The levels of :data:`~mmstudio.training.spec.AUGMENT_LEVELS` (``TrainSpec.augment_image``,
``augment_flip``, ``augment_text``), exactly (``docs/training.md`` says the same):

- images, ``light``: ``RandomResizedCrop`` (area 60-100 %, aspect 3:4-4:3) back to the same size, and
  a horizontal flip with probability 0.5 unless ``augment_flip`` is off;
- images, ``strong``: ``RandomResizedCrop`` (area 35-100 %), the flip as above, ``ColorJitter``
  (brightness, contrast and saturation ± 30 %, no hue: a hue shift changes what colour a thing is, and
  costs more than the rest together on a CPU), then ``TrivialAugmentWide`` (one of its 14 operations
  at a random strength: shear, translate, rotate, colour, posterize, solarize, equalize, ...);
- text, ``light``: token dropout: each word (or piece) is removed with probability 0.1;
- text, ``strong``: the dropout, then span masking: one run of 15 % of the remaining words (at least
  one, for texts of two words or more) becomes the mask token (``<unk>`` for mmstudio's tokenizers,
  the model's ``[MASK]`` or unknown token for a pretrained one; a tokenizer with neither loses the
  span instead).

The images are changed on the ``uint8`` NCHW batch, on the device the batch is on, before
normalisation, each item with its own parameters (a v2 transform draws one set per call, so a batch
would get one crop and one flip for all its items): :class:`ImageAugmentation` draws each item's crop
with v2's ``RandomResizedCrop`` and resamples them all at once (``torchvision.ops.roi_align``), flips
with one ``torch.where``, jitters colours for all items at once, and runs ``strong``'s
TrivialAugmentWide item by item.
Text is changed in place of the token ids on the device, vectorised over the batch; the ids that
give a pretrained model its structure (``[CLS]``, ``[SEP]``, begin and end of text, padding) are
never removed or masked, a text keeps at least one of its words, and ``lengths`` stay >= 1.

Randomness: every batch draws from a generator seeded by ``(seed, epoch, step)`` alone, so a run gives
the same augmented batches every time, and a run resumed mid-epoch gets the same ones it would have
had. The global random state is left as it was.

Only training batches are augmented: :meth:`~mmstudio.training.data.PreparedData.batches` refuses an
augmenter for any other split, and evaluation, inference and export never make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mmstudio.data.text import PAD_ID, UNK_ID
from mmstudio.training.spec import AUGMENT_LEVELS, TrainSpec, describe_augmentation

#: Token dropout: the probability that a word is removed (both text levels).
TOKEN_DROPOUT = 0.1
#: Span masking (``strong``): the share of a text's words in the masked run.
SPAN_FRACTION = 0.15
#: RandomResizedCrop's range of the crop's area, per image level.
CROP_SCALE = {"light": (0.6, 1.0), "strong": (0.35, 1.0)}
CROP_RATIO = (3 / 4, 4 / 3)
#: ColorJitter (``strong``): brightness, contrast and saturation factors in [1 - x, 1 + x].
JITTER = 0.3
_IMAGE_STREAM, _TEXT_STREAM = 1, 2


def _check_level(name: str, level: str) -> None:
    if level not in AUGMENT_LEVELS:
        raise ValueError(f"{name} must be one of {', '.join(AUGMENT_LEVELS)}, not {level!r}")


# --- images ---------------------------------------------------------------------------------------


def image_transform(level: str, size: tuple[int, int], *, flip: bool = True):
    """The whole of one image ``level`` as a ``torchvision.transforms.v2`` pipeline for one ``uint8``
    CHW image of ``size`` (height, width), or None for ``none``: the definition that
    :class:`ImageAugmentation` applies to a batch (its crop and flip vectorised, the same
    distributions)."""
    _check_level("augment_image", level)
    if level == "none":
        return None
    from torchvision.transforms import v2

    steps: list[Any] = [_crop(level, size)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    steps += _per_item(level)
    return v2.Compose(steps)


def _crop(level: str, size: tuple[int, int]):
    from torchvision.transforms import v2

    return v2.RandomResizedCrop(size, scale=CROP_SCALE[level], ratio=CROP_RATIO, antialias=True)


def _jitter():
    from torchvision.transforms import v2

    return v2.ColorJitter(brightness=JITTER, contrast=JITTER, saturation=JITTER)


def _per_item(level: str) -> list[Any]:
    """The steps after the crop and flip: strong's colour jitter and TrivialAugment."""
    if level != "strong":
        return []
    from torchvision.transforms import v2

    return [_jitter(), v2.TrivialAugmentWide()]


def _colour_jitter(pixels: torch.Tensor, params: list[dict[str, Any]]) -> torch.Tensor:
    """v2's ColorJitter (brightness, contrast, saturation; no hue) on a ``uint8`` NCHW batch with each
    item's ``make_params``, vectorised: at each of the three positions of an item's random order, all
    three adjustments are computed for the batch and each item takes its own, each rounded down to
    ``uint8`` values as v2's kernels do."""
    n = pixels.shape[0]
    device = pixels.device
    order = torch.stack([p["fn_idx"][p["fn_idx"] < 3] for p in params]).to(device)  # [n, 3]
    factors = torch.tensor(
        [[p["brightness_factor"], p["contrast_factor"], p["saturation_factor"]] for p in params],
        dtype=torch.float32,
    ).to(device)
    weights = torch.tensor([[0.2989, 0.587, 0.114]], device=device)  # v2's grey
    x = pixels.float()
    flat = x.view(n, 3, -1)
    for position in range(3):
        op = order[:, position : position + 1]
        f = factors.gather(1, op).view(n, 1, 1)
        gray = torch.matmul(weights, flat).floor_()  # [n, 1, H*W]
        # brightness blends with black, contrast with the mean grey, saturation with the grey image
        mean = gray.mean(2, keepdim=True).mul_((op == 1).view(n, 1, 1))
        other = gray.mul_((op == 2).view(n, 1, 1)).add_(mean)
        flat.mul_(f).add_(other.mul_(1.0 - f)).clamp_(0, 255).trunc_()
    return x.to(torch.uint8)


class ImageAugmentation:
    """One image level applied to ``uint8`` NCHW batches, each item with its own random parameters.

    ``RandomResizedCrop`` and the flip are vectorised: each item's crop box is drawn by v2's own
    ``RandomResizedCrop.make_params``, and all boxes are resampled back to the image size at once by
    ``torchvision.ops.roi_align`` (bilinear; a crop is never larger than the image, so it is only
    ever enlarged and v2's antialiasing has nothing to do); the flips are one ``torch.where``. The
    ``strong`` level's ColorJitter is vectorised too (each item's factors and order drawn by v2's
    ``ColorJitter.make_params``), and its TrivialAugmentWide runs item by item (each item draws one of
    14 operations at its own strength)."""

    def __init__(self, level: str, size: tuple[int, int], *, flip: bool = True) -> None:
        _check_level("augment_image", level)
        if level == "none":
            raise ValueError("image level none augments nothing")
        self.level, self.size, self.flip = level, size, flip
        self._crop = _crop(level, size)
        self._jitter = self._trivial = None
        if level == "strong":
            from torchvision.transforms import v2

            self._jitter, self._trivial = _jitter(), v2.TrivialAugmentWide()

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """Draws from torch's global CPU generator: seed it (:func:`augment_images` does)."""
        from torchvision.ops import roi_align

        n, _, height, width = pixels.shape
        if (height, width) != self.size:
            raise ValueError(f"this augmentation is for {self.size} images, not {(height, width)}")
        rows = []
        for k in range(n):
            box = self._crop.make_params([pixels[k]])
            top, left = box["top"], box["left"]
            rows.append((k, left, top, left + box["width"], top + box["height"]))
        boxes = torch.tensor(rows, dtype=torch.float32)
        flips = torch.rand(n) < 0.5 if self.flip else None
        out = roi_align(
            pixels.float(),
            boxes.to(pixels.device),
            output_size=(height, width),
            spatial_scale=1.0,
            sampling_ratio=1,
            aligned=True,
        )
        if flips is not None:
            out = torch.where(flips.to(pixels.device).view(n, 1, 1, 1), out.flip(-1), out)
        out = out.round_().clamp_(0, 255).to(torch.uint8)
        if self._jitter is not None:
            out = _colour_jitter(out, [self._jitter.make_params([image]) for image in out.unbind(0)])
        if self._trivial is not None:
            out = torch.stack([self._trivial(image) for image in out.unbind(0)])
        return out


def _seed(*key: int) -> int:
    """A 63-bit seed from integers, well mixed (nearby keys give unrelated streams)."""
    words = np.random.SeedSequence([int(k) for k in key]).generate_state(2, np.uint32)
    return (int(words[0]) << 31 | int(words[1])) & (2**63 - 1)


def augment_images(pixels: torch.Tensor, augmentation: ImageAugmentation, seed: int) -> torch.Tensor:
    """The ``uint8`` NCHW batch ``pixels`` through ``augmentation``, drawing from torch's CPU
    generator seeded with ``seed`` (v2 transforms draw their parameters there, on the host, whatever
    the images' device); the global random state is restored afterwards."""
    if pixels.dim() != 4 or pixels.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 NCHW batch, not {pixels.dtype} of shape {tuple(pixels.shape)}")
    if pixels.shape[0] == 0:
        return pixels
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return augmentation(pixels)


# --- text -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextIds:
    """What text augmentation must know of a tokenizer: its padding id, the ids it must never touch
    (padding and the structure of a pretrained model's input) and the id a masked word becomes (None:
    a masked span is removed instead)."""

    pad: int = PAD_ID
    protected: tuple[int, ...] = (PAD_ID,)
    mask: int | None = UNK_ID

    @classmethod
    def of(cls, tokenizer: Any) -> TextIds:
        """The ids of ``tokenizer``: mmstudio's word and BPE tokenizers (``<pad>`` = 0, ``<unk>`` = 1),
        or a pretrained model's (:class:`~mmstudio.data.hf_tokenizer.HFTokenizer`: its special ids)."""
        special = getattr(tokenizer, "special_ids", None)
        if special is None:
            return cls()
        pad = int(tokenizer.pad_id)
        protected = tuple(sorted({pad, *map(int, special)}))
        mask = tokenizer.mask_id
        return cls(pad, protected, None if mask is None or mask in protected else int(mask))


def augment_text(
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    level: str,
    ids: TextIds,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The token ids ``[B, L]`` and ``lengths`` ``[B]`` of a batch with ``level``'s augmentation: new
    tensors of the same shapes and dtypes, right-padded with ``ids.pad``, each length >= 1."""
    _check_level("augment_text", level)
    if level == "none" or tokens.numel() == 0:
        return tokens, lengths
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    inside = positions.unsqueeze(0) < lengths.unsqueeze(1)
    content = inside & ~torch.isin(tokens, torch.tensor(ids.protected, device=tokens.device))
    # Token dropout: drop each word with TOKEN_DROPOUT, but never a text's last word.
    draw = torch.rand(tokens.shape, device=tokens.device, generator=generator)
    drop = content & (draw < TOKEN_DROPOUT)
    # A text that would lose every word keeps the one with the highest draw (no host sync: no branch).
    emptied = (content & ~drop).sum(1) == 0
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    keep = torch.where(content, draw, torch.full_like(draw, -1.0)).argmax(1)
    drop[rows, keep] &= ~emptied
    tokens, lengths = _compact(tokens, inside & ~drop, ids.pad)
    if level == "strong":
        tokens, lengths = _mask_span(tokens, lengths, ids, generator)
    return tokens, lengths


def _compact(tokens: torch.Tensor, keep: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the kept ids of each row to its front, in order, and pad the rest. (A row that drops
    anything keeps at most L - 1 ids, so its dropped ids, all sent to the last column, land past its
    new length and are padded over.)"""
    width = tokens.shape[1]
    lengths = keep.sum(1)
    target = torch.where(keep, keep.cumsum(1) - 1, width - 1)
    out = torch.full_like(tokens, pad).scatter_(1, target, tokens)
    inside = torch.arange(width, device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)
    return out.masked_fill_(~inside, pad), lengths.clamp_min(1).to(torch.long)


def _mask_span(
    tokens: torch.Tensor, lengths: torch.Tensor, ids: TextIds, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask (or remove) one run of SPAN_FRACTION of each text's words (texts of two words or more)."""
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    inside = positions.unsqueeze(0) < lengths.unsqueeze(1)
    content = inside & ~torch.isin(tokens, torch.tensor(ids.protected, device=tokens.device))
    words = content.sum(1)
    span = torch.where(words >= 2, (words.float() * SPAN_FRACTION).round().clamp_min(1).long(), 0)
    span = torch.minimum(span, (words - 1).clamp_min(0))  # a text keeps one word unmasked
    room = (words - span + 1).clamp_min(1)
    start = (torch.rand(words.shape, device=tokens.device, generator=generator) * room).long()
    rank = content.cumsum(1) - 1
    masked = content & (rank >= start.unsqueeze(1)) & (rank < (start + span).unsqueeze(1))
    if ids.mask is not None:
        return tokens.masked_fill(masked, ids.mask), lengths
    return _compact(tokens, inside & ~masked, ids.pad)


# --- the augmenter of a run -----------------------------------------------------------------------


class Augmenter:
    """The augmentation of one run's training batches (:meth:`images` before normalisation, :meth:`text`
    on the token ids), each batch seeded by ``(seed, epoch, step)``."""

    def __init__(
        self,
        *,
        image: str = "none",
        flip: bool = True,
        text: str = "none",
        text_ids: TextIds | None = None,
        seed: int = 0,
    ) -> None:
        _check_level("augment_image", image)
        _check_level("augment_text", text)
        self.image_level = image
        self.flip = flip
        self.text_level = text
        self.text_ids = text_ids or TextIds()
        self.seed = seed
        self._transforms: dict[tuple[int, int], ImageAugmentation] = {}

    @classmethod
    def for_run(cls, spec: TrainSpec, tokenizer: Any = None) -> Augmenter | None:
        """The augmenter ``spec`` asks for (``tokenizer``: the run's, for its special ids), or None when
        it augments nothing."""
        if not (spec.augments("image") or spec.augments("text")):
            return None
        return cls(
            image=spec.augment_image,
            flip=spec.augment_flip,
            text=spec.augment_text,
            text_ids=TextIds.of(tokenizer) if tokenizer is not None else None,
            seed=spec.seed,
        )

    @property
    def augments_images(self) -> bool:
        return self.image_level != "none"

    @property
    def augments_text(self) -> bool:
        return self.text_level != "none"

    def describe(self) -> str:
        return describe_augmentation(self.image_level, self.flip, self.text_level)

    def images(self, pixels: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        """The ``uint8`` NCHW batch ``pixels`` of ``(epoch, step)``, augmented (a new tensor, same shape,
        dtype and device), or ``pixels`` itself when images are not augmented."""
        if not self.augments_images:
            return pixels
        size = (int(pixels.shape[-2]), int(pixels.shape[-1]))
        augmentation = self._transforms.get(size)
        if augmentation is None:
            augmentation = ImageAugmentation(self.image_level, size, flip=self.flip)
            self._transforms[size] = augmentation
        return augment_images(pixels, augmentation, _seed(self.seed, epoch, step, _IMAGE_STREAM))

    def text(
        self, tokens: torch.Tensor, lengths: torch.Tensor, epoch: int, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The token ids and lengths of ``(epoch, step)``, augmented (or as they are)."""
        if not self.augments_text:
            return tokens, lengths
        generator = torch.Generator(device=tokens.device)
        generator.manual_seed(_seed(self.seed, epoch, step, _TEXT_STREAM))
        return augment_text(tokens, lengths, self.text_level, self.text_ids, generator)


# --- a preview (the Datasets page's "Show augmented") -------------------------------------------------


def augmented_views(
    image: np.ndarray, level: str, *, flip: bool = True, count: int = 6, seed: int = 0
) -> list[np.ndarray]:
    """``count`` augmented views of one ``uint8`` HWC RGB image, as training would draw them at
    ``level`` (``none``: copies of the image): what the Datasets page shows."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 HxWx3 image, not {image.dtype} of shape {image.shape}")
    if level == "none":
        return [image.copy() for _ in range(count)]
    chw = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)  # owned and writable
    batch = chw.unsqueeze(0).expand(count, -1, -1, -1)
    augmentation = ImageAugmentation(level, (image.shape[0], image.shape[1]), flip=flip)
    views = augment_images(batch, augmentation, _seed(seed, count, _IMAGE_STREAM))
    return [np.ascontiguousarray(v.permute(1, 2, 0).numpy()) for v in views]


#: The side of the Datasets page's augmented views (the levels change an image in proportion to its
#: size, so a view at this size shows what training does at its own, more sharply).
PREVIEW_SIZE = 128


def augmented_previews(
    source: Any,
    level: str,
    *,
    flip: bool = True,
    count: int = 7,
    seed: int = 0,
    size: int = PREVIEW_SIZE,
    fit: str = "crop",
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One dataset image (a path or an :class:`~mmstudio.data.types.ImageRef`) as training reads it
    (decoded to ``size`` x ``size`` with ``fit``, as the image cache does), and ``count`` augmented
    views of it at ``level``: what the Datasets page's "Show augmented" draws, off the GUI thread."""
    from mmstudio.data.images import decode_rgb

    image = decode_rgb(source, size, fit=fit)
    return image, augmented_views(image, level, flip=flip, count=count, seed=seed)
