"""The Train page's settings column: what a run would train on, its hyperparameters, Start and Add to
queue with why Start is unavailable, Export launch command…, the queue, and the runs to resume, in a
scroll area whose fields take the mouse wheel only when focused. It lays them out; the page connects
and drives them.

The column can hide (``toggle_action``, whose button is left of the run's name). On a page too
narrow for it and the run side by side (the window at its 720 x 480 minimum) the page shows one at a
time: the column hides when a run starts and comes back when the page is wide again (unless the user
chose otherwise in between); shown by the toggle, it takes the page, and ``run_button`` at its top
goes back to the run."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.training.queue import RunQueue
from mmstudio.ui.resources import icon
from mmstudio.ui.train.resumable import ResumableRunsWidget
from mmstudio.ui.train.run_queue import RunQueueWidget
from mmstudio.ui.train.spec_form import TrainSpecFormWidget
from mmstudio.ui.train.summary import JobSummaryWidget
from mmstudio.ui.widgets import MessageBar, section_label


class SetupColumnWidget(QScrollArea):
    """``summary``, ``form``, ``form_message`` (what became of Start), ``start_message`` (why Start is
    unavailable), ``start_button``, ``queue_button``, ``launch_button`` (Export launch command…),
    ``queue_view`` and ``resumable``, top to bottom;
    as wide as its widest field (never clipped), and as tall as they are (it scrolls)."""

    def __init__(self, queue: RunQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        self.run_button = QToolButton()  # back to the run, on a page too narrow for both
        self.run_button.setIcon(icon("columns"))
        self.run_button.setText("Show the run")
        self.run_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.run_button.setToolTip("Hide the settings: the run takes the page")
        self.run_button.hide()
        layout.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignRight)
        self.summary = JobSummaryWidget()
        layout.addWidget(self.summary)

        layout.addSpacing(4)
        layout.addWidget(section_label("Hyperparameters"))
        self.form = TrainSpecFormWidget()
        layout.addWidget(self.form)
        self.form_message = MessageBar()
        layout.addWidget(self.form_message)
        self.start_message = MessageBar()
        layout.addWidget(self.start_message)
        buttons = QHBoxLayout()
        self.start_button = QPushButton(icon("play"), "Start")
        self.start_button.setDefault(True)
        self.queue_button = QPushButton("Add to queue")
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.queue_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.launch_button = QPushButton(icon("export"), "Export launch command…")  # torchrun, SLURM
        layout.addWidget(self.launch_button, 0, Qt.AlignmentFlag.AlignLeft)

        layout.addSpacing(4)
        layout.addWidget(section_label("Queue"))
        self.queue_view = RunQueueWidget(queue)
        layout.addWidget(self.queue_view)

        layout.addSpacing(4)
        layout.addWidget(section_label("Resume a stopped run"))
        self.resumable = ResumableRunsWidget()
        layout.addWidget(self.resumable)
        layout.addStretch(1)

        self.setWidget(column)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide enough for the form: the page never clips a field (the splitter can widen it further).
        self.setMinimumWidth(
            column.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 4
        )

        self.toggle_action = QAction(icon("columns"), "Settings column", self)
        self.toggle_action.setCheckable(True)
        self.toggle_action.setChecked(True)
        self.toggle_action.setToolTip("Show or hide the settings column (the run then takes the page)")
        self.toggle_action.toggled.connect(self._on_toggle_action_toggled)
        self._hidden_for_run = False
        self.run_button.clicked.connect(lambda: self.toggle_action.setChecked(False))

    def hide_for_run(self) -> None:
        """Make room for a run on a narrow page: hidden until :meth:`show_again` or the toggle."""
        if self.toggle_action.isChecked():
            self.toggle_action.setChecked(False)
            self._hidden_for_run = True

    def show_again(self) -> None:
        """Show the column again if :meth:`hide_for_run` hid it (the user's choice stays)."""
        if self._hidden_for_run:
            self.toggle_action.setChecked(True)

    def _on_toggle_action_toggled(self, _shown: bool) -> None:
        self._hidden_for_run = False  # the page shows or hides the column (one at a time when narrow)
