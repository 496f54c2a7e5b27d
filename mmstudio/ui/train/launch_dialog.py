"""The Train page's Export launch command…: the job the form describes, as the files that train it on
other machines with ``torchrun`` or SLURM (:mod:`mmstudio.training.launch` makes them; this dialog
only edits the layout and shows the result).

It asks for the processes per node (one per GPU: this machine's CUDA devices by default), the nodes,
the store the runs go to (the app's), the SLURM options (folded away until wanted) and the folder; it
shows the torchrun command with Copy, and what would go wrong on a cluster. Export writes the folder
in the thread pool (a network folder may be slow) and says where.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio import paths
from mmstudio.formatting import sentence
from mmstudio.training.launch import (
    DEFAULT_PORT,
    LAUNCH_FILE,
    RDZV_HOST_ENV,
    SBATCH_FILE,
    LaunchLayout,
    LaunchPlan,
    SlurmOptions,
    default_launch_folder,
    plan_launch,
)
from mmstudio.training.spec import RunJob
from mmstudio.ui.resources import icon
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.widgets import MessageBar, WheelGuard, align_form_labels, section_label


def _write_job(_state, plan: LaunchPlan) -> list[Path]:
    return plan.write()


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def _spin(low: int, high: int, value: int, special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    if special:
        spin.setSpecialValueText(special)  # shown at the minimum
    return spin


class LaunchDialog(QDialog):
    """Export launch command… for ``job`` into the store ``store_url``; ``gpus``: this machine's CUDA
    devices (the processes per node it starts with). ``exported(folder)`` once the files are written."""

    exported = Signal(object)

    def __init__(
        self,
        job: RunJob,
        store_url: str,
        *,
        gpus: int = 0,
        folder: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export launch command")
        self.setObjectName("launchDialog")
        self.job = job
        self.plan: LaunchPlan | None = None
        self._write_task: Task | None = None
        self._fit_pending = False
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(
            _hint(
                f"Train “{job.title}” with torchrun: Export writes its spec, {LAUNCH_FILE} (here or on "
                f"every node) and {SBATCH_FILE}; the runs land in the store below."
            )
        )
        guard = WheelGuard(self)

        # --- where it trains
        where = QGroupBox("Processes")
        form = QFormLayout(where)
        self.nproc_spin = _spin(1, 1024, max(1, gpus))
        self.nproc_spin.setToolTip("One process per GPU; on CPUs, one per few cores")
        form.addRow("Processes per node", self.nproc_spin)
        self.nodes_spin = _spin(1, 4096, 1)
        self.nodes_spin.setToolTip(
            "One node runs torchrun --standalone; several meet at a c10d rendezvous on the first (under "
            "SLURM, the job's first node)"
        )
        form.addRow("Nodes", self.nodes_spin)
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText(f"its host name, or {RDZV_HOST_ENV} on each node")
        self.port_spin = _spin(1, 65535, DEFAULT_PORT)
        self.port_spin.setToolTip("The rendezvous port on the first node (SLURM jobs use it too)")
        form.addRow("First node", _row(self.host_edit, QLabel("port"), self.port_spin))
        layout.addWidget(where)

        # --- the store
        store = QGroupBox("Store")
        form = QFormLayout(store)
        self.store_edit = QLineEdit(store_url)
        self.store_edit.setClearButtonEnabled(True)
        form.addRow("Runs are saved in", self.store_edit)
        form.addRow(
            _hint(
                "Every node must reach it (PostgreSQL for a team); a URL with a password is left to "
                "MMSTUDIO_DB."
            )
        )
        layout.addWidget(store)

        # --- SLURM, folded away
        self.slurm_button = QToolButton()
        self.slurm_button.setText("SLURM options")
        self.slurm_button.setCheckable(True)
        self.slurm_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.slurm_button.setArrowType(Qt.ArrowType.RightArrow)
        self.slurm_button.setAutoRaise(True)
        self.slurm_button.toggled.connect(self._on_slurm_button_toggled)
        layout.addWidget(self.slurm_button)
        self.slurm_group = QGroupBox()
        form = QFormLayout(self.slurm_group)
        self.partition_edit = QLineEdit()
        self.partition_edit.setPlaceholderText("the default")
        self.account_edit = QLineEdit()
        self.account_edit.setPlaceholderText("the default")
        form.addRow("Partition", _row(self.partition_edit, QLabel("Account"), self.account_edit, even=True))
        self.gpus_spin = _spin(0, 1024, gpus, "none")
        self.cpus_spin = _spin(0, 100_000, 0, "the default")
        self.cpus_spin.setToolTip("CPUs for each node's torchrun and its processes (--cpus-per-task)")
        form.addRow("GPUs per node", _row(self.gpus_spin, QLabel("CPUs per node"), self.cpus_spin, even=True))
        self.time_edit = QLineEdit()
        self.time_edit.setPlaceholderText("the default; e.g. 04:00:00, or 1-12 for days-hours")
        form.addRow("Time limit", self.time_edit)
        self.slurm_group.hide()
        layout.addWidget(self.slurm_group)

        # --- the folder
        files = QGroupBox("Files")
        form = QFormLayout(files)
        self.folder_edit = QLineEdit(str(folder or default_launch_folder(job)))
        browse = QPushButton("Browse…")
        browse.setAutoDefault(False)  # Return exports; only a click browses
        browse.clicked.connect(self._on_browse_clicked)
        form.addRow("Folder", _row(self.folder_edit, browse))
        form.addRow(
            _hint("Paths are absolute: a folder every node sees at the same path, or edit them there.")
        )
        layout.addWidget(files)
        align_form_labels(where, store, self.slurm_group, files)

        # --- the command
        head = QHBoxLayout()
        head.addWidget(section_label("Command"))
        head.addStretch(1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setAutoDefault(False)
        self.copy_button.setToolTip("Copy the torchrun command to the clipboard")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        head.addWidget(self.copy_button)
        layout.addLayout(head)
        self.command_view = QPlainTextEdit()
        self.command_view.setReadOnly(True)
        self.command_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        lines = self.command_view.fontMetrics().lineSpacing()
        self.command_view.setFixedHeight(lines * 4 + 12)
        layout.addWidget(self.command_view)
        self.message = MessageBar()  # the warnings, or why nothing can be exported
        layout.addWidget(self.message)
        self.result = MessageBar()  # where the files went
        layout.addWidget(self.result)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setIcon(icon("export"))
        self.export_button.clicked.connect(self.export)  # the dialog stays open: it says where they went
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.export_button.setDefault(True)  # once in the dialog: Return exports
        self.setMinimumWidth(680)

        guard.guard(self.nproc_spin, self.nodes_spin, self.port_spin, self.gpus_spin, self.cpus_spin)
        for spin in (self.nproc_spin, self.nodes_spin, self.port_spin, self.gpus_spin, self.cpus_spin):
            spin.valueChanged.connect(self.refresh)
        for edit in (
            self.host_edit,
            self.store_edit,
            self.partition_edit,
            self.time_edit,
            self.account_edit,
            self.folder_edit,
        ):
            edit.textChanged.connect(self.refresh)
        self.refresh()

    # --- the plan ---------------------------------------------------------------------------------

    def launch_layout(self) -> LaunchLayout:
        """The fields as a :class:`LaunchLayout` (raises ``ValueError`` naming a bad one)."""
        slurm = SlurmOptions(
            partition=self.partition_edit.text(),
            time=self.time_edit.text(),
            account=self.account_edit.text(),
            gpus_per_node=self.gpus_spin.value(),
            cpus_per_task=self.cpus_spin.value(),
        )
        return LaunchLayout(
            nproc_per_node=self.nproc_spin.value(),
            nnodes=self.nodes_spin.value(),
            port=self.port_spin.value(),
            rdzv_host=self.host_edit.text(),
            slurm=slurm,
        )

    def refresh(self) -> None:
        """Make the plan from the fields again: the command, the warnings, or why there is none."""
        several = self.nodes_spin.value() > 1
        self.host_edit.setEnabled(several)
        self.port_spin.setEnabled(several)
        self.result.clear()
        try:
            folder = self.folder_edit.text().strip()
            if not folder:
                raise ValueError("Choose a folder for the files")
            self.plan = plan_launch(self.job, self.store_edit.text(), self.launch_layout(), folder)
        except ValueError as exc:
            self.plan = None
            self.command_view.setPlainText("")
            self.message.show_message(sentence(str(exc)), "error")
        else:
            self.command_view.setPlainText(self.plan.command)
            notes = list(self.plan.warnings)
            if self.plan.store_from_env:
                notes.insert(
                    0,
                    f"The store's URL holds a password, so the command and the files leave it out: set "
                    f"MMSTUDIO_DB to it ({self.plan.store}) where they run.",
                )
            if notes:
                text = notes[0] if len(notes) == 1 else "\n".join(f"• {note}" for note in notes)
                self.message.show_message(text, "warning" if self.plan.warnings else "info")
            else:
                self.message.clear()
        ready = self.plan is not None
        self.export_button.setEnabled(ready and not self.writing)
        self.copy_button.setEnabled(ready)
        self.export_button.setToolTip("" if ready else self.message.label.text())

    @property
    def command(self) -> str:
        """The torchrun command shown ('' when the fields make none)."""
        return self.plan.command if self.plan is not None else ""

    @property
    def writing(self) -> bool:
        return self._write_task is not None and not self._write_task.done

    # --- actions ------------------------------------------------------------------------------------

    def export(self) -> Task | None:
        """Write the files (in the thread pool); ``exported(folder)`` when they are. Returns the task."""
        if self.plan is None or self.writing:
            return None
        self.export_button.setEnabled(False)
        task = run_task(_write_job, self.plan)
        # Bound methods, not lambdas: Qt drops them with this dialog if it closes first.
        task.succeeded.connect(self._on_write_task_succeeded)
        task.failed.connect(self._on_write_task_failed)
        task.finished.connect(self._on_write_task_finished)
        self._write_task = task
        return task

    def _on_write_task_succeeded(self, written: list[Path]) -> None:
        folder = written[0].parent
        self.result.show_message(
            f"Written to {folder}: run bash {folder / LAUNCH_FILE} here (or on each node), or submit "
            f"sbatch {folder / SBATCH_FILE}.",
            "info",
        )
        self.exported.emit(folder)

    def _on_write_task_failed(self, message: str, _details: str) -> None:
        self.result.show_message(f"The files could not be written: {message}", "error")

    def _on_write_task_finished(self) -> None:
        self.export_button.setEnabled(self.plan is not None and not self.writing)

    def _on_copy_button_clicked(self) -> None:
        if not self.command:
            return
        QGuiApplication.clipboard().setText(self.command)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self, self._on_copied_timeout)  # gone with the dialog

    def _on_copied_timeout(self) -> None:
        self.copy_button.setText("Copy")

    def _on_browse_clicked(self) -> None:
        current = self.folder_edit.text().strip() or str(paths.data_dir())
        folder = QFileDialog.getExistingDirectory(self, "Folder for the launch files", current)
        if folder:
            self.folder_edit.setText(folder)

    def _on_slurm_button_toggled(self, shown: bool) -> None:
        self.slurm_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.slurm_group.setVisible(shown)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the content at this width: wrapped text (the hints, the warnings) needs more
        height when the dialog is narrower or says more, which a window's minimum size does not
        follow by itself; nothing in the dialog grows, so it is never taller either."""
        self._fit_pending = False
        self.layout().activate()
        needed = self.layout().totalHeightForWidth(self.width())
        self.setMinimumHeight(needed)
        self.resize(self.width(), needed)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        # A message shown or hidden, a group folded, text that wraps anew: fit once the layout is done.
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize) and not self._fit_pending:
            self._fit_pending = True
            QTimer.singleShot(0, self, self._fit_height)
        return handled


def _row(*widgets: QWidget, even: bool = False) -> QWidget:
    """``widgets`` side by side: the first takes the room left (``even``: the fields share it)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for n, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if n == 0 or (even and not isinstance(widget, QLabel)) else 0)
    return row
