"""Each store has an identity, and each running run names its machine precisely.

- ``store_info.store_id``: a random id made once, kept in the store. A store's run files (checkpoints)
  live in a folder named after it (:func:`mmstudio.paths.store_runs_dir`), so two stores never share
  ``runs/1``. A store that had runs before this revision keeps finding their files where they were
  written, the folder shared by every store (:func:`mmstudio.paths.legacy_runs_dir`):
  ``legacy_max_run`` says up to which run id.
- ``runs.machine_id``, ``runs.boot_id``, ``runs.process_start``: the machine (``/etc/machine-id``),
  its boot and the start time of the process running the run, so that a run is marked interrupted
  only by the machine that ran it, and only once that process is gone (a host name and a pid are not
  enough: two machines may share a host name, and a pid is reused).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
#: The first mmstudio release whose store has this revision (shown when an older mmstudio opens it).
mmstudio_version = "0.2.0"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("machine_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("boot_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("process_start", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    info = sa.table("store_info", sa.column("key", sa.String()), sa.column("value", sa.Text()))
    values = {"store_id": uuid.uuid4().hex}
    last = conn.execute(sa.text("SELECT max(id) FROM runs")).scalar()
    if last is not None:
        values["legacy_max_run"] = str(last)
    conn.execute(info.delete().where(info.c.key.in_(list(values))))
    conn.execute(info.insert(), [{"key": k, "value": v} for k, v in values.items()])


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM store_info WHERE key IN ('store_id', 'legacy_max_run')"))
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("process_start")
        batch.drop_column("boot_id")
        batch.drop_column("machine_id")
