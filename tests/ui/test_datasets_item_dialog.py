"""The gallery's larger view: the original image (not the thumbnail), transparency over a
checkerboard, previous / next keys through the items shown; and what the gallery draws of text with
control characters, of transparent images, and its caption tooltips."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QLabel, QToolTip

from mmstudio.data.dataset import load_dataset
from mmstudio.data.search import SearchIndex
from mmstudio.data.types import ImageRef, Item
from mmstudio.ui.datasets.gallery import GalleryWidget
from mmstudio.ui.datasets.gallery_model import GalleryListModel
from mmstudio.ui.datasets.item_dialog import PREVIEW_MAX_SIDE
from mmstudio.ui.thumbnails import decode_thumbnail

CONTROLS = {*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0))}


def write_dataset(
    root: Path, images: list[tuple[str, Image.Image]], captions: list[str] | None = None
) -> Path:
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, image) in enumerate(images):
        image.save(root / "img" / name)
        caption = captions[i] if captions else f"picture number {i}"
        rows.append([f"img/{name}", caption, "ab"[i % 2]])
    with (root / "data.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption", "label"])
        writer.writerows(rows)
    return root


def transparent(size=(60, 40)) -> Image.Image:
    """A red disc on fully transparent pixels."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        [size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4], (220, 30, 30, 255)
    )
    return image


@pytest.fixture
def gallery(qtbot):
    widget = GalleryWidget()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def show(gallery, dataset) -> None:
    gallery.set_items(dataset.items, SearchIndex.of(dataset.items), dataset.label_counts())


def loaded(qtbot, dialog):
    qtbot.waitUntil(lambda: dialog.image_view.pixmap is not None, timeout=20_000)
    return dialog.image_view.pixmap


# --- the larger view ------------------------------------------------------------------------------


def test_the_larger_view_shows_the_original_file_within_a_sane_size(qtbot, gallery, tmp_path):
    """#16: the original's pixels (600 x 400), not the 128 px thumbnail blown up; a huge image at most
    PREVIEW_MAX_SIDE a side; decoded in the background (the dialog opens before the image is in)."""
    images = [
        ("big.png", Image.new("RGB", (600, 400), (10, 120, 200))),
        ("huge.png", Image.new("RGB", (3000, 1000))),
    ]
    dataset = load_dataset(write_dataset(tmp_path / "ds", images))
    show(gallery, dataset)
    dialog = gallery.open_item(0)
    assert dialog.image_view.pixmap is None  # not decoded on the GUI thread: it comes later
    qtbot.waitUntil(dialog.isActiveWindow)
    pixmap = loaded(qtbot, dialog)
    assert (pixmap.width(), pixmap.height()) == (600, 400)
    dialog.resize(900, 900)
    qtbot.waitUntil(lambda: dialog.image_view.width() > 600)
    rect = dialog.image_view.image_rect()
    assert (rect.width(), rect.height()) == (600, 400)  # it fits: its own size, not enlarged by 1.4
    dialog.resize(500, 600)
    qtbot.waitUntil(lambda: dialog.image_view.width() < 600)
    assert dialog.image_view.image_rect().width() <= dialog.image_view.width()  # shrunk to fit
    with qtbot.waitSignal(dialog.step_requested):
        qtbot.keyClick(dialog, Qt.Key.Key_Right)
    pixmap = loaded(qtbot, dialog)
    assert (pixmap.width(), pixmap.height()) == (PREVIEW_MAX_SIDE, round(PREVIEW_MAX_SIDE / 3))


def test_a_small_image_is_enlarged_by_a_whole_factor(qtbot, gallery, tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "ds", [("tiny.png", Image.new("RGB", (32, 24)))]))
    show(gallery, dataset)
    dialog = gallery.open_item(0)
    loaded(qtbot, dialog)
    view = dialog.image_view
    rect = view.image_rect()
    zoom = rect.width() // 32
    assert rect.width() == 32 * zoom and rect.height() == 24 * zoom and 1 < zoom <= view.MAX_ZOOM


