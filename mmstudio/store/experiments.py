"""Experiments: named groups of runs. Runs created without one go to ``Default``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ._util import insert_missing, utcnow
from .engine import Database
from .errors import NotFoundError, StoreError
from .models import ExperimentRow
from .types import ExperimentInfo

DEFAULT_EXPERIMENT = "Default"


def to_info(row: ExperimentRow) -> ExperimentInfo:
    return ExperimentInfo(id=row.id, name=row.name, description=row.description, created=row.created_at)


def find_row(session: Session, ref: int | str) -> ExperimentRow | None:
    if isinstance(ref, int):
        return session.get(ExperimentRow, ref)
    return session.scalars(select(ExperimentRow).where(ExperimentRow.name == ref)).one_or_none()


def ensure_row(session: Session, name: str, description: str = "") -> ExperimentRow:
    """The experiment called ``name``, created if missing (call inside a write transaction; safe when
    another process creates the same experiment at the same moment: :func:`._util.insert_missing`)."""
    return _ensure(session, name, description)[0]


def _ensure(session: Session, name: str, description: str = "") -> tuple[ExperimentRow, bool]:
    """:func:`ensure_row`, and whether this call created it."""
    row = find_row(session, name)
    if row is not None:
        return row, False
    values = {"name": name, "description": description, "created_at": utcnow()}
    made = insert_missing(session, ExperimentRow, [values], on=["name"])
    row = find_row(session, name)
    assert row is not None
    return row, bool(made)


def create_experiment(db: Database, name: str, description: str = "") -> ExperimentInfo:
    name = name.strip()
    if not name:
        raise ValueError("an experiment needs a name")
    with db.write_session() as session:
        row, made = _ensure(session, name, description)
        if not made:
            raise StoreError(f"an experiment called {name!r} already exists; choose another name")
        return to_info(row)


def ensure_experiment(db: Database, name: str = DEFAULT_EXPERIMENT, description: str = "") -> ExperimentInfo:
    with db.write_session() as session:
        return to_info(ensure_row(session, name, description))


def get_experiment(db: Database, ref: int | str) -> ExperimentInfo:
    with db.read_session() as session:
        row = find_row(session, ref)
        if row is None:
            raise NotFoundError(f"there is no experiment {ref!r} in the store")
        return to_info(row)


def list_experiments(db: Database) -> list[ExperimentInfo]:
    with db.read_session() as session:
        return [to_info(r) for r in session.scalars(select(ExperimentRow).order_by(ExperimentRow.id))]
