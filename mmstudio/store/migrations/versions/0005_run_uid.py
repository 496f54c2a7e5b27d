"""Each run has an identity that outlives its id: ``runs.uid``.

A run's id is only its number in one store; ``mmstudio db copy`` gives a copied run a new id in the
target store and keeps its ``uid``, so copying the same runs again (or back) finds them there and
copies nothing twice. Runs recorded before this revision get a random uid here; new runs get one when
they are created.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
#: The first mmstudio release whose store has this revision (shown when an older mmstudio opens it).
mmstudio_version = "0.2.0"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.Integer()), sa.column("uid", sa.String()))
    ids = conn.execute(sa.select(runs.c.id)).scalars().all()
    if ids:
        conn.execute(
            runs.update().where(runs.c.id == sa.bindparam("run_id")).values(uid=sa.bindparam("new_uid")),
            [{"run_id": i, "new_uid": uuid.uuid4().hex} for i in ids],
        )
    op.create_index("ix_runs_uid", "runs", ["uid"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_runs_uid", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("uid")
