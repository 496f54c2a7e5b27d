"""Test items in the Compare page: the items of a confusion cell and those the runs disagree on, each
with its thumbnail, its text, its true label and what each run predicted.

:class:`ExamplesController` reads a run's dataset again off the GUI thread (once per dataset: the
item indices of its stored predictions point into it; :func:`mmstudio.training.resume.load_recorded`
finds it) and fills the two :class:`ExamplesWidget` lists, adding thumbnails as they are decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QSize, Signal
from PySide6.QtGui import QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from mmstudio.formatting import plural
from mmstudio.store import report
from mmstudio.store.compare import Comparison, run_label
from mmstudio.store.handle import StoreHandle
from mmstudio.ui.compare.jobs import load_items_job
from mmstudio.ui.tasks import Task
from mmstudio.ui.widgets import section_label

MAX_EXAMPLES = 300  # examples listed at most for a cell or the disagreement gallery
THUMB = 72


class ExamplesWidget(QWidget):
    """A list of test items: thumbnail, text, true label and what each run predicted."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = section_label(title)
        layout.addWidget(self.title)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setObjectName("hint")
        layout.addWidget(self.caption)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(False)
        self.list.setSpacing(2)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        layout.addWidget(self.list, 1)
        self._by_ref: dict[Any, list[tuple[QListWidgetItem, Any]]] = {}

    def count(self) -> int:
        return self.list.count()

    def set_examples(self, caption: str, rows: Sequence[tuple[Any, str]], thumbnail: Callable[[Any], Any]):
        """``rows`` are ``(dataset Item or None, text)``; ``thumbnail(item)`` is a pixmap or None."""
        self.caption.setText(caption)
        self.list.clear()
        self._by_ref.clear()
        blank = QPixmap(THUMB, THUMB)
        blank.fill(self.list.palette().color(QPalette.ColorRole.AlternateBase))
        for item, text in rows:
            entry = QListWidgetItem(text)
            pixmap = thumbnail(item) if item is not None else None
            entry.setIcon(QIcon(pixmap if pixmap is not None and not pixmap.isNull() else blank))
            if item is not None:
                self._by_ref.setdefault(item.image, []).append((entry, item))
            self.list.addItem(entry)

    def thumbnail_arrived(self, ref: Any, thumbnail: Callable[[Any], Any]) -> None:
        entries = self._by_ref.get(ref)
        if not entries:
            return
        pixmap = thumbnail(entries[0][1])  # cached now: no new request
        for entry, _item in entries:
            if pixmap is not None and not pixmap.isNull():
                entry.setIcon(QIcon(pixmap))


