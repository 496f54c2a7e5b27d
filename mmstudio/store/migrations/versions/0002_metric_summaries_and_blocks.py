"""Two derived metric tables, filled from the metrics already logged:

- ``metric_summaries``: per run and key, the count, last point and min / max value, so that listing
  many runs (``runs list``, the experiments table) never scans their metrics;
- ``metric_blocks``: the points packed as float64 arrays, so a whole curve reads back in
  milliseconds instead of one Python object per number.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
#: The first mmstudio release whose store has this revision (shown when an older mmstudio opens it).
mmstudio_version = "0.1.0"


BLOCK_POINTS = 4096


def upgrade() -> None:
    op.create_table(
        "metric_summaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("last_epoch", sa.Float(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_time", sa.Float(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["metric_keys.id"], name=op.f("fk_metric_summaries_key_id_metric_keys")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metric_summaries_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_summaries")),
        sa.UniqueConstraint("run_id", "key_id", name=op.f("uq_metric_summaries_run_id_key_id")),
    )
    # Backfill from the metrics already logged: the last point is the one with the highest step
    # (the latest logged among equal steps).
    op.execute(
        """
        INSERT INTO metric_summaries
            (run_id, key_id, count, last_step, last_epoch, last_value, last_time, min_value, max_value)
        SELECT m.run_id, m.key_id, g.n, m.step, m.epoch, m.value, m.wall_time, g.lo, g.hi
        FROM metrics AS m
        JOIN (
            SELECT run_id, key_id, count(*) AS n, min(value) AS lo, max(value) AS hi,
                   max(step) AS top
            FROM metrics GROUP BY run_id, key_id
        ) AS g ON g.run_id = m.run_id AND g.key_id = m.key_id AND m.step = g.top
        WHERE m.id = (
            SELECT max(m2.id) FROM metrics AS m2
            WHERE m2.run_id = m.run_id AND m2.key_id = m.key_id AND m2.step = g.top
        )
        """
    )

    op.create_table(
        "metric_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["metric_keys.id"], name=op.f("fk_metric_blocks_key_id_metric_keys")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metric_blocks_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_blocks")),
    )
    op.create_index("ix_metric_blocks_run_id_key_id_id", "metric_blocks", ["run_id", "key_id", "id"])
    _backfill_blocks()


def _backfill_blocks() -> None:
    """Pack every curve, in logging order, into blocks of float64 (step, epoch, value, wall_time)."""
    conn = op.get_bind()
    blocks = sa.table(
        "metric_blocks",
        sa.column("run_id", sa.Integer()),
        sa.column("key_id", sa.Integer()),
        sa.column("count", sa.Integer()),
        sa.column("data", sa.LargeBinary()),
    )
    points = conn.execute(
        sa.text(
            "SELECT run_id, key_id, step, epoch, value, wall_time FROM metrics ORDER BY run_id, key_id, id"
        )
    )
    current: tuple[int, int] | None = None
    pending: list[tuple[float, ...]] = []

    def flush() -> None:
        if pending and current is not None:
            data = np.array(pending, dtype="<f8").reshape(-1, 4).tobytes()
            row = {"run_id": current[0], "key_id": current[1], "count": len(pending), "data": data}
            conn.execute(blocks.insert(), [row])
        pending.clear()

    for run_id, key_id, step, epoch, value, wall_time in points:
        if (run_id, key_id) != current or len(pending) >= BLOCK_POINTS:
            flush()
            current = (run_id, key_id)
        pending.append((step, epoch, value, wall_time))  # None -> NaN in np.array
    flush()


def downgrade() -> None:
    op.drop_index("ix_metric_blocks_run_id_key_id_id", table_name="metric_blocks")
    op.drop_table("metric_blocks")
    op.drop_table("metric_summaries")
