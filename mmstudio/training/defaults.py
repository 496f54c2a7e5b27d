"""Training settings chosen from the dataset, for the fields the user left at None.

:func:`suggest_defaults` is the one place the rules live (``docs/training.md`` lists them, with why);
it reads a few plain facts about the data (:func:`mmstudio.training.preflight.defaults_facts` gathers
them) and returns a value for each field it has a rule for. The runner applies them to the fields of
the job's :class:`~mmstudio.training.spec.TrainSpec` that are None and stores the result with the run,
so the run records what was chosen; ``train --check`` and the Train page's summary show the same
choices. Standard library only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from mmstudio.training.spec import DATA_DEFAULT_FIELDS, DEFAULT_MAX_LEN, TrainSpec

#: Patience (evaluations without improvement) by the size of the training split: (below, patience).
PATIENCE_BY_ITEMS = ((2_000, 5), (20_000, 3))
LARGE_PATIENCE = 2
#: The text length is the 95th percentile of the training texts' lengths, rounded up to a multiple
#: of this, between these bounds.
MAX_LEN_STEP = 8
MAX_LEN_BOUNDS = (8, 128)
MAX_LEN_PERCENTILE = 95
#: BPE splits a word into this many pieces on average (the word count is what the facts hold).
BPE_PIECES_PER_WORD = 1.5
#: Class weights go on when the largest class of the training split has at least this many times the
#: items of the smallest.
IMBALANCE_RATIO = 3.0


def suggest_defaults(facts: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: value}`` for the :class:`TrainSpec` fields the data decides, from ``facts``:

    - ``train_items`` (int): items in the training split → ``patience``;
    - ``text_lengths`` (list of int, words per training text; absent or empty without text),
      ``tokenizer`` (``word`` / ``bpe``) and ``pretrained_text`` (bool: a pretrained text encoder,
      whose tokenizer counts pieces these rules do not know) → ``max_len``;
    - ``task`` and ``class_counts`` ({label: training items}) → ``class_weights``.

    A fact that is missing leaves its field out. See :func:`explain_defaults` for the reasons."""
    return {name: value for name, (value, _) in _rules(facts).items()}


def explain_defaults(facts: Mapping[str, Any]) -> dict[str, str]:
    """``{field: "why, in a few words"}`` for what :func:`suggest_defaults` chooses."""
    return {name: why for name, (_, why) in _rules(facts).items()}


def _rules(facts: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    chosen: dict[str, tuple[Any, str]] = {}
    items = facts.get("train_items")
    if isinstance(items, int):
        patience = next((p for below, p in PATIENCE_BY_ITEMS if items < below), LARGE_PATIENCE)
        chosen["patience"] = (patience, f"{items:,} training items")
    lengths = sorted(int(n) for n in facts.get("text_lengths") or ())
    if lengths and not facts.get("pretrained_text"):
        p95 = lengths[min(len(lengths) - 1, math.ceil(len(lengths) * MAX_LEN_PERCENTILE / 100) - 1)]
        pieces = p95 * (BPE_PIECES_PER_WORD if facts.get("tokenizer") == "bpe" else 1.0)
        low, high = MAX_LEN_BOUNDS
        max_len = min(high, max(low, MAX_LEN_STEP * math.ceil(pieces / MAX_LEN_STEP)))
        chosen["max_len"] = (max_len, f"95% of the texts have at most {p95} words")
    elif facts.get("pretrained_text"):
        chosen["max_len"] = (DEFAULT_MAX_LEN, "a pretrained tokenizer: set it by hand for long texts")
    counts = [n for n in (facts.get("class_counts") or {}).values() if n > 0]
    if facts.get("task") == "classification" and len(counts) >= 2:
        ratio = max(counts) / min(counts)
        chosen["class_weights"] = (
            ratio >= IMBALANCE_RATIO,
            f"the largest class has {ratio:.1f}× the items of the smallest",
        )
    elif facts.get("task") is not None:
        chosen.setdefault("class_weights", (False, "not a single-label classification"))
    return chosen


def apply_defaults(train: TrainSpec, facts: Mapping[str, Any]) -> tuple[TrainSpec, dict[str, str]]:
    """``train`` with its None fields of :data:`DATA_DEFAULT_FIELDS` set as :func:`suggest_defaults`
    says (a field the user set keeps its value), and ``{field: "value (why)"}`` for each one chosen."""
    suggested, reasons = suggest_defaults(facts), explain_defaults(facts)
    changes = {
        name: suggested[name]
        for name in DATA_DEFAULT_FIELDS
        if getattr(train, name) is None and name in suggested
    }
    notes = {name: f"{_shown(value)} ({reasons[name]})" for name, value in changes.items()}
    return (dataclasses.replace(train, **changes) if changes else train), notes


def describe_choices(notes: Mapping[str, str]) -> str:
    """One line for the log, ``train --check`` and the Train page: ``"chosen from the dataset:
    patience 5 (812 training items), max_len 48 (...)"``; ``""`` when nothing was chosen."""
    if not notes:
        return ""
    return "chosen from the dataset: " + ", ".join(f"{name} {note}" for name, note in notes.items())


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
