"""A run can be asked to stop through the store: ``runs.stop_requested_at``.

The process that trains a run may be on another machine (``torchrun`` on a cluster node): the app
that follows it from a shared store, or ``mmstudio runs stop ID`` anywhere, cannot signal it. They set
this time instead; the run's own store writer reads it while the run trains and asks its trainer to
stop at the next step (under torchrun, every process at the same step), which saves a checkpoint and
ends the run ``cancelled``. Starting a run (or resuming it) clears it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
#: The first mmstudio release whose store has this revision (shown when an older mmstudio opens it).
mmstudio_version = "0.2.0"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("stop_requested_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("stop_requested_at")
