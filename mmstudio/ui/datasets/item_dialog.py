"""One pair at full size: the image (fit to the window), the whole caption, its label, split and path.

The image is decoded in the thread pool (:func:`decode_preview`); the dialog opens at once and shows
it when it comes.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage, QPainter, QPalette, QPixmap
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
from mmstudio.ui.tasks import run_task
from mmstudio.ui.thumbnails import qimage, unpad

PREVIEW_MAX_SIDE = 2048  # the larger view decodes at most this many pixels per side


class ImageView(QWidget):
    """An image scaled to fit the widget, aspect ratio kept; a line of text until it is set."""

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

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self._pixmap is None or self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        if size.width() > self._pixmap.width() * self.MAX_ZOOM:  # a tiny image: at most 8x, pixels shown
            size = self._pixmap.size() * self.MAX_ZOOM
        target = QRect(QPoint(0, 0), size)
        target.moveCenter(self.rect().center())
        # Smooth when shrinking; when enlarging, show the pixels as they are (what the model sees).
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, size.width() < self._pixmap.width())
        painter.drawPixmap(target, self._pixmap)


def decode_preview(state, ref: ImageRef, width: int, height: int) -> QImage:
    """The image for the larger view (in a task): full size, or at most PREVIEW_MAX_SIDE per side."""
    from mmstudio.data.images import decode_rgb

    if max(width, height) <= PREVIEW_MAX_SIDE:
        return qimage(decode_rgb(ref))
    # decode_rgb(size=...) letterboxes into a square (and uses JPEG draft decoding): cut the bars off.
    return unpad(qimage(decode_rgb(ref, PREVIEW_MAX_SIDE, fit="pad")), width, height)


class ItemDialog(QDialog):
    """One pair: the image at full size (fit to the window), the whole caption, label, split and path."""

    def __init__(self, item: Item, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setWindowTitle(f"Row {item.row} of {item.source}")
        self.setSizeGripEnabled(True)
        self.image_view = ImageView()
        details = QWidget()
        form = QFormLayout(details)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.caption = QPlainTextEdit(item.text)
        self.caption.setReadOnly(True)
        self.caption.setMinimumHeight(60)
        form.addRow("Caption", self.caption)
        for name, value in (
            ("Label", item.label if item.label is not None else "(none)"),
            ("Split", item.split),
            ("Image", str(item.image)),
            ("Size", f"{item.width} × {item.height} px" if item.width else "unknown"),
            ("Row", f"{item.source} row {item.row}"),
        ):
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(name, label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.image_view)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self.resize(760, 680)
        self._task = run_task(decode_preview, item.image, item.width, item.height)
        self._task.succeeded.connect(self._on_task_succeeded)
        self._task.failed.connect(self._on_task_failed)

    @property
    def loaded(self) -> bool:
        return self._task.done

    def _on_task_succeeded(self, image: QImage) -> None:
        self.image_view.set_pixmap(QPixmap.fromImage(image))

    def _on_task_failed(self, message: str, _traceback: str) -> None:
        self.image_view.set_text(f"The image cannot be shown: {message}")

    def done(self, result: int) -> None:
        self._task.cancel()
        super().done(result)
