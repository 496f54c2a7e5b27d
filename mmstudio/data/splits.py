"""Deterministic train / val / test splits.

Splits the dataset gives (a split column, split folders, per-split files) are kept. Items without one
are split by seed, stratified by label: each label's items are ordered by a hash of (seed, the item's
image path and text), so the same seed gives the same assignment whatever the row order, and
the first ``test_fraction`` go to test, the next ``val_fraction`` to val. Items sharing a ``group``
(every caption of one COCO image) always land in the same split. A label with fewer examples than the
splits it would be spread over cannot be in each: its items stay in train and are reported
(``rare_label``, a warning). When the given splits have no val (or test) rows, that split is held out
of train the same way.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

from mmstudio.data._common import normalize_split
from mmstudio.data.types import SPLITS, Item, Problem, ProblemKind
from mmstudio.formatting import plural

__all__ = ["SPLITS", "assign_splits", "check_fractions", "normalize_split"]


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must each be in [0, 1) and "
            f"leave some rows for training (their sum must be under 1)"
        )


def assign_splits(
    items: list[Item],
    root: Path,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[list[Item], list[Problem], list[str]]:
    """Give every item a split. Returns the items (re-indexed, in their order), the ``rare_label``
    warnings and notes saying what was held out of train."""
    check_fractions(val_fraction, test_fraction)
    splitter = _Splitter(root, seed, stratify)
    chosen: dict[int, str] = {id(i): i.split for i in items if i.split}
    pool = [i for i in items if not i.split]
    if pool:
        chosen.update(splitter.split(pool, {"test": test_fraction, "val": val_fraction}))
    notes = []
    present = set(chosen.values())
    fractions = {"test": test_fraction, "val": val_fraction}
    missing = {s: f for s, f in fractions.items() if f > 0 and s not in present}
    train = [i for i in items if chosen.get(id(i)) == "train"]
    if missing and train and len(pool) < len(items):
        chosen.update(splitter.split(train, missing))
        held = " and ".join(f"{f:.0%} as {s}" for s, f in missing.items())
        what = " or ".join(missing)
        notes.append(
            f"the dataset's splits have no {what} rows: of the train rows, {held} were held out (seed {seed})"
        )
    out = [_placed(item, n, chosen[id(item)]) for n, item in enumerate(items)]
    return out, splitter.problems, notes


def _placed(item: Item, index: int, split: str) -> Item:
    if item.index == index and item.split == split:
        return item
    # The constructor, not dataclasses.replace: 5x faster, which counts for 100,000 items.
    i = item
    return Item(index, i.row, i.source, i.image, i.text, i.label, split, i.group, i.width, i.height)


class _Splitter:
    def __init__(self, root: Path, seed: int, stratify: bool):
        self.root, self.seed, self.stratify = root, seed, stratify
        self.prefix = str(root).rstrip(os.sep) + os.sep
        self.problems: list[Problem] = []

    def split(self, items: list[Item], fractions: dict[str, float]) -> dict[int, str]:
        """``fractions`` of ``items`` per split name, the rest ``train``; keys are ``id(item)``."""
        unit_of: dict[str, int] = {}  # unit key -> unit number, in order of first appearance
        first: list[Item] = []  # each unit's first item
        units = [unit_of.setdefault(key, len(unit_of)) for key in map(self._unit, items)]
        for n, item in enumerate(items):
            if units[n] == len(first):
                first.append(item)
        keys = list(unit_of)
        strata: dict[str | None, list[int]] = defaultdict(list)
        for u, item in enumerate(first):
            strata[item.label if self.stratify else None].append(u)
        wanted = [s for s, f in fractions.items() if f > 0]
        names_of: list[str] = ["train"] * len(first)
        rare: dict[int, str] = {}  # the units of labels too rare to be in every split (they stay in train)
        for label, members in strata.items():
            if self.stratify and label is not None and wanted and len(members) < len(wanted) + 1:
                rare.update(dict.fromkeys(members, label))
                continue
            counts = allocate(len(members), fractions, at_least_one=self.stratify and label is not None)
            names = [s for s, c in counts.items() for _ in range(c)]
            for n, u in enumerate(self._ordered(members, keys, first)[: len(names)]):
                names_of[u] = names[n]
        if rare:
            rare_items: dict[str, list[Item]] = {label: [] for label in dict.fromkeys(rare.values())}
            for u, item in zip(units, items, strict=True):
                if u in rare:
                    rare_items[rare[u]].append(item)
            for label, found in rare_items.items():
                self._rare(label, found, len(wanted) + 1, wanted)
        return {id(item): names_of[u] for u, item in zip(units, items, strict=True)}

    def _ordered(self, members: list[int], keys: list[str], first: list[Item]) -> list[int]:
        """Units by the hash of their key, ties by their first row: sorted by numpy, which lets other
        threads run meanwhile (a list sort of 100,000 keys holds the interpreter lock for ~30 ms)."""
        import numpy as np  # here: importing the data layer stays light

        hashes = np.frombuffer(b"".join([self._hash(keys[u]) for u in members]), dtype=">u8")
        rows = np.fromiter((first[u].row for u in members), dtype=np.int64, count=len(members))
        return [members[i] for i in np.lexsort((rows, hashes)).tolist()]

    def _unit(self, item: Item) -> str:
        if item.group is not None:
            return f"{item.source}\x1fgroup\x1f{item.group}"
        return f"{self._image(item)}\x1f{item.text}"  # content only: reordering or renaming changes nothing

    def _image(self, item: Item) -> str:
        ref = item.image
        path = str(ref.path)
        inside = path.startswith(self.prefix)
        path = (path[len(self.prefix) :] if inside else os.path.relpath(path, self.root)).replace(os.sep, "/")
        return f"{path}::{ref.member}" if ref.member else path

    def _hash(self, key: str) -> bytes:
        data = f"{self.seed}\x1f{key}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=8).digest()

    def _rare(self, label: str, items: list[Item], needed: int, wanted: list[str]) -> None:
        n = len(items)
        names = ", ".join(["train", *sorted(wanted, reverse=True)])
        others = " and ".join(sorted(wanted, reverse=True))
        message = (
            f"label '{label}' has only {plural(n, 'example')}, fewer than the {plural(needed, 'split')} "
            f"({names}) it would be stratified into, so it cannot be in each: its rows are kept in train "
            f"only, and {others} will not measure it. Add more examples of '{label}' or merge it into "
            f"another label"
        )
        for item in sorted(items, key=lambda i: (i.source, i.row)):
            self.problems.append(
                Problem(ProblemKind.RARE_LABEL, item.row, self._image(item), message, False, item.source)
            )


def allocate(n: int, fractions: dict[str, float], *, at_least_one: bool = False) -> dict[str, int]:
    """How many of ``n`` units each split gets (``round(n * fraction)``), at least one each with
    ``at_least_one``, and always at least one left for train."""
    counts = {s: round(n * f) for s, f in fractions.items()}
    if at_least_one:
        counts = {s: max(c, 1) if fractions[s] > 0 else c for s, c in counts.items()}
    while counts and sum(counts.values()) >= n and any(counts.values()):
        counts[max(counts, key=counts.get)] -= 1
    return counts
