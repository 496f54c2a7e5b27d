"""The head of the Train page's run view: which run, its status, Pause and Stop, the progress bar, and
a line with the epoch, step, ETA and throughput beside the device and its memory.

Progress arrives up to ~20 times a second; the line and the bar change at most every
:data:`PROGRESS_INTERVAL_S` (each change lays out its row), the latest progress winning. A pause and
the end of a run say where the run is now: the line then shows the step it paused or ended at (the
throttled progress before it is dropped), without an ETA or a throughput that no longer hold.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import format_duration
from mmstudio.training import events as ev
from mmstudio.ui.resources import icon
from mmstudio.ui.widgets import section_label
from mmstudio.vocabulary import run_status_title

#: The progress line and bar change at most this often (seconds).
PROGRESS_INTERVAL_S = 0.2
#: The keys of Pause / Resume and Stop (the page's actions; the buttons' tooltips name them).
PAUSE_KEYS = QKeySequence("Ctrl+P")
STOP_KEYS = QKeySequence("Ctrl+.")


def keys_text(keys: QKeySequence) -> str:
    """``"Ctrl+P"`` as the platform writes it, for a tooltip."""
    return keys.toString(QKeySequence.SequenceFormat.NativeText)


class RunProgressWidget(QWidget):
    """The run's name, status and progress, with Pause / Resume and Stop / Kill (whoever owns the
    worker connects their ``clicked`` and says what they offer with :meth:`set_controls`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pending: ev.ProgressUpdated | None = None  # not shown yet (throttled)
        self._shown_at = 0.0
        self._total_steps = self._epochs = self._steps_per_epoch = 0
        self._epoch = self._step = 0  # where the run is, as last shown
        self._started = self._ended = False
        self._device = ""
        # the run shown is followed from the store: why Pause cannot reach it ("": this window's run),
        # Stop's tooltip, whether it can ask the run to stop, whether a stop was asked
        self._remote = self._remote_stop = ""
        self._remote_can_stop = self._remote_stopping = False
        self._controls = {"live": False, "paused": False, "stopping": False, "offers_kill": False}
        self.settings_button = QToolButton()  # shows or hides the page's settings column (its owner's)
        self.settings_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.settings_button.setAutoRaise(True)
        self.run_label = section_label("No run yet")
        self.status_label = QLabel()
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.stop_button = QPushButton(icon("stop"), "Stop")
        self.set_controls(live=False, paused=False, stopping=False, offers_kill=False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("Press Start to train the current model on the current dataset.")
        self.progress_label.setWordWrap(True)  # a narrow page wraps the line rather than clip it
        self.device_label = QLabel()
        self.device_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        header = QHBoxLayout()
        header.addWidget(self.settings_button)
        header.addWidget(self.run_label)
        header.addWidget(self.status_label)
        header.addStretch(1)
        self.header = header  # the run view puts its Follow button before Pause
        header.addWidget(self.pause_button)
        header.addWidget(self.stop_button)
        details = QHBoxLayout()
        details.addWidget(self.progress_label, 1)
        details.addWidget(self.device_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.progress)
        layout.addLayout(details)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_starting(self, title: str) -> None:
        """A run's worker is being started: its title's lead as the name, the bar busy."""
        self._pending = None
        self._total_steps = self._epochs = self._steps_per_epoch = self._epoch = self._step = 0
        self._started = self._ended = False
        self.progress.setRange(0, 0)  # busy until the first progress
        self.run_label.setText(title.split(" · ")[0])
        self.status_label.setText("starting the worker…")
        self.progress_label.setText("Loading the dataset and building the model…")
        self.device_label.clear()

    def show_following(self, run_id: int) -> None:
        """A run trained elsewhere is about to be read from the store: its id as the name, the bar
        busy until its progress is known."""
        self.show_starting(f"Run {run_id}")
        self.status_label.setText("reading the store…")
        self.progress_label.setText("Reading the run's curves from the store…")

    def show_followed(
        self,
        *,
        run_id: int,
        name: str,
        status: str,
        epochs: int,
        steps_per_epoch: int,
        device: str,
        host: str,
        stopping: bool = False,
    ) -> None:
        """What the store says of a followed run: its name, status, epochs (and steps per epoch, 0
        while unknown), device and machine, and whether it was asked to stop (its progress arrives as
        :meth:`set_progress`, its end as :meth:`show_ended`)."""
        self._steps_per_epoch = steps_per_epoch
        self.run_label.setText(f"Run {run_id} · {name}")
        self._device = device
        where = " · ".join(part for part in (f"on {device}" if device else "", host) if part)
        self.device_label.setText(where)
        if self._ended:
            return
        self._epochs = epochs
        if status == "running":
            if not self._started:
                self._started = True
                self.progress_label.setText(f"{self._where()} · following")
            self.status_label.setText("stopping elsewhere…" if stopping else "running elsewhere")
        elif status == "queued":
            self.status_label.setText("queued elsewhere")
            self.progress_label.setText("The run has not started yet.")

    def show_started(self, event: ev.RunStarted) -> None:
        self._total_steps, self._epochs, self._device = event.total_steps, event.epochs, event.device
        self._steps_per_epoch = event.steps_per_epoch
        self._started = True
        self._step = event.start_step
        self._epoch = self._epoch_at(event.start_step)
        self.run_label.setText(f"Run {event.run_id} · {event.name}")
        self.status_label.setText("running")
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(event.start_step)
        self.progress_label.setText(f"{self._where()} · starting")
        self.device_label.setText(f"on {event.device}")

    def show_paused(self, step: int) -> None:
        """The run paused at ``step``: the bar and the line there (progress from before it dropped)."""
        self._pending = None
        self._at(step)
        self.status_label.setText(f"paused at step {step:,}")
        self.progress_label.setText(f"{self._where()} · paused")

    def show_resumed(self, step: int) -> None:
        self._at(step)
        self.status_label.setText("running")
        self.progress_label.setText(f"{self._where()} · resuming")

    def show_ended(self, status: str, duration_s: float | None = None) -> None:
        """The run ended with ``status``: the status in the page's word (a cancelled run "stopped"), a
        completed run's bar full, a busy bar stopped, and the line says where it ended, in how long,
        with no ETA (progress that arrives later is not shown)."""
        self.flush(force=True)  # the last progress before the end, then no more
        self._ended = True
        word = run_status_title(status)
        self.status_label.setText(word)
        if status == "completed" and self._total_steps:
            self._at(self._total_steps)
        elif self.progress.maximum() == 0 and self._total_steps:
            self._at(self._step)
        elif self.progress.maximum() == 0:  # busy to the end (a followed run's total never known)
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if status == "completed" else 0)
        if not self._started:
            self.progress_label.setText(f"The run {word} before training began.")
            return
        after = {"completed": "in"}.get(status, "after")
        took = f" {after} {format_duration(duration_s)}" if duration_s else ""
        self.progress_label.setText(f"{self._where()} · {word}{took}")

    def set_progress(self, event: ev.ProgressUpdated) -> None:
        """Show ``event`` at the next :meth:`flush` (the latest given wins; none once the run ended)."""
        if not self._ended:
            self._pending = event

    def flush(self, *, force: bool = False) -> None:
        """Show the latest progress, at most every :data:`PROGRESS_INTERVAL_S` unless ``force``."""
        now = time.monotonic()
        if self._pending is not None and (force or now - self._shown_at >= PROGRESS_INTERVAL_S):
            self._shown_at = now
            self._show(self._pending)
            self._pending = None

    def _show(self, event: ev.ProgressUpdated) -> None:
        self._total_steps = event.total_steps
        self._at(event.step, event.epoch)
        eta = "" if event.eta_s is None else f" · ETA {format_duration(event.eta_s)}"
        rate = f" · {event.samples_per_s:,.0f} samples/s" if event.samples_per_s > 0 else ""
        self.progress_label.setText(f"{self._where()}{eta}{rate}")
        if event.memory_bytes:  # a followed run's memory is not in the store: its line stays
            kind = "GPU memory" if self._device.startswith("cuda") else "memory"
            device = f"on {self._device}" if self._device else ""
            self.device_label.setText(f"{device} · {kind} {event.memory_bytes / 2**20:,.0f} MiB")
        elif not self._remote:
            self.device_label.setText(f"on {self._device}" if self._device else "")

    def _at(self, step: int, epoch: int | None = None) -> None:
        """The run is at ``step`` (of ``epoch``; None: the epoch that step falls in): the bar there
        (busy while the total is not known: a followed run's first epoch)."""
        self._step = step
        self._epoch = self._epoch_at(step) if epoch is None else epoch
        if not self._total_steps and self._remote:
            self.progress.setRange(0, 0)
            return
        total = max(1, self._total_steps)
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(min(step, total))

    def _epoch_at(self, step: int) -> int:
        if not self._steps_per_epoch:
            return self._epoch
        epoch = max(1, math.ceil(step / self._steps_per_epoch))
        return min(epoch, self._epochs) if self._epochs else epoch

    def _where(self) -> str:
        """``"Epoch 2/3 · step 30/45"`` (``"step 30"`` while the total is not known)."""
        epochs = f"/{self._epochs}" if self._epochs else ""
        total = f"/{self._total_steps:,}" if self._total_steps else ""
        return f"Epoch {self._epoch}{epochs} · step {self._step:,}{total}"

    def set_controls(self, *, live: bool, paused: bool, stopping: bool, offers_kill: bool) -> None:
        """Pause / Resume and Stop / Kill as the worker allows: ``live`` (it runs), ``paused``,
        ``stopping`` (a stop was asked), ``offers_kill`` (it has not answered the stop). While the run
        shown is followed from the store (:meth:`set_remote`) they are as that says."""
        self._controls = {"live": live, "paused": paused, "stopping": stopping, "offers_kill": offers_kill}
        if self._remote:
            self.pause_button.setEnabled(False)
            self.pause_button.setToolTip(self._remote)
            self.pause_button.setText("Pause")
            self.pause_button.setIcon(icon("pause"))
            can_stop = self._remote_can_stop and not self._remote_stopping
            self.stop_button.setEnabled(can_stop)
            self.stop_button.setText("Stopping…" if self._remote_stopping else "Stop")
            self.stop_button.setIcon(icon("stop"))
            tip = self._remote_stop or self._remote
            self.stop_button.setToolTip(f"{tip} ({keys_text(STOP_KEYS)})" if can_stop else tip)
            return
        self.pause_button.setEnabled(live and not stopping)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(icon("play" if paused else "pause"))
        what = "Resume the run" if paused else "Pause the run after the current step"
        self.pause_button.setToolTip(f"{what} ({keys_text(PAUSE_KEYS)})")
        self.stop_button.setEnabled(live and (not stopping or offers_kill))
        if offers_kill:
            self.stop_button.setText("Kill")
            self.stop_button.setIcon(icon("error"))
            what = "The run does not answer: end its process now (it can be resumed)"
        else:
            self.stop_button.setText("Stopping…" if stopping and live else "Stop")
            self.stop_button.setIcon(icon("stop"))
            what = "Stop after the current step; a final checkpoint is saved"
        self.stop_button.setToolTip(f"{what} ({keys_text(STOP_KEYS)})")

    def set_remote(self, why: str, *, stop: str = "", can_stop: bool = False, stopping: bool = False) -> None:
        """The run shown is trained by another process (``why`` says which, and that a pause cannot
        reach it): Pause is disabled with ``why`` as its tooltip. Stop asks the run to stop through the
        store: enabled when ``can_stop``, with ``stop`` as its tooltip (what it does, or why it cannot;
        ``why`` when empty); ``stopping``: a stop was asked, it reads "Stopping…". ``""``: this window's
        run again, Pause and Stop act on its worker."""
        self._remote = why
        self._remote_stop, self._remote_can_stop, self._remote_stopping = stop, can_stop, stopping
        self.set_controls(**self._controls)
