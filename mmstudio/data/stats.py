"""Summary statistics of a dataset: what the Datasets page's statistics tab shows.

Everything is computed from the validated items alone (their text, label, split and the image size
read from the header during validation), so statistics are instant: no image is decoded; each is
counted once, for the numbers and for the charts that draw them (every distinct image size, the
caption lengths without their outliers). The result is plain data; :meth:`DatasetStats.to_dict` gives
JSON-ready Python numbers, never numpy scalars.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mmstudio.data.types import SPLITS, Item
from mmstudio.formatting import plural

MAX_BINS = 30  # beyond that a histogram in a side panel is unreadable
TOP_SIZES = 5


@dataclass(frozen=True)
class Distribution:
    """Summary of one numeric variable with a histogram (``len(bin_edges) == len(bin_counts) + 1``)."""

    count: int
    min: float
    max: float
    mean: float
    median: float
    p95: float
    bin_edges: list[float] = field(default_factory=list)
    bin_counts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Distribution:
        """Summarise ``values``; an empty input gives a count of 0, zeros and an empty histogram."""
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        edges = _bin_edges(v)
        counts, _ = np.histogram(v, bins=edges)
        return cls(
            count=int(v.size),
            min=float(v.min()),
            max=float(v.max()),
            mean=float(v.mean()),
            median=float(np.median(v)),
            p95=float(np.percentile(v, 95)),
            bin_edges=[float(e) for e in edges],
            bin_counts=[int(c) for c in counts],
        )


def _bin_edges(v: np.ndarray) -> np.ndarray:
    """numpy's "auto" rule (Freedman-Diaconis or Sturges), capped at :data:`MAX_BINS` bins.

    Integer data (lengths, pixel sizes) with a small range gets one bin per value instead, so a bar
    never straddles two integers.
    """
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    if np.all(v == np.round(v)) and hi - lo + 1 <= MAX_BINS:
        return np.arange(lo - 0.5, hi + 1.0)
    edges = np.histogram_bin_edges(v, bins="auto")
    if len(edges) - 1 > MAX_BINS:
        edges = np.histogram_bin_edges(v, bins=MAX_BINS)
    return edges


@dataclass(frozen=True)
class SizeCount:
    width: int
    height: int
    count: int


@dataclass(frozen=True)
class ImageSizeStats:
    """Image sizes in pixels, from the items whose size is known (``Item.width`` / ``height`` > 0)."""

    known: int
    width: Distribution
    height: Distribution
    aspect_ratio: Distribution  # width / height: > 1 landscape, < 1 portrait
    common_sizes: list[SizeCount]  # the most frequent (width, height), at most TOP_SIZES
    sizes: list[SizeCount] = field(default_factory=list)  # every distinct size, most frequent first

    @classmethod
    def of(cls, items: Sequence[Item]) -> ImageSizeStats:
        sizes = [(it.width, it.height) for it in items if it.width > 0 and it.height > 0]
        w = np.array([s[0] for s in sizes], dtype=np.float64)
        h = np.array([s[1] for s in sizes], dtype=np.float64)
        ranked = sorted(Counter(sizes).items(), key=lambda kv: (-kv[1], kv[0]))
        every = [SizeCount(width, height, n) for (width, height), n in ranked]
        return cls(
            known=len(sizes),
            width=Distribution.of(w),
            height=Distribution.of(h),
            aspect_ratio=Distribution.of(w / h if len(sizes) else w),
            common_sizes=every[:TOP_SIZES],
            sizes=every,
        )


@dataclass(frozen=True)
class LengthHistogram:
    """The text lengths a chart draws: every one but those so long that they would squash all the
    others into one bar (longer than ``cap``, ``longer`` of them; ``cap`` is None when none is).
    ``left_out`` is the shortest and the longest length not drawn: what the chart's note says, so
    that it names lengths beyond its axis (which ends at the longest drawn, not at ``cap``)."""

    lengths: Distribution
    cap: float | None = None
    longer: int = 0
    left_out: tuple[int, int] | None = None

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> LengthHistogram:
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            return cls(Distribution.of(v))
        cap = 3 * max(10.0, float(np.percentile(v, 95)))
        if v.max() <= cap:
            return cls(Distribution.of(v))
        out = v[v > cap]
        return cls(Distribution.of(v[v <= cap]), cap, int(out.size), (int(out.min()), int(out.max())))

    def note(self, what: str = "caption") -> str:
        """What the chart leaves out: ``"1 caption of 2,418 characters not drawn"``, ``"3 captions of
        400 to 2,418 characters not drawn"``; ``""`` when it draws every one."""
        if not self.longer or self.left_out is None:
            return ""
        low, high = self.left_out
        span = f"{high:,}" if low == high else f"{low:,} to {high:,}"
        return f"{plural(self.longer, what)} of {span} characters not drawn"


@dataclass(frozen=True)
class DatasetStats:
    """Counts and distributions of a dataset's items.

    ``labels`` is ordered by count, most frequent first, ties by name; ``unlabeled`` counts items
    without a label (retrieval datasets). ``splits`` follows train, val, test, then any other name.
    ``text_histogram`` is what a chart of ``text_chars`` draws.
    """

    items: int
    labels: dict[str, int]
    unlabeled: int
    splits: dict[str, int]
    text_chars: Distribution
    text_words: Distribution
    images: ImageSizeStats
    text_histogram: LengthHistogram

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready; what only the charts need (``text_histogram``, every distinct image
        size) is left out."""
        data = asdict(replace(self, images=replace(self.images, sizes=[])))
        del data["text_histogram"], data["images"]["sizes"]
        return data


def dataset_stats(items: Sequence[Item]) -> DatasetStats:
    """Statistics of ``items``. Words are whitespace-separated runs, as a reader would count them."""
    label_counts = Counter(it.label for it in items if it.label is not None)
    chars = np.fromiter((len(it.text) for it in items), dtype=np.float64, count=len(items))
    split_counts = Counter(it.split for it in items)
    split_order = {name: i for i, name in enumerate(SPLITS)}
    return DatasetStats(
        items=len(items),
        labels=dict(sorted(label_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        unlabeled=sum(1 for it in items if it.label is None),
        splits=dict(
            sorted(split_counts.items(), key=lambda kv: (split_order.get(kv[0], len(SPLITS)), kv[0]))
        ),
        text_chars=Distribution.of(chars),
        text_words=Distribution.of([len(it.text.split()) for it in items]),
        images=ImageSizeStats.of(items),
        text_histogram=LengthHistogram.of(chars),
    )
