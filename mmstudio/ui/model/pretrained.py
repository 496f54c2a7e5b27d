"""A pretrained encoder's model on the Model page: suggested models, whether the chosen one is on this
machine, and a Download button with a progress bar and Cancel.

:class:`PretrainedModelWidget` sits in an encoder's section (under its parameters) and only shows;
:class:`PretrainedController` does the work in the thread pool: each model's status
(:func:`mmstudio.models.suggested.model_status`, which may hash a folder's weights, so never on the GUI
thread; kept per reference until a download changes it), the list of cached models, and the downloads
(:func:`mmstudio.models.suggested.download`, cancellable). The catalogue and the wording are the
core's (:mod:`mmstudio.models.suggested`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mmstudio.ui.param_form import HintLabel
from mmstudio.ui.tasks import Task, run_task

STATUS_DELAY_MS = 250  # a model name being typed is looked up once the typing pauses
LEVELS = {
    "cached": "ok",
    "imported": "ok",
    "local": "ok",
    "missing": "missing",
    "error": "error",
    "empty": "",
}


def _hint() -> HintLabel:
    label = HintLabel()
    label.setObjectName("hint")
    return label


class PretrainedModelWidget(QWidget):
    """Suggested models (with parameters, download size, licence and whether cached), the chosen
    model's status, and Download / Cancel with a progress bar. Emits :attr:`model_chosen` (a
    suggestion picked), :attr:`download_clicked` and :attr:`cancel_clicked`."""

    model_chosen = Signal(str)
    download_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pretrainedModel")
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 2, 0, 4)
        column.setSpacing(4)
        self.combo = QComboBox()
        self.combo.setObjectName("suggestedCombo")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(16)
        self.combo.setToolTip("Pretrained models that work here; those on this machine are marked cached")
        self._model = QStandardItemModel(self.combo)
        self.combo.setModel(self._model)
        self.combo.view().setMinimumWidth(460)
        self.combo.activated.connect(self._on_combo_activated)
        column.addWidget(self.combo)
        self.status = _hint()
        self.status.setObjectName("pretrainedStatus")
        column.addWidget(self.status)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.button = QPushButton("Download")
        self.button.setObjectName("downloadButton")
        self.button.clicked.connect(self._on_button_clicked)
        self.button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        row.addWidget(self.button)
        self.progress = QProgressBar()
        self.progress.setObjectName("downloadProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        row.addWidget(self.progress, 1)
        row.addStretch(0)
        column.addLayout(row)
        self.progress_text = _hint()
        self.progress_text.setObjectName("downloadText")
        column.addWidget(self.progress_text)
        self._downloading = False
        self._state = ""
        self.set_downloading(False)

    # --- what it shows ---------------------------------------------------------------------------------

    def set_choices(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """``(id, label, tooltip)`` per suggested or cached model; an empty list hides the combo."""
        with QSignalBlocker(self.combo):
            self._model.clear()
            first = QStandardItem("Suggested and cached models…")
            first.setEnabled(False)
            self._model.appendRow(first)
            for ident, label, tip in rows:
                item = QStandardItem(label)
                item.setData(ident, Qt.ItemDataRole.UserRole)
                item.setToolTip(tip)
                self._model.appendRow(item)
            self.combo.setCurrentIndex(0)
        self.combo.setVisible(bool(rows))

    def choices(self) -> list[str]:
        return [
            self.combo.itemData(i, Qt.ItemDataRole.UserRole)
            for i in range(1, self.combo.count())
            if self.combo.itemData(i, Qt.ItemDataRole.UserRole)
        ]

    def choice_label(self, ident: str) -> str:
        index = self.combo.findData(ident, Qt.ItemDataRole.UserRole)
        return self.combo.itemText(index) if index >= 0 else ""

    def show_status(self, state: str, text: str, can_download: bool) -> None:
        """The model's status (``state`` as :class:`~mmstudio.models.suggested.ModelStatus` names it)."""
        self._state = state
        self.status.setText(text)
        self.status.setProperty("level", LEVELS.get(state, ""))
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self._can_download = can_download
        if not self._downloading:
            self.set_downloading(False)

    def state(self) -> str:
        return self._state

    def set_downloading(self, downloading: bool) -> None:
        self._downloading = downloading
        self.progress.setVisible(downloading)
        self.progress_text.setVisible(downloading)
        if downloading:
            self.button.setText("Cancel")
            self.button.setToolTip("Stop the download (the files already fetched are kept)")
            self.button.setEnabled(True)
            self.button.show()
            return
        can = getattr(self, "_can_download", False)
        self.button.setText("Download")
        self.button.setToolTip(
            "Fetch this model onto this machine (only its safetensors weights, configs and tokenizer)"
        )
        self.button.setEnabled(can)
        self.button.setVisible(can)
        self.progress.setValue(0)
        self.progress_text.clear()

    def is_downloading(self) -> bool:
        return self._downloading

    def show_progress(self, fraction: float, message: str) -> None:
        if fraction >= 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(fraction * 1000))
        if message:
            self.progress_text.setText(message)

    # --- clicks -------------------------------------------------------------------------------------

    def _on_combo_activated(self, index: int) -> None:
        ident = self.combo.itemData(index, Qt.ItemDataRole.UserRole)
        with QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(0)
        if ident:
            self.model_chosen.emit(ident)

    def _on_button_clicked(self) -> None:
        if self._downloading:
            self.cancel_clicked.emit()
        else:
            self.download_clicked.emit()


def _status_job(_state: Any, ref: str) -> Any:
    from mmstudio.models import suggested

    return suggested.model_status(ref)


def _cached_job(_state: Any) -> list[str]:
    from mmstudio.models import suggested

    return suggested.cached_choices("any")


