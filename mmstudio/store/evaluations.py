"""Evaluations of a run on a split or dataset (optionally with a modality masked), and per-item
predictions for the gallery."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select

from ._util import jsonable
from .engine import Database
from .errors import NotFoundError
from .models import DatasetRow, EvaluationRow, PredictionRow, RunRow
from .types import EvaluationInfo, Prediction


def _info(row: EvaluationRow) -> EvaluationInfo:
    return EvaluationInfo(
        id=row.id,
        run_id=row.run_id,
        split=row.split,
        ablation=row.ablation,
        dataset_id=row.dataset_id,
        metrics=dict(row.metrics),
        labels=row.labels,
        confusion_matrix=row.confusion_matrix,
        per_class=row.per_class,
        created=row.created_at,
    )


def add_evaluation(
    db: Database,
    run_id: int,
    *,
    split: str,
    metrics: Mapping[str, Any],
    dataset_id: int | None = None,
    ablation: str | None = None,
    labels: Iterable[Any] | None = None,
    confusion_matrix: Any = None,
    per_class: Mapping[str, Any] | None = None,
) -> int:
    """Record an evaluation and return its id. ``confusion_matrix`` may be a numpy array (rows: true
    label, columns: predicted, in ``labels`` order); numpy values anywhere are converted."""
    with db.write_session() as session:
        if session.get(RunRow, run_id) is None:
            raise NotFoundError(f"there is no run {run_id} in the store")
        if dataset_id is not None and session.get(DatasetRow, dataset_id) is None:
            raise NotFoundError(f"there is no dataset {dataset_id} in the store")
        row = EvaluationRow(
            run_id=run_id,
            dataset_id=dataset_id,
            split=split,
            ablation=ablation,
            metrics=jsonable(dict(metrics)),
            labels=None if labels is None else [str(x) for x in labels],
            confusion_matrix=jsonable(confusion_matrix),
            per_class=None if per_class is None else jsonable(dict(per_class)),
        )
        session.add(row)
        session.flush()
        return row.id


def get_evaluation(db: Database, evaluation_id: int) -> EvaluationInfo:
    with db.read_session() as session:
        row = session.get(EvaluationRow, evaluation_id)
        if row is None:
            raise NotFoundError(f"there is no evaluation {evaluation_id} in the store")
        return _info(row)


def list_evaluations(db: Database, run_id: int) -> list[EvaluationInfo]:
    """The run's evaluations, oldest first."""
    with db.read_session() as session:
        query = select(EvaluationRow).where(EvaluationRow.run_id == run_id).order_by(EvaluationRow.id)
        return [_info(r) for r in session.scalars(query)]


def _label(x: Any) -> str | None:
    return None if x is None else str(x.item() if hasattr(x, "item") else x)


def add_predictions(
    db: Database,
    run_id: int,
    predictions: Iterable[Prediction | Mapping[str, Any]],
    *,
    evaluation_id: int | None = None,
) -> int:
    """Append per-item predictions in one transaction; returns how many. Each is a
    :class:`Prediction` or a mapping with its fields; labels are stored as text. ``evaluation_id``
    applies to items that do not name one."""
    rows = []
    for p in predictions:
        p = p if isinstance(p, Prediction) else Prediction(**p)
        correct = p.correct
        if correct is None and p.true_label is not None and p.predicted_label is not None:
            correct = _label(p.true_label) == _label(p.predicted_label)
        rows.append(
            {
                "run_id": run_id,
                "evaluation_id": p.evaluation_id if p.evaluation_id is not None else evaluation_id,
                "item_index": int(p.item_index),
                "true_label": _label(p.true_label),
                "predicted_label": _label(p.predicted_label),
                "score": None if p.score is None else float(p.score),
                "probabilities": jsonable(p.probabilities),
                "correct": None if correct is None else bool(correct),
            }
        )
    if not rows:
        return 0
    with db.write_session() as session:
        if session.get(RunRow, run_id) is None:
            raise NotFoundError(f"there is no run {run_id} in the store")
        session.execute(insert(PredictionRow), rows)
    return len(rows)


def list_predictions(db: Database, run_id: int, *, evaluation_id: int | None = None) -> list[Prediction]:
    """The run's predictions (of one evaluation if given), by item index."""
    p = PredictionRow
    query = select(
        p.item_index, p.true_label, p.predicted_label, p.score, p.probabilities, p.correct, p.evaluation_id
    ).where(p.run_id == run_id)
    if evaluation_id is not None:
        query = query.where(p.evaluation_id == evaluation_id)
    with db.read() as conn:
        rows = conn.execute(query.order_by(p.evaluation_id, p.item_index, p.id)).all()
    return [
        Prediction(
            item_index=i,
            true_label=t,
            predicted_label=pr,
            score=s,
            probabilities=prob,
            correct=c,
            evaluation_id=e,
        )
        for i, t, pr, s, prob, c, e in rows
    ]