@pytest.mark.parametrize(
    "keys", [(Qt.Key.Key_Right, Qt.Key.Key_Left), (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)]
)
def test_previous_and_next_keys_step_through_the_items_shown(qtbot, gallery, tmp_path, keys):
    """#16: Left / Right (or Page Up / Page Down) move through the filtered items; the grid follows."""
    following, previous = keys
    images = [(f"{i}.png", Image.new("RGB", (20, 20), (10 * i, 0, 0))) for i in range(6)]
    captions = [f"{'fox' if i % 2 else 'owl'} number {i}" for i in range(6)]
    dataset = load_dataset(write_dataset(tmp_path / "ds", images, captions))
    show(gallery, dataset)
    gallery.set_search_text("fox")  # items 1, 3, 5
    dialog = gallery.open_item(0)
    qtbot.waitUntil(dialog.isActiveWindow)
    assert dialog.item is dataset.items[1] and not dialog.previous_action.isEnabled()
    qtbot.mouseClick(dialog.caption.viewport(), Qt.MouseButton.LeftButton)  # it does not take the arrows
    qtbot.keyClick(dialog, following)
    assert dialog.item is dataset.items[3] and dialog.caption.toPlainText() == "fox number 3"
    assert gallery.view.currentIndex().row() == 1 == gallery.dialog_row()
    qtbot.keyClick(dialog, following)
    assert dialog.item is dataset.items[5] and not dialog.next_action.isEnabled()
    qtbot.keyClick(dialog, following)  # the last one: it stays
    assert dialog.item is dataset.items[5]
    pixmap = loaded(qtbot, dialog)
    assert QImage(pixmap.toImage()).pixelColor(0, 0).red() == 50  # item 5's own image
    qtbot.keyClick(dialog, previous)
    assert dialog.item is dataset.items[3] and dialog.previous_action.isEnabled()
    assert dialog.fields["Row"].text() == "data.csv row 4"


def test_a_transparent_image_shows_over_a_checkerboard(qtbot, gallery, tmp_path):
    dataset = load_dataset(write_dataset(tmp_path / "ds", [("clear.png", transparent((80, 60)))]))
    show(gallery, dataset)
    dialog = gallery.open_item(0)
    pixmap = loaded(qtbot, dialog)
    assert pixmap.hasAlphaChannel()
    view = dialog.image_view
    rect = view.image_rect()
    image = view.grab().toImage()
    corner = [image.pixelColor(rect.left() + x, rect.top() + y).name() for x, y in ((2, 2), (10, 2))]
    assert corner[0] != corner[1]  # two squares of the checkerboard, not one white block
    assert "#ffffff" not in corner or view.palette().base().color().name() == "#ffffff"


# --- what the gallery draws -----------------------------------------------------------------------