def _download_job(state: Any, ref: str) -> Any:
    from mmstudio.models import suggested

    return suggested.download(state, ref)


class PretrainedController(QObject):
    """Statuses, the cached list and downloads, in the thread pool; see the module docstring.

    :meth:`watch` says which model a slot shows; :attr:`status_ready` answers (at once when the
    status is known). :meth:`download` / :meth:`cancel` run one download per slot, reported by
    :attr:`download_progressed` and :attr:`download_finished` (slot, ok, message: "" when it
    succeeded, the reason otherwise, "cancelled" when the user stopped it).
    """

    status_ready = Signal(str, object)  # slot, ModelStatus
    cached_listed = Signal(object)  # [id, ...]
    download_progressed = Signal(str, float, str)  # slot, fraction, message
    download_finished = Signal(str, bool, str)  # slot, ok, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._statuses: dict[str, Any] = {}  # ref -> ModelStatus
        self._watched: dict[str, str] = {}  # slot -> ref
        self._looking: dict[str, Task] = {}  # ref -> its status task
        self._downloads: dict[str, tuple[str, Task]] = {}  # slot -> (ref, task)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(STATUS_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._listing: Task | None = None
        self.cached: list[str] = []

    def is_busy(self) -> bool:
        return bool(self._looking) or self._timer.isActive() or self._listing is not None

    def list_cached(self) -> None:
        """Look up the models on this machine (once at a time)."""
        if self._listing is not None:
            return
        self._listing = run_task(_cached_job)
        self._listing.succeeded.connect(self._on_listing_succeeded)
        self._listing.finished.connect(self._on_listing_finished)

    def watch(self, slot: str, ref: str | None) -> None:
        """Slot ``slot`` shows model ``ref`` (None: no pretrained model)."""
        if ref is None:
            self._watched.pop(slot, None)
            return
        if self._watched.get(slot) == ref and ref in self._statuses:
            return
        self._watched[slot] = ref
        if ref in self._statuses:
            self.status_ready.emit(slot, self._statuses[ref])
        else:
            self._timer.start()

    def status(self, ref: str) -> Any:
        return self._statuses.get(ref)

    def forget(self, ref: str | None = None) -> None:
        """Look ``ref`` (None: every model) up again the next time it is shown."""
        if ref is None:
            self._statuses.clear()
        else:
            self._statuses.pop(ref, None)

    def refresh(self) -> None:
        """Look up every watched model again (after a download, or when the page is shown)."""
        self.forget()
        self._timer.start()

    def downloading(self, slot: str) -> str | None:
        entry = self._downloads.get(slot)
        return entry[0] if entry else None

    def download(self, slot: str, ref: str) -> None:
        if slot in self._downloads:
            return
        task = run_task(_download_job, ref)
        task.slot = slot  # type: ignore[attr-defined]
        self._downloads[slot] = (ref, task)
        task.progressed.connect(self._on_download_task_progressed)
        task.succeeded.connect(self._on_download_task_succeeded)
        task.failed.connect(self._on_download_task_failed)
        task.cancelled.connect(self._on_download_task_cancelled)

    def cancel(self, slot: str | None = None) -> None:
        """Cancel the download of ``slot`` (None: all of them)."""
        for key, (_ref, task) in list(self._downloads.items()):
            if slot is None or key == slot:
                task.cancel()

    # --- the tasks ----------------------------------------------------------------------------------

    def _on_timer_timeout(self) -> None:
        for ref in set(self._watched.values()):
            if ref in self._statuses or ref in self._looking:
                continue
            task = run_task(_status_job, ref)
            task.ref = ref  # type: ignore[attr-defined]
            self._looking[ref] = task
            task.succeeded.connect(self._on_status_task_succeeded)
            task.failed.connect(self._on_status_task_failed)
            task.finished.connect(self._on_status_task_finished)

    def _on_status_task_succeeded(self, status: Any) -> None:
        self._on_status_succeeded(self.sender().ref, status)

    def _on_status_task_failed(self, message: str, _details: str) -> None:
        self._on_status_failed(self.sender().ref, message)

    def _on_status_task_finished(self) -> None:
        self._looking.pop(self.sender().ref, None)

    def _on_download_task_progressed(self, fraction: float, message: str) -> None:
        self.download_progressed.emit(self.sender().slot, fraction, message)

    def _on_download_task_succeeded(self, _pulled: Any) -> None:
        self._on_download_done(self.sender().slot, True, "")

    def _on_download_task_failed(self, message: str, _details: str) -> None:
        self._on_download_done(self.sender().slot, False, message)

    def _on_download_task_cancelled(self) -> None:
        self._on_download_done(self.sender().slot, False, "cancelled")

    def _on_status_succeeded(self, ref: str, status: Any) -> None:
        self._statuses[ref] = status
        self._emit_status(ref, status)

    def _on_status_failed(self, ref: str, message: str) -> None:
        from mmstudio.models.suggested import ModelStatus

        self._emit_status(ref, ModelStatus(ref, "error", message))

    def _emit_status(self, ref: str, status: Any) -> None:
        for slot, watched in list(self._watched.items()):
            if watched == ref:
                self.status_ready.emit(slot, status)

    def _on_listing_succeeded(self, ids: list[str]) -> None:
        self.cached = list(ids)
        self.cached_listed.emit(list(ids))

    def _on_listing_finished(self) -> None:
        self._listing = None

    def _on_download_done(self, slot: str, ok: bool, message: str) -> None:
        ref, _task = self._downloads.pop(slot, (None, None))
        if ref is not None:
            self.forget(ref)
        self.download_finished.emit(slot, ok, message)
        if ok:
            self.list_cached()
        if ref is not None:
            self._timer.start()
