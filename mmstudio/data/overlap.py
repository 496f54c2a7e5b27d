"""Images two sets of items share: how many evaluated items show an image a run was trained on.

A score on "another" dataset means little when that dataset holds the training images: the same
public dataset downloaded twice, a test folder copied out of the training one, a manifest pointing
into the training images. :func:`shared_images` counts such items by the images' **content**:

- A copy under another folder or name, or inside a tar shard, is the same image to the model; a
  path (even with the size) misses every copy, which is the common way a leak happens.
- Content need not cost much. Two files can be equal only if their sizes are, so every image is
  ``stat``-ed (or its shard member's size read from the index) and only the images whose size occurs
  on both sides are read and hashed; JPEG and PNG sizes rarely collide by chance, so little is read
  beyond the real copies. The same file on both sides (same device and inode, or the same shard
  member) counts without being read at all.
- What it misses: an image re-encoded or resized (other bytes); that would take a perceptual hash.

Standard library only, no Pillow: nothing is decoded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mmstudio.data.types import ImageRef, Item
from mmstudio.progress import check_cancel

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Overlap:
    """``shared`` of the ``items`` evaluated items show an image found among the ``training`` items
    (``images``: how many distinct images those are)."""

    shared: int
    items: int
    training: int
    images: int

    @property
    def fraction(self) -> float:
        return self.shared / self.items if self.items else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "shared": self.shared,
            "items": self.items,
            "training_items": self.training,
            "images": self.images,
            "by": "image content",
        }


def shared_images(
    evaluated: Sequence[Item],
    training: Sequence[Item],
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
) -> Overlap:
    """How many ``evaluated`` items show an image that one of the ``training`` items shows (by
    content; see the module docstring). ``progress(done, total)`` counts the images read;
    ``cancel.is_set()`` stops it with :class:`~mmstudio.progress.Cancelled`."""
    train_refs = _refs(training, cancel)
    eval_keys: list[Any] = []
    eval_refs = _refs(evaluated, cancel, keys=eval_keys)

    shared_keys = {key for key in eval_refs if key in train_refs}  # the very same file: not read
    train_sizes = {size for _ref, size in train_refs.values()}
    candidates = {
        key: ref
        for key, (ref, size) in eval_refs.items()
        if key not in shared_keys and (size is None or size in train_sizes or None in train_sizes)
    }
    if candidates:
        wanted = {eval_refs[key][1] for key in candidates}
        to_read = [
            ref
            for key, (ref, size) in train_refs.items()
            if key not in shared_keys and (size in wanted or None in wanted or size is None)
        ]
        total = len(candidates) + len(to_read)
        done = 0
        train_digests = set()
        for ref in to_read:
            check_cancel(cancel, "the overlap check")
            digest = _digest(ref)
            if digest is not None:
                train_digests.add(digest)
            done += 1
            if progress is not None:
                progress(done, total)
        for key, ref in candidates.items():
            check_cancel(cancel, "the overlap check")
            digest = _digest(ref)
            if digest is not None and digest in train_digests:
                shared_keys.add(key)
            done += 1
            if progress is not None:
                progress(done, total)
    shared = sum(1 for key in eval_keys if key is not None and key in shared_keys)
    return Overlap(shared=shared, items=len(evaluated), training=len(training), images=len(shared_keys))


def _refs(
    items: Sequence[Item], cancel: Any, keys: list[Any] | None = None
) -> dict[Any, tuple[ImageRef, int | None]]:
    """Each distinct image of ``items`` by :func:`_identity`, with its size; ``keys`` receives each
    item's identity (None: its file is gone) in order."""
    refs: dict[Any, tuple[ImageRef, int | None]] = {}
    for n, item in enumerate(items):
        if n % 4096 == 0:
            check_cancel(cancel, "the overlap check")
        found = _identity(item.image)
        if keys is not None:
            keys.append(None if found is None else found[0])
        if found is not None:
            refs.setdefault(found[0], (item.image, found[1]))
    return refs


def _identity(ref: ImageRef) -> tuple[Any, int | None] | None:
    """``(what names the bytes, their size)``: the file's device and inode (a symlink or hard link is
    the same file), with the member for a shard; None for a file that is gone."""
    try:
        st = os.stat(ref.path)
    except OSError:
        return None
    if ref.member is None:
        return (st.st_dev, st.st_ino, None), st.st_size
    return (st.st_dev, st.st_ino, ref.member), ref.size


def _digest(ref: ImageRef) -> bytes | None:
    try:
        if ref.member is not None:
            return hashlib.blake2b(ref.read_bytes(), digest_size=20).digest()
        h = hashlib.blake2b(digest_size=20)
        with open(ref.path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.digest()
    except OSError:
        return None
