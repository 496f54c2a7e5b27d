"""The window's chrome around the pages: the page bar on the left and the first-start welcome."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.ui.resources import icon


class PageBar(QFrame):
    """The column of page buttons on the left (icon above its name), one checked at a time."""

    current_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pageBar")
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._group.idToggled.connect(self._on_group_id_toggled)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 10, 6, 10)
        self._layout.setSpacing(4)
        self._layout.addStretch(1)

    def add_page(self, name: str, title: str, page_icon, tip: str) -> QToolButton:
        button = QToolButton()
        button.setObjectName(f"page_{name}")
        button.setText(title)
        button.setIcon(page_icon)
        button.setIconSize(QSize(26, 26))
        button.setToolTip(tip)
        button.setCheckable(True)
        button.setAutoRaise(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setMinimumWidth(84)
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self._group.addButton(button, len(self._group.buttons()))
        self._layout.insertWidget(self._layout.count() - 1, button)
        return button

    def count(self) -> int:
        return len(self._group.buttons())

    def title(self, index: int) -> str:
        return self._group.button(index).text()

    def current(self) -> int:
        return self._group.checkedId()

    def set_current(self, index: int) -> None:
        button = self._group.button(index)
        if button.isChecked():
            self.current_changed.emit(index)
        else:
            button.setChecked(True)

    def _on_group_id_toggled(self, index: int, checked: bool) -> None:
        if checked:
            self.current_changed.emit(index)


class WelcomeBanner(QFrame):
    """The first-start offer: an empty store gets the built-in demo dataset in one click, and a first
    start the tour of the pages (:meth:`offer_tour`)."""

    demo_requested = Signal()
    tour_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 10, 10)
        picture = QLabel()
        picture.setPixmap(icon("demo").pixmap(22, 22))
        layout.addWidget(picture)
        text = QLabel(
            "<b>Welcome to mmstudio.</b> Your experiment store is empty: start with the built-in demo "
            "dataset, 3,000 image + caption pairs that only a fused model can classify."
        )
        text.setWordWrap(True)
        layout.addWidget(text, 1)
        self.text = text
        self.demo_button = QPushButton(icon("demo"), "Open the demo dataset")
        self.demo_button.clicked.connect(self.demo_requested)
        layout.addWidget(self.demo_button)
        self.tour_button = QPushButton("Take the tour")
        self.tour_button.clicked.connect(self._on_tour_button_clicked)
        self.tour_button.hide()
        layout.addWidget(self.tour_button)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.hide()

    def offer_tour(self, *, empty_store: bool) -> None:
        """Show the banner with Take the tour (and the demo dataset when the store is empty)."""
        self.tour_button.show()
        self.demo_button.setVisible(empty_store)
        self.text.setText(
            "<b>Welcome to mmstudio.</b> "
            + ("Start with the built-in demo dataset, or see" if empty_store else "New here? See")
            + " what each of the five pages does in a short tour."
        )
        self.show()

    def _on_tour_button_clicked(self) -> None:
        self.hide()
        self.tour_requested.emit()


#: The tour: each page and what it is for, in one sentence (TourBar steps through them).
TOUR_STEPS = (
    ("datasets", "Open a dataset (or create the demo): every row is checked, and you see the pairs, "
     "the problems and the statistics."),
    ("model", "Build the architecture: a text encoder, an image encoder, a fusion and a head, with "
     "each block's shape and size drawn before anything trains."),
    ("train", "Train it: set the hyperparameters and press Start; the run trains in the background "
     "with live plots, and can be paused, stopped and queued."),
    ("experiments", "Every run is kept here, from this window or the command line: sort, tag, "
     "evaluate and export them."),
    ("compare", "Select runs on Experiments and compare them: curves, parameters, confusion matrices, "
     "and how much each modality contributes."),
)  # fmt: skip


class TourBar(QFrame):
    """The tour of the pages, non-modal, across the top of the window: one step per page, one sentence
    each, with Back, Next and Close. ``page_requested`` asks the window for a step's page."""

    page_requested = Signal(str)

    def __init__(self, titles: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeBanner")  # the banner's look
        self._titles = titles
        self.step = 0
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 8, 10, 8)
        self.text = QLabel()
        self.text.setWordWrap(True)
        layout.addWidget(self.text, 1)
        self.back_button = QPushButton("Back")
        self.back_button.clicked.connect(lambda: self.go(self.step - 1))
        layout.addWidget(self.back_button)
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self._on_next_button_clicked)
        layout.addWidget(self.next_button)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("End the tour")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.hide()

    def start(self) -> None:
        self.show()
        self.go(0)

    def go(self, step: int) -> None:
        self.step = max(0, min(step, len(TOUR_STEPS) - 1))
        page, sentence = TOUR_STEPS[self.step]
        self.text.setText(
            f"<b>Tour {self.step + 1} of {len(TOUR_STEPS)}: {self._titles.get(page, page)}.</b> {sentence}"
        )
        self.back_button.setEnabled(self.step > 0)
        last = self.step == len(TOUR_STEPS) - 1
        self.next_button.setText("Done" if last else "Next")
        self.page_requested.emit(page)

    def _on_next_button_clicked(self) -> None:
        if self.step == len(TOUR_STEPS) - 1:
            self.hide()
            self.page_requested.emit(TOUR_STEPS[0][0])  # back where a newcomer starts
        else:
            self.go(self.step + 1)


class NoticeBar(QFrame):
    """A notice across the top of the window with one action (a run that ended while another page was
    shown: "Show the run"), dismissed by its close button, by its action, or after a while."""

    HIDE_AFTER_MS = 30_000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 6, 10, 6)
        self._icon = QLabel()
        layout.addWidget(self._icon)
        self.text = QLabel()
        self.text.setWordWrap(True)
        layout.addWidget(self.text, 1)
        self.action_button = QPushButton()
        self.action_button.clicked.connect(self._on_action_button_clicked)
        layout.addWidget(self.action_button)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self._timer = QTimer(self, singleShot=True, interval=self.HIDE_AFTER_MS)
        self._timer.timeout.connect(self.hide)
        self._act = None
        self.hide()

    def show_notice(self, text: str, action: str, act, *, level: str = "info") -> None:
        """Show ``text`` with a button ``action`` that calls ``act()`` (then the notice goes)."""
        self._icon.setPixmap(icon(level).pixmap(18, 18))
        self.text.setText(text)
        self.action_button.setText(action)
        self._act = act
        self.show()
        self._timer.start()

    def _on_action_button_clicked(self) -> None:
        self.hide()
        if self._act is not None:
            self._act()
