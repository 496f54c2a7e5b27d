"""One pair at full size: the image (its original file, fit to the window), the whole caption, its
label, split and path; Left / Right (or Page Up / Page Down) step through the items the gallery shows.
"Show augmented" adds a few random views of the image as augmented training batches hold them
(:class:`~mmstudio.ui.datasets.augmented_views.AugmentedViewsWidget`), following the item shown.

The image is decoded in the thread pool (:func:`decode_preview`), at most ``PREVIEW_MAX_SIDE`` pixels a
side; the dialog opens at once and shows it when it comes. Text from the dataset is written by
:func:`mmstudio.formatting.printable_text` (a control character is drawn as an escape, not a box).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.types import ImageRef, Item
from mmstudio.formatting import printable_text
from mmstudio.ui.datasets.augmented_views import AugmentedViewsWidget
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.thumbnails import qimage

PREVIEW_MAX_SIDE = 2048  # the larger view decodes at most this many pixels per side
_CHECKER = 8  # the side of a square of the checkerboard behind transparent pixels


class ImageView(QWidget):
    """An image fit to the widget, aspect ratio kept: shrunk smoothly when it is larger, shown at its
    own size when it fits, and a small image enlarged by a whole factor (at most ``MAX_ZOOM``) so that
    its pixels stay square and sharp; transparent pixels over a checkerboard. A line of text until an
    image is set."""

    MAX_ZOOM = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._text = "Loading…"
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._pixmap, self._text = pixmap, ""
        self.update()

    def set_text(self, text: str) -> None:
        self._pixmap, self._text = None, text
        self.update()

    @property
    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def image_rect(self) -> QRect:
        """Where the image is drawn (empty without one)."""
        pixmap = self._pixmap
        if pixmap is None or pixmap.isNull():
            return QRect()
        size = pixmap.size()
        if size.width() > self.width() or size.height() > self.height():
            size = size.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        else:
            zoom = min(self.width() // size.width(), self.height() // size.height(), self.MAX_ZOOM)
            size = size * max(1, zoom)
        target = QRect(QPoint(0, 0), size)
        target.moveCenter(self.rect().center())
        return target

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        pixmap = self._pixmap
        if pixmap is None or pixmap.isNull():
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        target = self.image_rect()
        if pixmap.hasAlphaChannel():
            _checkerboard(painter, target, palette)
        # Smooth when shrinking; when enlarging (by a whole factor), the pixels as they are.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, target.width() < pixmap.width())
        painter.drawPixmap(target, pixmap)


def _checkerboard(painter: QPainter, rect: QRect, palette: QPalette) -> None:
    """Light and dark squares of the palette's base colour, where transparent pixels will show it."""
    base = palette.color(QPalette.ColorRole.Base)
    other = QColor(base).darker(112) if base.lightness() > 128 else QColor(base).lighter(140)
    painter.fillRect(rect, base)
    painter.save()
    painter.setClipRect(rect)
    for y in range(rect.top(), rect.bottom() + 1, _CHECKER):
        odd = ((y - rect.top()) // _CHECKER) % 2
        for x in range(rect.left() + odd * _CHECKER, rect.right() + 1, 2 * _CHECKER):
            painter.fillRect(x, y, _CHECKER, _CHECKER, other)
    painter.restore()


def decode_preview(state, ref: ImageRef) -> QImage:
    """The original image for the larger view (in a task), at most PREVIEW_MAX_SIDE pixels a side,
    its transparency kept."""
    from mmstudio.data.images import decode_display

    return qimage(decode_display(ref, PREVIEW_MAX_SIDE))


class ItemDialog(QDialog):
    """One pair: the image at full size (fit to the window), the whole caption, label, split and path.

    ``step_requested(-1 | +1)``: the user asked for the previous or the next item (the gallery answers
    with :meth:`show_item`).
    """

    step_requested = Signal(int)

    FIELDS = ("Label", "Split", "Image", "Size", "Row")

    def __init__(self, item: Item, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(True)
        self.image_view = ImageView()
        details = QWidget()
        form = QFormLayout(details)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.caption = QPlainTextEdit()
        self.caption.setReadOnly(True)
        self.caption.setMinimumHeight(60)
        # Selectable with the mouse; the arrow keys are the dialog's (previous / next item).
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        form.addRow("Caption", self.caption)
        self.fields: dict[str, QLabel] = {}
        for name in self.FIELDS:
            label = self.fields[name] = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(name, label)
        self.augmented = AugmentedViewsWidget()
        self.augmented.hide()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.image_view)
        splitter.addWidget(self.augmented)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(2, 1)
        splitter.setCollapsible(1, False)

        self.previous_action = self._step_action("Previous item", -1, "Left", "PgUp")
        self.next_action = self._step_action("Next item", 1, "Right", "PgDown")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for action in (self.previous_action, self.next_action):
            button = buttons.addButton(action.text(), QDialogButtonBox.ButtonRole.ActionRole)
            button.setToolTip(f"{action.text()} ({action.shortcut().toString(QKeySequence.NativeText)})")
            button.setAutoDefault(False)
            button.clicked.connect(action.trigger)
        self.augmented_button = buttons.addButton("Show augmented", QDialogButtonBox.ButtonRole.ActionRole)
        self.augmented_button.setCheckable(True)
        self.augmented_button.setAutoDefault(False)
        self.augmented_button.setToolTip(
            "Random views of this image as training batches hold them with image augmentation on "
            "(the Train page's Augment images)"
        )
        self.augmented_button.toggled.connect(self._on_augmented_button_toggled)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self.resize(760, 680)
        self._task: Task | None = None
        self.item = item
        self.show_item(item)

    def _step_action(self, text: str, step: int, *keys: str) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda: self.step_requested.emit(step))
        self.addAction(action)
        return action

    def show_item(self, item: Item) -> None:
        """Show ``item`` (its image is decoded again, in the background)."""
        self.item = item
        self.setWindowTitle(printable_text(f"Row {item.row} of {item.source}"))
        self.caption.setPlainText(printable_text(item.text, multiline=True))
        values = {
            "Label": printable_text(item.label) if item.label is not None else "(none)",
            "Split": item.split,
            "Image": printable_text(str(item.image)),
            "Size": f"{item.width} × {item.height} px" if item.width else "unknown",
            "Row": printable_text(f"{item.source} row {item.row}"),
        }
        for name, value in values.items():
            self.fields[name].setText(value)
        if self._task is not None:
            self._task.cancel()
        self.image_view.set_text("Loading…")
        self._task = task = run_task(decode_preview, item.image)
        task.succeeded.connect(self._on_task_succeeded)
        task.failed.connect(self._on_task_failed)
        if self.augmented.isVisible():
            self.augmented.show_image(item.image)

    def set_steps(self, previous: bool, following: bool) -> None:
        """Whether there is a previous and a next item to step to."""
        self.previous_action.setEnabled(previous)
        self.next_action.setEnabled(following)
        for button in self.buttons.buttons():
            if button.text() == self.previous_action.text():
                button.setEnabled(previous)
            elif button.text() == self.next_action.text():
                button.setEnabled(following)

    @property
    def loaded(self) -> bool:
        return self._task is not None and self._task.done

    def _on_task_succeeded(self, image: QImage) -> None:
        if self.sender() is self._task:
            self.image_view.set_pixmap(QPixmap.fromImage(image))

    def _on_task_failed(self, message: str, _traceback: str) -> None:
        if self.sender() is self._task:
            self.image_view.set_text(f"The image cannot be shown: {message}")

    def _on_augmented_button_toggled(self, on: bool) -> None:
        self.augmented.setVisible(on)
        if on:
            self.augmented.show_image(self.item.image)
        else:
            self.augmented.cancel()

    def done(self, result: int) -> None:
        if self._task is not None:
            self._task.cancel()
        self.augmented.cancel()
        super().done(result)