class ExamplesController(QObject):
    """Fills ``cell`` (a confusion cell's items) and ``gallery`` (the disagreements) for the current
    comparison. ``start(fn, *args, succeeded=...)`` runs a job for the current comparison (the page's
    tasks: a newer comparison drops its result); ``store()`` gives the store handle and URL to read."""

    shown = Signal(int)  # how many items a confusion cell lists
    warned = Signal(str)  # the run's dataset is gone or changed

    def __init__(
        self,
        parent: QObject,
        start: Callable[..., Task],
        store: Callable[[], tuple[StoreHandle, str | None]],
        cell: ExamplesWidget,
        gallery: ExamplesWidget,
    ) -> None:
        super().__init__(parent)
        from mmstudio.ui.thumbnails import ThumbnailLoader

        self._start = start
        self._store = store
        self.cell = cell
        self.gallery = gallery
        self.comparison: Comparison | None = None
        self.items: dict[int, list] = {}  # dataset id -> items
        self._loading: set[int] = set()
        self._last_cell: tuple[int, str, str] | None = None
        self._gallery_filled = False
        self._thumbs = ThumbnailLoader(self, size=THUMB)
        self._thumbs.thumbnail_ready.connect(self._on_thumbs_thumbnail_ready)

    def reset(self) -> None:
        """Other runs are coming: their loads were cancelled, no cell is shown."""
        self._loading.clear()
        self._last_cell = None
        self._gallery_filled = False

    def forget_items(self) -> None:
        """Another store: its datasets are other ones."""
        self.items.clear()

    def set_comparison(self, c: Comparison) -> None:
        self.comparison = c
        self._gallery_filled = False

    def is_busy(self) -> bool:
        return self._thumbs.pending_count() > 0

    def drop_queued(self) -> None:
        self._thumbs.drop_queued()

    def shutdown(self) -> None:
        self._thumbs.shutdown()

    def show_cell(self, run_id: int, true_label: str, predicted_label: str) -> None:
        """List the test items of ``run_id`` with this true and predicted label (a confusion cell)."""
        c = self.comparison
        if c is None:
            return
        self._last_cell = (run_id, true_label, predicted_label)
        examples = c.examples(run_id, true_label, predicted_label)
        run = next(r for r in c.runs if r.id == run_id)
        items = self._dataset_items(run.id, run.dataset_id)
        rows = [self._row(c, p.item_index, items) for p in examples[:MAX_EXAMPLES]]
        shown = (
            f"the first {len(rows):,} of {plural(len(examples), 'item')}"
            if len(examples) > len(rows)
            else plural(len(examples), "item")
        )
        caption = f"{run_label(run)}: true {true_label}, predicted {predicted_label}: {shown}"
        if not examples and not c.predictions.get(run_id):
            caption += " (this run stored no per-item predictions)"
        self.cell.set_examples(caption, rows, self._thumbs.thumbnail)
        self.shown.emit(len(rows))

    def fill_gallery(self) -> None:
        """List the test items the runs predicted differently."""
        c = self.comparison
        if c is None:
            return
        self._gallery_filled = True
        indices = c.disagreements()
        with_preds = sum(1 for i in c.run_ids if c.predictions.get(i))
        items = self._dataset_items(c.runs[0].id, c.runs[0].dataset_id)
        rows = [self._row(c, index, items) for index in indices[:MAX_EXAMPLES]]
        total = len(c.predictions.get(c.run_ids[0], []))
        if with_preds < 2:
            caption = "Fewer than two runs stored per-item test predictions: nothing to compare."
        else:
            caption = f"The runs disagree on {len(indices):,} of {plural(total, 'test item')}"
            caption += f" (the first {len(rows)} shown)." if len(rows) < len(indices) else "."
        if len({r.dataset_id for r in c.runs}) > 1:
            caption += " The runs used different datasets: items are matched by index."
        self.gallery.set_examples(caption, rows, self._thumbs.thumbnail)

    def _row(self, c: Comparison, index: int, items: list) -> tuple[Any, str]:
        item = items[index] if 0 <= index < len(items) else None
        return item, report.example_text(c, index, item.text if item is not None else None)

    def _dataset_items(self, run_id: int, dataset_id: int | None) -> list:
        """The items of the run's dataset if loaded; else starts loading them and returns []."""
        if dataset_id is None:
            return []
        if dataset_id in self.items:
            return self.items[dataset_id]
        if dataset_id not in self._loading:
            self._loading.add(dataset_id)
            holder, url = self._store()
            self._start(load_items_job, holder, url, run_id, dataset_id, succeeded=self._on_items_loaded)
        return []

    def _on_items_loaded(self, result: tuple[int, list, str]) -> None:
        dataset_id, items, warning = result
        self._loading.discard(dataset_id)
        self.items[dataset_id] = items
        if warning:
            self.warned.emit(warning)
        if self._gallery_filled:
            self.fill_gallery()
        if self._last_cell is not None:
            self.show_cell(*self._last_cell)

    def _on_thumbs_thumbnail_ready(self, ref: Any) -> None:
        for widget in (self.cell, self.gallery):
            widget.thumbnail_arrived(ref, self._thumbs.thumbnail)
