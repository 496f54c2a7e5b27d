"""Files a run produced (checkpoints, exports, reports): where they are, their size and sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select

from .engine import Database
from .errors import NotFoundError
from .models import ArtifactRow, RunRow
from .types import ArtifactInfo

#: The kinds mmstudio itself writes; others are accepted.
KINDS = ("checkpoint", "export", "report", "other")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _info(row: ArtifactRow) -> ArtifactInfo:
    return ArtifactInfo(
        id=row.id,
        run_id=row.run_id,
        kind=row.kind,
        path=row.path,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        created=row.created_at,
    )


def add_artifact(
    db: Database,
    run_id: int,
    kind: str,
    path: str | Path,
    *,
    size_bytes: int | None = None,
    sha256: str | None = None,
    hash_file: bool = True,
) -> ArtifactInfo:
    """Record a file of run ``run_id``. When the file exists, its size is read and (``hash_file``)
    its sha256 computed unless given."""
    path = Path(path)
    if path.is_file():
        if size_bytes is None:
            size_bytes = path.stat().st_size
        if sha256 is None and hash_file:
            sha256 = file_sha256(path)
    with db.write_session() as session:
        if session.get(RunRow, run_id) is None:
            raise NotFoundError(f"there is no run {run_id} in the store")
        row = ArtifactRow(run_id=run_id, kind=kind, path=str(path), size_bytes=size_bytes, sha256=sha256)
        session.add(row)
        session.flush()
        return _info(row)


def list_artifacts(db: Database, run_id: int, *, kind: str | None = None) -> list[ArtifactInfo]:
    """The run's artifacts, oldest first (of one kind if given)."""
    query = select(ArtifactRow).where(ArtifactRow.run_id == run_id)
    if kind is not None:
        query = query.where(ArtifactRow.kind == kind)
    with db.read_session() as session:
        return [_info(r) for r in session.scalars(query.order_by(ArtifactRow.id))]
