"""Datasets a run trained or was evaluated on, identified by their content fingerprint."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ._util import insert_missing, jsonable, utcnow
from .engine import Database
from .errors import NotFoundError, StoreError
from .models import DatasetRow
from .types import DatasetInfo


def to_info(row: DatasetRow) -> DatasetInfo:
    return DatasetInfo(
        id=row.id,
        name=row.name,
        path=row.path,
        format=row.format,
        fingerprint=row.fingerprint,
        item_count=row.item_count,
        summary=dict(row.summary),
        created=row.created_at,
    )


def _new_values(
    name: str, path: str, format: str, fingerprint: str, item_count: int, summary: dict[str, Any] | None
) -> dict[str, Any]:
    if not fingerprint:
        raise ValueError("a dataset needs a fingerprint")
    return {
        "name": name,
        "path": str(path),
        "format": format,
        "fingerprint": fingerprint,
        "item_count": int(item_count),
        "summary": jsonable(summary or {}),
        "created_at": utcnow(),
    }


def ensure_row(session: Session, values: dict[str, Any]) -> tuple[DatasetRow, bool]:
    """The dataset row of ``values["fingerprint"]``, inserted if missing, and whether this call
    inserted it (inside a write transaction; safe when another process records the same dataset at
    the same moment: :func:`._util.insert_missing`)."""
    query = select(DatasetRow).where(DatasetRow.fingerprint == values["fingerprint"])
    found = session.scalars(query).first()
    if found is not None:
        return found, False
    made = insert_missing(session, DatasetRow, [values], on=["fingerprint"])
    return session.scalars(query).one(), bool(made)


def create_dataset(
    db: Database,
    *,
    name: str,
    path: str,
    format: str,
    fingerprint: str,
    item_count: int,
    summary: dict[str, Any] | None = None,
) -> DatasetInfo:
    """Record a dataset; a fingerprint already in the store is an error (use :func:`ensure_dataset`)."""
    values = _new_values(name, path, format, fingerprint, item_count, summary)
    with db.write_session() as session:
        row, made = ensure_row(session, values)
        if not made:
            raise StoreError(f"a dataset with fingerprint {fingerprint!r} is already in the store")
        return to_info(row)


def ensure_dataset(
    db: Database,
    *,
    name: str,
    path: str,
    format: str,
    fingerprint: str,
    item_count: int,
    summary: dict[str, Any] | None = None,
) -> DatasetInfo:
    """The dataset with this fingerprint, recorded now if it is new (the stored one is kept as is).
    Two processes recording the same new dataset at once get the same row, and neither fails."""
    values = _new_values(name, path, format, fingerprint, item_count, summary)
    with db.write_session() as session:
        return to_info(ensure_row(session, values)[0])


def get_dataset(db: Database, dataset_id: int) -> DatasetInfo:
    with db.read_session() as session:
        row = session.get(DatasetRow, dataset_id)
        if row is None:
            raise NotFoundError(f"there is no dataset {dataset_id} in the store")
        return to_info(row)


def find_dataset(db: Database, fingerprint: str) -> DatasetInfo | None:
    with db.read_session() as session:
        row = session.scalars(select(DatasetRow).where(DatasetRow.fingerprint == fingerprint)).first()
        return None if row is None else to_info(row)


def list_datasets(db: Database) -> list[DatasetInfo]:
    with db.read_session() as session:
        return [to_info(r) for r in session.scalars(select(DatasetRow).order_by(DatasetRow.id))]