def test_control_characters_are_never_drawn(qtbot, gallery, tmp_path):
    """#14: a caption (or label) with a NUL, a bell, an escape, a tab and a line break: the cell, the
    tooltip, the label filter and the larger view write them as escapes or spaces, never raw."""
    caption = "a NUL\x00 and a bell\x07 and ESC\x1b[31m and a tab\there\nand a new line"
    dataset = load_dataset(write_dataset(tmp_path / "ds", [("a.png", Image.new("RGB", (20, 20)))], [caption]))
    [item] = dataset.items
    # the loader removes control characters (and reports the row); what reaches the gallery by any
    # other road (an item built in code, a cached record) is still drawn safely
    assert "\x00" not in item.text and "control_characters" in {p.kind for p in dataset.report.problems}
    item = Item(
        item.index, item.row, item.source, item.image, caption, "bad\x07label", item.split, None, 20, 20
    )
    gallery.set_items([item], SearchIndex.of([item]), {"bad\x07label": 1})
    view = gallery.view
    qtbot.waitUntil(lambda: view.visualRect(view.model().index(0, 0)).isValid())
    view.viewport().repaint()
    [cell] = gallery.delegate._texts.values()
    drawn = cell.first.text() + cell.second.text() + cell.label.text()
    assert "\\x00" in drawn and not CONTROLS & set(drawn)
    tooltip = gallery.model.data(gallery.model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert "\\x00" in tooltip and "\\x07" in tooltip and not CONTROLS & set(tooltip)
    assert not CONTROLS & set(gallery.label_filter.itemText(1))
    dialog = gallery.open_item(0)
    shown = dialog.caption.toPlainText()
    assert shown == "a NUL\\x00 and a bell\\x07 and ESC\\x1b[31m and a tab here\nand a new line"
    assert dialog.fields["Label"].text() == "bad\\x07label"


def test_a_transparent_thumbnail_is_drawn_over_the_card_not_white(qtbot, gallery, tmp_path):
    """#16: hovered or selected, a transparent image shows the card's colour where it is clear."""
    image = decode_thumbnail(
        ImageRef(write_dataset(tmp_path / "ds", [("c.png", transparent())]) / "img" / "c.png")
    )
    assert image.hasAlphaChannel() and image.pixelColor(0, 0).alpha() == 0
    dataset = load_dataset(tmp_path / "ds")
    show(gallery, dataset)
    view = gallery.view
    qtbot.waitUntil(lambda: gallery.pending_thumbnails() == 0, timeout=20_000)
    view.setCurrentIndex(view.model().index(0, 0))  # selected: the card is tinted
    cell = view.visualRect(view.model().index(0, 0))
    grabbed = view.viewport().grab(cell).toImage()
    delegate, fm = gallery.delegate, view.fontMetrics()
    card = delegate.cell_size(fm)
    t = delegate._loader.size
    left = (cell.width() - card.width()) // 2 + 2 + (card.width() - 4 - t) // 2
    bottom = (cell.height() - card.height()) // 2 + 2 + delegate.PAD - 2 + t
    # The thumbnail (128 x 85) sits on the caption's line: its top-left corner is transparent.
    corner = grabbed.pixelColor(left + 2, bottom - 83)
    beside = grabbed.pixelColor(left - 2, bottom - 83)  # the card itself, just left of the image
    assert corner.name() != "#ffffff"
    assert abs(corner.lightness() - beside.lightness()) < 8


def test_caption_tooltips_wrap(qtbot, gallery):
    """#16: a long caption's tooltip is rich text, which Qt wraps, not one line across the screen."""
    # Narrower than the (800 px) screen, so plain text would stay one line; wide enough to wrap.
    long = " ".join(["a long caption about a red fox in the snow"] * 3)
    item = Item(0, 1, "data.csv", ImageRef(Path("/nowhere/0.png")), long, "fox", "train")
    model = GalleryListModel()
    model.set_items([item])
    tooltip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    QToolTip.showText(gallery.mapToGlobal(QPoint(10, 10)), tooltip, gallery)
    qtbot.waitUntil(QToolTip.isVisible)
    [label] = [w for w in QApplication.topLevelWidgets() if w.inherits("QTipLabel")]
    assert isinstance(label, QLabel) and label.wordWrap()
    # Lines of about 80 characters at most; a plain-text tooltip wraps only at the screen's width.
    assert label.width() <= 80 * label.fontMetrics().averageCharWidth() + 40
    assert label.width() < 0.75 * label.screen().geometry().width()
    QToolTip.hideText()


def _tile_images(dialog) -> list[QImage]:
    return [tile.pixmap().toImage() for tile in dialog.augmented.tiles]


def test_show_augmented_draws_random_training_views_off_the_gui_thread(qtbot, gallery, tmp_path):
    """Issue 14: the item's image as training reads it and augmented views of it, drawn in the
    background; the level, flips and Draw again redraw them; stepping follows the item."""
    ramp = Image.linear_gradient("L").resize((90, 60)).convert("RGB")
    images = [("ramp.png", ramp), ("flat.png", Image.new("RGB", (40, 40), (200, 30, 30)))]
    show(gallery, load_dataset(write_dataset(tmp_path / "ds", images)))
    dialog = gallery.open_item(0)
    assert not dialog.augmented.isVisible()
    dialog.augmented_button.click()
    assert dialog.augmented.isVisible() and dialog.augmented.message.text() == "Drawing…"
    qtbot.waitUntil(lambda: dialog.augmented.drawn, timeout=30_000)
    first = _tile_images(dialog)
    assert all(image.size().width() == 128 == image.size().height() for image in first)
    assert len({image.cacheKey() for image in first}) == len(first)
    assert len({bytes(image.constBits()) for image in first}) >= 6  # each view differs
    with qtbot.waitSignal(dialog.augmented.level_combo.currentIndexChanged):
        dialog.augmented.level_combo.setCurrentIndex(1)  # strong
    qtbot.waitUntil(lambda: dialog.augmented.drawn, timeout=30_000)
    strong = _tile_images(dialog)
    assert strong[0] == first[0] and strong[1:] != first[1:]  # the training input itself is not changed
    dialog.augmented.again_button.click()
    qtbot.waitUntil(lambda: dialog.augmented.drawn, timeout=30_000)
    assert _tile_images(dialog)[1:] != strong[1:]
    qtbot.keyClick(dialog, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: dialog.augmented.drawn, timeout=30_000)
    assert dialog.augmented.tiles[0].pixmap().toImage().pixelColor(64, 64).red() == 200
    dialog.augmented_button.click()
    assert not dialog.augmented.isVisible()


def test_the_gallerys_show_augmented_opens_the_selected_item_with_its_views(qtbot, gallery, tmp_path):
    assert not gallery.augmented_button.isEnabled()  # nothing shown yet
    images = [(f"{i}.png", Image.new("RGB", (30, 30), (40 * i, 90, 20))) for i in range(3)]
    dataset = load_dataset(write_dataset(tmp_path / "ds", images))
    show(gallery, dataset)
    assert gallery.augmented_button.isEnabled() and gallery.augmented_button.toolTip()
    gallery.view.setCurrentIndex(gallery.model.index(2, 0))
    gallery.augmented_button.click()
    dialog = gallery.dialog
    assert dialog.item is dataset.items[2] and dialog.augmented.isVisible()
    qtbot.waitUntil(lambda: dialog.augmented.drawn, timeout=30_000)
    assert dialog.augmented.tiles[0].pixmap().toImage().pixelColor(10, 10).red() == 80
