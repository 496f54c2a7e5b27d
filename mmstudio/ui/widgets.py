"""Small widgets the pages share: the empty state, a section header, an inline message, and the guard
that keeps the mouse wheel from changing a form's fields while the page is scrolled."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFont, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mmstudio.ui.resources import icon


class EmptyState(QWidget):
    """A page with nothing to show yet: an icon, a title, a sentence and the actions that fill it."""

    def __init__(self, icon_name: str, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        picture = QLabel()
        picture.setPixmap(icon(icon_name).pixmap(72, 72))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(picture)
        self.title = QLabel(title)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.title)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setMinimumWidth(360)
        self.text.setMaximumWidth(560)
        self.text.setObjectName("emptyStateText")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.text)
        row.addStretch(1)
        layout.addLayout(row)
        self._buttons = QHBoxLayout()
        self._buttons.addStretch(1)
        self._buttons.addStretch(1)
        layout.addSpacing(8)
        layout.addLayout(self._buttons)
        layout.addStretch(2)

    def add_action(self, text: str, slot: Callable[[], object], *, default: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.setDefault(default)
        button.setAutoDefault(default)
        button.clicked.connect(slot)
        self._buttons.insertWidget(self._buttons.count() - 1, button)
        return button


class BusyState(QWidget):
    """A page still getting ready: a line saying what it waits for, over a busy bar."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.addStretch(1)
        self.label = QLabel(text)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(self.label)
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setMaximumWidth(240)
        busy.setTextVisible(False)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(busy)
        row.addStretch(1)
        column.addLayout(row)
        column.addStretch(2)


def section_label(text: str) -> QLabel:
    """A bold caption above a group of controls."""
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


class MessageBar(QFrame):
    """An inline message (info, warning or error) with word wrap; hidden when empty."""

    LEVELS = ("info", "warning", "error")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        self._icon = QLabel()
        self._icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self._icon)
        layout.addWidget(self.label, 1)
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        if level not in self.LEVELS:
            raise ValueError(f"level must be one of {self.LEVELS}")
        if not text:
            self.clear()
            return
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self._icon.setPixmap(icon(level).pixmap(16, 16))
        self.label.setText(text)
        self.show()

    def clear(self) -> None:
        self.label.clear()
        self.hide()

    def error(self) -> str:
        """The error shown, ``""`` when none is."""
        return self.label.text() if self.isVisible() and self.property("level") == "error" else ""


class WheelGuard(QObject):
    """Fields (spin boxes, combo boxes, sliders) take the mouse wheel only when they have the focus, as
    in Qt Creator's settings: scrolling a form never changes a value by accident. Over a field without
    the focus the wheel scrolls the scroll area the field is in (without one, the field's parent gets
    the event, as for any widget that ignores it). One guard serves any number of fields::

        guard = WheelGuard(self)
        guard.guard(self.epochs_spin, self.optimizer_combo)
    """

    def guard(self, *fields: QWidget) -> None:
        """Let ``fields`` take the wheel only when focused; they take the focus by a click or Tab,
        never by the wheel."""
        for field in fields:
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            field.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return super().eventFilter(watched, event)
        assert isinstance(event, QWheelEvent)
        area = scroll_area_of(watched)
        if area is None:
            event.ignore()  # Qt offers an ignored wheel event to the parents
            return True
        scroll_with_wheel(area, event)
        return True


def scroll_with_wheel(area: QAbstractScrollArea, event: QWheelEvent) -> None:
    """Scroll ``area`` by the wheel ``event`` that a widget inside it received (and accept it)."""
    viewport = area.viewport()
    forwarded = QWheelEvent(
        viewport.mapFromGlobal(event.globalPosition()),
        event.globalPosition(),
        event.pixelDelta(),
        event.angleDelta(),
        event.buttons(),
        event.modifiers(),
        event.phase(),
        event.inverted(),
    )
    QApplication.sendEvent(viewport, forwarded)
    event.accept()


def scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    """The nearest scroll area whose viewport holds ``widget``, or None."""
    child, parent = widget, widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and parent.viewport() is child:
            return parent
        child, parent = parent, parent.parentWidget()
    return None


def align_form_labels(*groups: QGroupBox) -> None:
    """One label width for the forms of every group, so the fields line up down a dialog."""
    labels = []
    for group in groups:
        form = group.layout()
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                labels.append(item.widget())
    width = max(label.sizeHint().width() for label in labels)
    for label in labels:
        label.setMinimumWidth(width)
