"""The ORM: one ``*Row`` class per table. Only the store's own modules use these; nothing outside
``mmstudio.store`` ever sees a row or a session.

Every table has an integer primary key ``id``. Metric keys are interned in ``metric_keys`` so the
``metrics`` table (the big one) holds only numbers. ``metric_summaries`` keeps, per run and key, the
last / min / max value so listing many runs never scans their metrics; ``metric_blocks`` holds the
same points packed as float64 arrays so a whole curve reads back in milliseconds.

Changing anything here needs a new migration in ``migrations/versions``; ``test_schema.py`` fails
until the migrations and these classes agree.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mmstudio.vocabulary import RUN_STATUSES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uid() -> str:
    """A new run's identity: a random 32-digit hex string."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; aware input of any zone is converted to UTC first."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class StoreInfoRow(Base):
    """Facts about the database itself, e.g. the mmstudio version its schema needs."""

    __tablename__ = "store_info"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[str] = mapped_column(Text)


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    item_count: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in RUN_STATUSES) + ")",
            name="status",
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    spec: Mapped[dict[str, Any]]
    train_spec: Mapped[dict[str, Any]]
    device: Mapped[str | None] = mapped_column(String(32))
    seed: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(255))
    dataset_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # added by migration 0003
    # The owner of a running run, beside pid and hostname (migration 0004): see runs.mark_orphaned_runs.
    machine_id: Mapped[str | None] = mapped_column(String(64))
    boot_id: Mapped[str | None] = mapped_column(String(64))
    process_start: Mapped[int | None] = mapped_column(BigInteger)
    # The run's identity across stores (migration 0005): a copied run keeps it (store/copy.py).
    uid: Mapped[str | None] = mapped_column(String(32), default=new_uid, unique=True, index=True)
    # A stop asked through the store (migration 0006): the run's own process reads it and stops.
    stop_requested_at: Mapped[datetime | None]


class MetricKeyRow(Base):
    __tablename__ = "metric_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)


class MetricRow(Base):
    """One point of one curve. ``value`` is NULL for a NaN (SQLite stores NaN as NULL)."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_id_key_id_step", "run_id", "key_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key_id: Mapped[int] = mapped_column(ForeignKey("metric_keys.id"))
    step: Mapped[int]
    epoch: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)


class MetricSummaryRow(Base):
    """Per run and key: point count, last point (highest step) and min / max value."""

    __tablename__ = "metric_summaries"
    __table_args__ = (UniqueConstraint("run_id", "key_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key_id: Mapped[int] = mapped_column(ForeignKey("metric_keys.id"))
    count: Mapped[int]
    last_step: Mapped[int]
    last_epoch: Mapped[float | None] = mapped_column(Float)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_time: Mapped[float] = mapped_column(Float)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)


class MetricBlockRow(Base):
    """The same points as ``metrics``, packed for fast whole-curve reads.

    ``data`` is ``count`` rows of little-endian float64 ``(step, epoch, value, wall_time)``, NaN for
    NULL, in logging order. Written in the same transaction as the rows; a block below
    ``MERGE_BELOW`` points is extended by the next append rather than followed by another tiny one.
    """

    __tablename__ = "metric_blocks"
    __table_args__ = (Index("ix_metric_blocks_run_id_key_id_id", "run_id", "key_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key_id: Mapped[int] = mapped_column(ForeignKey("metric_keys.id"))
    count: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    split: Mapped[str] = mapped_column(String(64))
    ablation: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]]
    labels: Mapped[list[Any] | None]
    confusion_matrix: Mapped[list[Any] | None]
    per_class: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PredictionRow(Base):
    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_evaluation_id_item_index", "evaluation_id", "item_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    item_index: Mapped[int]
    true_label: Mapped[str | None] = mapped_column(Text)
    predicted_label: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    probabilities: Mapped[Any | None] = mapped_column(JSON)
    correct: Mapped[bool | None]


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
