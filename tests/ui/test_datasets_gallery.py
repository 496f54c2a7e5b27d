"""The gallery: row counts, search and label filter, virtualisation, thumbnails, the larger view."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QImage

from mmstudio.data.dataset import load_dataset
from mmstudio.data.search import SearchIndex
from mmstudio.data.types import ImageRef, Item
from mmstudio.ui.datasets.gallery import ALL_LABELS, GalleryWidget
from mmstudio.ui.datasets.gallery_delegate import chip_colour, two_lines
from mmstudio.ui.datasets.gallery_model import GalleryListModel
from mmstudio.ui.thumbnails import ThumbnailLoader, _DecodeQueue, decode_thumbnail

WORDS = ("red fox", "blue whale", "green frog", "red panda")
LABELS = ("mammal", "mammal", "amphibian", "mammal")


def item(n: int, text: str, label: str | None = "x", path: Path | None = None, size=(0, 0)) -> Item:
    ref = ImageRef(path or Path(f"/nowhere/{n}.png"))
    return Item(n, n + 1, "data.csv", ref, text, label, "train", None, *size)


def items(n: int) -> list[Item]:
    return [item(i, f"a {WORDS[i % 4]} number {i}", LABELS[i % 4]) for i in range(n)]


@pytest.fixture
def dataset(tmp_path):
    """40 pairs, four kinds of caption, two labels, images of two sizes."""
    root = tmp_path / "ds"
    (root / "img").mkdir(parents=True)
    rows = []
    for i in range(40):
        size = (40, 20) if i % 2 else (20, 40)
        Image.new("RGB", size, (200, 10 * (i % 20), 30)).save(root / "img" / f"{i}.png")
        rows.append([f"img/{i}.png", f"a {WORDS[i % 4]} number {i}", LABELS[i % 4]])
    with (root / "data.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption", "label"])
        writer.writerows(rows)
    return load_dataset(root)


@pytest.fixture
def gallery(qtbot):
    widget = GalleryWidget()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def show(gallery: GalleryWidget, dataset) -> None:
    gallery.set_items(dataset.items, SearchIndex.of(dataset.items), dataset.label_counts())


def test_model_counts_and_filter(qtmodeltester):
    model = GalleryListModel()
    model.set_items(items(10))
    assert model.rowCount() == model.shown_count() == model.total_count() == 10
    model.set_filter("whale")
    assert model.rowCount() == 3 and [model.item(r).index for r in range(3)] == [1, 5, 9]
    assert model.data(model.index(1, 0)) == "a blue whale number 5"
    assert model.data(model.index(1, 0), GalleryListModel.ItemRole).index == 5
    assert model.data(model.index(1, 0), GalleryListModel.LabelRole) == "mammal"
    assert not model.index(3, 0).isValid()  # beyond the filtered rows
    model.set_filter("", "amphibian")
    assert model.rowCount() == 2 and model.filter == ("", "amphibian")
    model.set_filter()
    assert model.rowCount() == 10
    qtmodeltester.check(model)


class CountingItems(Sequence):
    """A 100,000-item sequence that counts how often an item is read."""

    def __init__(self, n: int) -> None:
        self.n, self.reads = n, 0
        self._item = item(0, "the same caption for every row", "mammal")

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            raise TypeError("the gallery must not slice the items")
        if not -self.n <= i < self.n:
            raise IndexError(i)
        self.reads += 1
        return self._item

    def __iter__(self):
        raise AssertionError("the gallery must not iterate over every item")


def test_a_hundred_thousand_items_touch_only_the_painted_rows(qtbot, gallery):
    many = CountingItems(100_000)
    gallery.set_items(many)
    qtbot.waitExposed(gallery)
    gallery.view.viewport().repaint()  # lay out and paint 100,000 cells now
    assert gallery.model.rowCount() == 100_000 and gallery.count_text() == "100,000 items"
    visible = gallery.visible_rows()
    assert 5 <= len(visible) <= 60
    assert many.reads <= 4 * len(visible) + 50  # per painted cell, never per item
    bar = gallery.view.verticalScrollBar()
    assert bar.maximum() > 100_000 * 10 // len(visible)  # the whole list is laid out
    many.reads = 0
    bar.setValue(bar.maximum() // 2)
    gallery.view.viewport().repaint()
    middle = gallery.visible_rows()
    assert 45_000 < middle.start < 55_000 and many.reads <= 4 * len(middle) + 50


def test_many_rows_are_laid_out_once_with_the_scroll_bar_already_there(qtbot, gallery):
    view = gallery.view
    gallery.set_items(items(10))
    qtbot.waitExposed(gallery)
    view.viewport().repaint()
    assert view.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAsNeeded
    assert not view.verticalScrollBar().isVisible()  # 10 cells fit
    width = view.viewport().width()
    gallery.set_items(CountingItems(100_000))
    # Before the rows are laid out the bar is there: the viewport does not narrow after the layout
    # (which would lay the 100,000 rows out a second time).
    assert view.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOn
    assert view.verticalScrollBar().isVisible() and view.viewport().width() < width
    narrowed = view.viewport().width()
    view.viewport().repaint()
    assert view.viewport().width() == narrowed and view.verticalScrollBar().maximum() > 0
    gallery.set_items(items(10))
    assert view.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAsNeeded


@pytest.mark.parametrize("width", [1000, 777, 420])
def test_the_cells_share_the_width(qtbot, gallery, width):
    gallery.resize(width, 700)
    gallery.set_items(items(100))
    qtbot.waitExposed(gallery)
    view = gallery.view
    qtbot.waitUntil(view.verticalScrollBar().isVisible)  # laid out, the bar shown, laid out again
    view.viewport().repaint()
    card = gallery.delegate.cell_size(view.fontMetrics())
    first, second = (view.visualRect(gallery.model.index(r, 0)) for r in (0, 1))
    columns = next(r for r in range(1, 100) if view.visualRect(gallery.model.index(r, 0)).y() > first.y())
    grid = view.gridSize()
    assert first.size() == grid and second.x() == grid.width()  # one cell per grid cell, side by side
    slack = view.viewport().width() - columns * grid.width()
    assert 0 < slack <= columns * 2 + 1  # the line is filled, what is left is spread over the columns
    spacing = (grid.width() - card.width()) // 2
    assert spacing >= view.MIN_SPACING and grid.height() - card.height() == 2 * spacing


def test_hold_grid_paints_the_window_first_then_lays_the_grid_out_then_paints_it(qtbot, gallery):
    qtbot.waitExposed(gallery)
    gallery.view.setFocus()
    qtbot.waitUntil(gallery.view.hasFocus)
    gallery.set_items(items(3000))
    gallery.hold_grid()
    assert gallery.grid_held() and gallery.view.isHidden() and gallery.total_count() == 3000
    qtbot.waitUntil(lambda: not gallery.grid_held(), timeout=2000)
    assert gallery.view.isVisible() and gallery.view.updatesEnabled() and gallery.view.hasFocus()
    assert len(gallery.visible_rows()) >= 10


def test_hold_grid_holds_nothing_off_screen(qtbot):
    hidden = GalleryWidget()
    qtbot.addWidget(hidden)
    hidden.set_items(items(3000))
    hidden.hold_grid()
    assert not hidden.grid_held() and not hidden.view.isHidden()
    hidden.shutdown()


def test_search_and_label_filter_update_the_count(qtbot, gallery, dataset):
    show(gallery, dataset)
    assert gallery.total_count() == gallery.shown_count() == 40 and gallery.count_text() == "40 items"
    combo = gallery.label_filter
    assert [combo.itemText(i) for i in range(combo.count())] == [ALL_LABELS, "amphibian (10)", "mammal (30)"]
    with qtbot.waitSignal(gallery.filter_changed) as changed:
        gallery.search.setText("red")  # applied after a pause in typing
    assert changed.args == [20, 40] and gallery.count_text() == "showing 20 of 40"
    gallery.set_label("mammal")
    assert gallery.shown_count() == 20  # every "red" caption is a mammal
    gallery.set_search_text("frog")
    assert gallery.shown_count() == 0 and gallery.count_text() == "showing 0 of 40"
    gallery.set_label(None)
    assert gallery.shown_count() == 10
    combo.setCurrentIndex(combo.findData("amphibian"))
    assert gallery.shown_count() == 10 and all(
        gallery.model.item(r).label == "amphibian" for r in range(gallery.shown_count())
    )
    gallery.set_search_text("")
    gallery.set_label(None)
    assert gallery.shown_count() == 40


def test_one_item_is_one_item(gallery):
    gallery.set_items(items(1))
    assert gallery.count_text() == "1 item"  # #19, not "1 items"


def test_no_labels_disables_the_filter(gallery):
    gallery.set_items([item(0, "a caption", None), item(1, "another", None)])
    assert not gallery.label_filter.isEnabled() and gallery.label_filter.currentText() == "No labels"


# --- thumbnails -----------------------------------------------------------------------------------


def test_visible_cells_get_their_thumbnails(qtbot, gallery, dataset):
    show(gallery, dataset)
    qtbot.waitUntil(lambda: gallery.pending_thumbnails() == 0, timeout=20_000)
    visible = gallery.visible_rows()
    assert len(visible) >= 12
    for row in visible:
        it = gallery.model.item(row)
        pixmap = gallery.loader.thumbnail(it)
        assert pixmap is not None and not pixmap.isNull()
        assert (pixmap.width(), pixmap.height()) == ((128, 64) if it.width > it.height else (64, 128))
    assert not gallery.loader.has(dataset.items[-1].image) or len(visible) == 40  # off-screen: not decoded


def test_a_broken_image_gets_no_preview(qtbot, gallery, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    gallery.set_items([item(0, "a broken image", path=broken)])
    qtbot.waitUntil(lambda: gallery.pending_thumbnails() == 0, timeout=20_000)
    pixmap = gallery.loader.thumbnail(gallery.model.item(0))
    assert pixmap is not None and pixmap.isNull()  # cached as "no preview": not asked for again


def test_decode_thumbnail_keeps_the_aspect_ratio(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 100), (10, 200, 10)).save(path)
    image = decode_thumbnail(ImageRef(path), 128, 300, 100)
    assert (image.width(), image.height()) == (128, 43) and image.format() == QImage.Format.Format_RGB888
    assert image.pixelColor(64, 0).green() > 180 and image.pixelColor(64, 42).green() > 180  # no white bars
    assert decode_thumbnail(ImageRef(tmp_path / "missing.png")).isNull()


def test_queue_serves_the_newest_first_drops_the_oldest_and_drops_on_scroll():
    queue = _DecodeQueue(size=32, cap=3)
    started = [queue.push(0, item(i, "t"), max_active=1) for i in range(5)]
    assert started == [True, False, False, False, False]  # one decoder loop for the whole queue
    assert [job[1].path.name for job in queue.jobs] == ["2.png", "3.png", "4.png"]  # 0 and 1 dropped
    assert not queue.is_pending(item(0, "t").image) and queue.is_pending(item(4, "t").image)
    assert queue.pop()[1].path.name == "4.png"  # newest first
    assert queue.drop_queued() == 2 and queue.pop() is None and queue.active == 0
    assert queue.pending == {item(4, "t").image}  # the one being decoded stays pending


def test_decoding_starts_once_the_paint_that_asked_is_over(qtbot, dataset):
    loader = ThumbnailLoader()
    loader.request(dataset.items[0])
    loader.request(dataset.items[1])
    # Queued, but no decoder thread yet: one started now would compete with the rest of the paint
    # for the interpreter lock.
    assert loader.pending_count() == 2 and loader._pool.activeThreadCount() == 0
    qtbot.waitUntil(
        lambda: loader.has(dataset.items[0].image) and loader.has(dataset.items[1].image), timeout=20_000
    )
    loader.shutdown()


def test_results_for_a_replaced_dataset_are_dropped(qtbot):
    loader = ThumbnailLoader()
    ready = []
    loader.thumbnail_ready.connect(ready.append)
    ref = ImageRef(Path("/nowhere/0.png"))
    image = QImage(4, 4, QImage.Format.Format_RGB888)
    loader.clear()  # a new dataset: generation 1
    loader._on_queue_decoded(ref, 0, image)  # a decode started for generation 0 lands
    assert not loader.has(ref) and ready == []
    loader._on_queue_decoded(ref, 1, image)
    assert loader.has(ref) and ready == [ref]


def test_the_cache_keeps_the_latest_thumbnails(qtbot):
    loader = ThumbnailLoader(cache_size=3)
    image = QImage(4, 4, QImage.Format.Format_RGB888)
    refs = [ImageRef(Path(f"/nowhere/{i}.png")) for i in range(4)]
    for ref in refs[:3]:
        loader._on_queue_decoded(ref, 0, image)
    assert loader.thumbnail(item(0, "t")) is not None  # 0 used again: 1 is now the oldest
    loader._on_queue_decoded(refs[3], 0, image)
    assert [loader.has(r) for r in refs] == [True, False, True, True]


def test_two_lines_wraps_and_elides(gallery):
    fm = gallery.fontMetrics()
    first, second = two_lines(fm, "one two three four five six seven eight nine ten eleven twelve", 120)
    assert first and second.endswith("…") and fm.horizontalAdvance(first) <= 120
    assert two_lines(fm, "short", 120) == ("short", "")
    long_word, rest = two_lines(fm, "x" * 200, 120)
    assert long_word.endswith("…") and rest == ""


def test_a_cell_draws_its_two_caption_lines_and_its_label_chip_in_place(qtbot, gallery):
    caption = "a long caption about a red fox that needs two lines of the card and more besides"
    show_items = [item(0, caption, "mammal")]
    gallery.set_items(show_items, SearchIndex.of(show_items), {"mammal": 1})
    view, delegate = gallery.view, gallery.view.itemDelegate()
    qtbot.waitUntil(lambda: view.isVisible() and view.visualRect(view.model().index(0, 0)).isValid())
    cell = view.visualRect(view.model().index(0, 0))
    image = view.viewport().grab(cell).toImage()
    fm, pad, t = view.fontMetrics(), delegate.PAD, delegate._loader.size
    card = delegate.cell_size(fm)
    left = (cell.width() - card.width()) // 2 + 2 + pad
    top = (cell.height() - card.height()) // 2 + 2 + pad - 2 + t + 6  # the first caption line
    line = fm.height()
    text_colour = view.palette().color(view.palette().ColorRole.Text)

    def ink(x0: int, y0: int, x1: int, y1: int, colour) -> int:
        """Pixels near ``colour`` in the box (text is anti-aliased: its darkest pixels count)."""
        return sum(
            1
            for y in range(y0, y1)
            for x in range(x0, x1)
            if abs(image.pixelColor(x, y).lightness() - colour.lightness()) < 60
        )

    first, second = two_lines(fm, caption, card.width() - 4 - 2 * pad)
    assert first and second  # the caption takes both lines
    width = card.width() - 4 - 2 * pad
    assert ink(left, top, left + width, top + line, text_colour) > 20  # the first line
    assert ink(left, top + line, left + width, top + 2 * line, text_colour) > 20  # the second line
    chip_top = top + 2 * line + 6
    chip_width = fm.horizontalAdvance("mammal") + 12
    chip = image.pixelColor(left + 3, chip_top + (line + 4) // 2)
    assert chip.name() == chip_colour("mammal").name()  # the chip, in its label's colour
    assert ink(left + 6, chip_top, left + chip_width - 6, chip_top + line + 4, QColor("#1f2933")) > 10
    assert ink(left + chip_width + 2, chip_top, left + width, chip_top + line + 4, QColor("#1f2933")) == 0


# --- the larger view ------------------------------------------------------------------------------


def test_enter_opens_the_larger_view(qtbot, gallery, dataset):
    show(gallery, dataset)
    gallery.set_search_text("Number 37")  # one caption: "a blue whale number 37"
    assert gallery.shown_count() == 1
    gallery.view.setFocus()
    gallery.view.setCurrentIndex(gallery.model.index(0, 0))
    with qtbot.waitSignal(gallery.item_opened) as opened:
        qtbot.keyClick(gallery.view, Qt.Key.Key_Return)
    shown = opened.args[0]
    assert shown is dataset.items[37]
    dialog = gallery.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.caption.toPlainText() == "a blue whale number 37"
    texts = [w.text() for w in dialog.findChildren(type(gallery.count_label))]
    assert "mammal" in texts and shown.split in texts and str(shown.image) in texts and "40 × 20 px" in texts
    qtbot.waitUntil(lambda: dialog.image_view.pixmap is not None, timeout=20_000)
    assert (dialog.image_view.pixmap.width(), dialog.image_view.pixmap.height()) == (40, 20)  # full size
    dialog.close()
    qtbot.waitUntil(lambda: gallery.dialog is None)


def test_double_click_opens_the_larger_view(qtbot, gallery, dataset):
    show(gallery, dataset)
    rect = gallery.view.visualRect(gallery.model.index(2, 0))
    qtbot.mouseClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(gallery.item_opened) as opened:
        qtbot.mouseDClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args[0] is dataset.items[2]


def test_model_answers_nothing_for_invalid_indexes():
    model = GalleryListModel()
    model.set_items(items(3))
    assert model.data(QModelIndex()) is None
    assert model.flags(QModelIndex()) == Qt.ItemFlag.NoItemFlags
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsSelectable
