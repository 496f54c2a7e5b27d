"""The item view's "Show augmented": one pair's image as training reads it, and a few random views of it
at an augmentation level, as a training batch would hold them (:mod:`mmstudio.training.augment` draws
them; this only shows them).

The views are drawn in the thread pool (decoding, and torch's first import, take a moment); the
widget says "Drawing…" meanwhile and keeps only the answer to its latest request.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.types import ImageRef
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.thumbnails import qimage

VIEWS = 7  # augmented views beside the image as training reads it: a grid of 2 x 4
COLUMNS = 4
TILE = 132  # the side of a tile (a 128-pixel view and a little room)
#: The levels offered (as the Train page names them); "none" has nothing to show.
LEVELS = {"light": "light: crop, flip", "strong": "strong: crop, flip, colour, TrivialAugment"}


def augmented_job(state, ref: ImageRef, level: str, flip: bool, seed: int) -> list[QImage]:
    """The image as training reads it, then VIEWS augmented views of it (in a task)."""
    from mmstudio.training.augment import augmented_previews

    image, views = augmented_previews(ref, level, flip=flip, count=VIEWS, seed=seed)
    return [qimage(a) for a in (image, *views)]


class AugmentedViewsWidget(QWidget):
    """The level (light or strong), whether flips are allowed, Draw again, and the grid of views: the
    first is the image as training reads it (decoded and cropped to a square), the others augmented."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level_combo = QComboBox()
        for level, text in LEVELS.items():
            self.level_combo.addItem(text, level)
        self.level_combo.setToolTip(
            "The image augmentation level of the Train page: what each training image may become"
        )
        self.flip_check = QCheckBox("horizontal flips")
        self.flip_check.setChecked(True)
        self.flip_check.setToolTip("As the Train page's choice: flips off for images with text or sides")
        self.again_button = QPushButton("Draw again")
        self.again_button.setToolTip("Draw other random views")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Augmentation"))
        controls.addWidget(self.level_combo)
        controls.addWidget(self.flip_check)
        controls.addStretch(1)
        controls.addWidget(self.again_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        grid = QGridLayout()
        grid.setSpacing(6)
        self.tiles: list[QLabel] = []
        for n in range(VIEWS + 1):
            tile = QLabel()
            tile.setFixedSize(TILE, TILE)
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            tile.setToolTip("As training reads it, before augmentation" if n == 0 else "An augmented view")
            self.tiles.append(tile)
            grid.addWidget(tile, n // COLUMNS, n % COLUMNS)
        grid.setColumnStretch(COLUMNS, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.message)
        layout.addLayout(grid)
        self.ref: ImageRef | None = None
        self.seed = 0
        self._task: Task | None = None
        self._shown: Task | None = None  # the task whose views the tiles show
        self.level_combo.currentIndexChanged.connect(self._on_level_combo_changed)
        self.flip_check.toggled.connect(self._on_flip_check_toggled)
        self.again_button.clicked.connect(self._on_again_button_clicked)

    def show_image(self, ref: ImageRef) -> None:
        """Draw the views of ``ref`` (in the background)."""
        self.ref = ref
        self.redraw()

    def redraw(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.ref is None:
            return
        self.message.setText("Drawing…")
        self._task = task = run_task(
            augmented_job, self.ref, self.level_combo.currentData(), self.flip_check.isChecked(), self.seed
        )
        task.succeeded.connect(self._on_task_succeeded)
        task.failed.connect(self._on_task_failed)

    @property
    def drawn(self) -> bool:
        """Whether the tiles show the answer to the latest request."""
        return self._task is not None and self._shown is self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _on_task_succeeded(self, images: list[QImage]) -> None:
        if self.sender() is not self._task:
            return
        self._shown = self._task
        self.message.setText(
            "First the image as training reads it, then random views of it as batches hold them."
        )
        for tile, image in zip(self.tiles, images, strict=True):
            tile.setPixmap(QPixmap.fromImage(image))

    def _on_task_failed(self, message: str, _traceback: str) -> None:
        if self.sender() is self._task:
            self._shown = self._task
            self.message.setText(f"The augmented views cannot be drawn: {message}")
            for tile in self.tiles:
                tile.clear()

    def _on_level_combo_changed(self, _index: int) -> None:
        self.redraw()

    def _on_flip_check_toggled(self, _on: bool) -> None:
        self.redraw()

    def _on_again_button_clicked(self) -> None:
        self.seed += 1
        self.redraw()
