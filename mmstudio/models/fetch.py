"""Where a pretrained model's files are: ``resolve(ref) -> ResolvedModel`` or :class:`ModelNotCached`.

A stand-in that knows only local folders (the revision is a hash of the weight files); fetching from
the hub comes with ``mmstudio models pull``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    id: str
    revision: str
    source: str


class ModelNotCached(LookupError):
    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(
            f"the model {ref} is not here: it is neither a local folder nor cached; run "
            f"`mmstudio models pull {ref}` first (training never downloads)"
        )


def resolve(ref: str) -> ResolvedModel:
    path = Path(ref).expanduser()
    if not path.is_dir():
        raise ModelNotCached(ref)
    path = path.resolve()
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*.safetensors"), key=lambda p: p.relative_to(path).as_posix()):
        digest.update(file.relative_to(path).as_posix().encode("utf-8"))
        with open(file, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    return ResolvedModel(path, str(path), "sha256:" + digest.hexdigest(), "local")
