"""Each run keeps the whole job: the dataset spec it trained on (``runs.dataset_spec``).

A run already stored its model and training specs; with the dataset spec (the exact path, which
may be a manifest file or a shard pattern, its format, column roles and split settings) resume,
evaluation and "open in builder" rebuild the same job without guessing.

Backfill: a run that saved a checkpoint has the dataset spec in the checkpoint's manifest (JSON,
``meta.dataset``); it is read from there (a relative path, as the user typed it, is resolved against
the folder of the dataset record). Runs without a checkpoint keep ``NULL``: they are resumed and
evaluated from their dataset record, as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
#: The first mmstudio release whose store has this revision (shown when an older mmstudio opens it).
mmstudio_version = "0.2.0"

log = logging.getLogger(__name__)
#: A checkpoint manifest larger than this is not read for the backfill (a manifest holds specs, the
#: label list and the vocabulary: a few MiB at most).
MAX_MANIFEST_BYTES = 64 * 2**20


def upgrade() -> None:
    op.add_column("runs", sa.Column("dataset_spec", sa.JSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT a.run_id, a.path, d.path FROM artifacts AS a JOIN runs AS r ON r.id = a.run_id "
            "LEFT JOIN datasets AS d ON d.id = r.dataset_id WHERE a.kind = 'checkpoint' ORDER BY a.id DESC"
        )
    ).all()
    runs = sa.table("runs", sa.column("id", sa.Integer()), sa.column("dataset_spec", sa.JSON()))
    done: set[int] = set()
    for run_id, manifest, dataset_path in rows:
        if run_id in done:
            continue
        spec = _dataset_spec(manifest, dataset_path)
        if spec is not None:
            conn.execute(runs.update().where(runs.c.id == run_id).values(dataset_spec=spec))
            done.add(run_id)


def _dataset_spec(manifest: str, dataset_path: str | None) -> dict[str, Any] | None:
    """``meta.dataset`` of the checkpoint manifest at ``manifest``, its path made absolute; None when
    the file is missing, too large, not a manifest or holds no dataset spec."""
    path = Path(manifest)
    try:
        if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        meta = json.loads(path.read_text(encoding="utf-8")).get("meta") or {}
    except (OSError, ValueError, AttributeError):
        log.warning("the checkpoint manifest %s could not be read for the run's dataset spec", manifest)
        return None
    spec = meta.get("dataset") if isinstance(meta, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec["path"]:
        return None
    typed = Path(spec["path"]).expanduser()
    if not typed.is_absolute() and dataset_path:
        folder = Path(dataset_path)
        spec = {**spec, "path": str(folder if folder.name == typed.name else folder / typed.name)}
    return spec


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("dataset_spec")
