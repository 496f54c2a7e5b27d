"""A queue of training jobs run one after another (Qt-free): what the Train page's queue holds, and
its rules.

Each :class:`QueueEntry` is a job and what became of it: ``queued`` (waiting its turn), ``starting``
(its worker process is being started), ``running``, then how its run ended, one of the run statuses
(``completed``, ``cancelled``, ``failed``, ``interrupted``). :class:`RunQueue` keeps the entries in
the order they run: the next to run is the first waiting one; only waiting entries change places, an
entry whose worker is starting or running cannot be removed, and "clear finished" keeps those and
the waiting ones. Running the jobs (one worker at a time) is the caller's part: it takes
:meth:`RunQueue.next_waiting`, and tells the entry what happened (:meth:`QueueEntry.start`,
:meth:`QueueEntry.run`, :meth:`QueueEntry.end`).

Standard library only, beside the job spec (:mod:`mmstudio.training.spec`, no torch).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mmstudio.training.spec import RunJob
from mmstudio.vocabulary import RUN_STATUSES, run_status_title

QUEUED, STARTING, RUNNING = "queued", "starting", "running"
#: An entry's worker is being started or runs: it stays in its place until its run ends.
ACTIVE_STATUSES = (STARTING, RUNNING)
#: Every status an entry can have: waiting, active, or how its run ended (a run status).
ENTRY_STATUSES = (QUEUED, *ACTIVE_STATUSES, *(s for s in RUN_STATUSES if s not in (QUEUED, RUNNING)))


@dataclass
class QueueEntry:
    """One job in the queue and what became of it (``title`` defaults to :attr:`RunJob.title`)."""

    job: RunJob
    title: str = ""
    status: str = QUEUED
    run_id: int | None = None
    message: str = ""  # why the run failed, when it did

    def __post_init__(self) -> None:
        if not self.title:
            self.title = self.job.title
        _check_status(self.status)

    @property
    def waiting(self) -> bool:
        return self.status == QUEUED

    @property
    def active(self) -> bool:
        """Its worker is being started or runs."""
        return self.status in ACTIVE_STATUSES

    @property
    def label(self) -> str:
        """The entry as a line of the queue: ``[completed] run 3 · <title>``, the status in the words
        people read (a cancelled run is ``[stopped]``: :func:`~mmstudio.vocabulary.run_status_title`)."""
        run = f"run {self.run_id} · " if self.run_id else ""
        return f"[{run_status_title(self.status)}] {run}{self.title}"

    def start(self) -> None:
        """Its worker is being started."""
        self.status = STARTING

    def run(self, run_id: int | None = None) -> None:
        """Its worker runs (and, once it has created its run, ``run_id`` is known)."""
        self.status = RUNNING
        if run_id:
            self.run_id = run_id

    def end(self, status: str, message: str = "", run_id: int | None = None) -> None:
        """Its run ended with ``status`` (a run status), ``message`` saying why when it failed."""
        self.status = _check_status(status)
        self.message = message
        if run_id:
            self.run_id = run_id


def _check_status(status: str) -> str:
    if status not in ENTRY_STATUSES:
        raise ValueError(f"unknown queue status {status!r}; one of: {', '.join(ENTRY_STATUSES)}")
    return status


class RunQueue:
    """The entries in the order they run (see the module docstring). Rows are indexes into it."""

    def __init__(self) -> None:
        self.entries: list[QueueEntry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[QueueEntry]:
        return iter(self.entries)

    def __getitem__(self, row: int) -> QueueEntry:
        return self.entries[row]

    def get(self, row: int) -> QueueEntry | None:
        """The entry at ``row``; None for a row that is not one (no selection is -1)."""
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def append(self, job: RunJob, title: str = "") -> QueueEntry:
        """Queue ``job`` last: it runs when those before it have."""
        entry = QueueEntry(job, title)
        self.entries.append(entry)
        return entry

    def insert_next(self, job: RunJob, title: str = "") -> QueueEntry:
        """Queue ``job`` before every waiting entry: it is the next to run (a job started now, a
        resumed run)."""
        entry = QueueEntry(job, title)
        self.entries.insert(self.first_waiting_row(), entry)
        return entry

    def first_waiting_row(self) -> int:
        """The row of the first waiting entry (the end when none waits)."""
        return next((row for row, e in enumerate(self.entries) if e.waiting), len(self.entries))

    def next_waiting(self) -> QueueEntry | None:
        """The entry to run next: the first waiting one."""
        return self.get(self.first_waiting_row())

    def has_waiting(self) -> bool:
        return any(e.waiting for e in self.entries)

    def can_move(self, row: int, delta: int) -> bool:
        """Whether the entry at ``row`` can move up (``delta`` -1) or down (+1): both it and the
        entry it would swap with must be waiting."""
        entry, other = self.get(row), self.get(row + delta)
        return (
            delta in (-1, 1) and entry is not None and other is not None and entry.waiting and other.waiting
        )

    def move(self, row: int, delta: int) -> bool:
        """Move a waiting entry up (-1) or down (+1) among the waiting ones; False when it cannot."""
        if not self.can_move(row, delta):
            return False
        target = row + delta
        self.entries[row], self.entries[target] = self.entries[target], self.entries[row]
        return True

    def can_remove(self, row: int) -> bool:
        """Whether the entry at ``row`` can be removed: it exists and is not starting or running."""
        entry = self.get(row)
        return entry is not None and not entry.active

    def remove(self, row: int) -> bool:
        if not self.can_remove(row):
            return False
        del self.entries[row]
        return True

    def clear_finished(self) -> int:
        """Remove the entries whose run has ended (waiting and active ones stay); returns how many."""
        kept = [e for e in self.entries if e.waiting or e.active]
        removed = len(self.entries) - len(kept)
        self.entries = kept
        return removed
