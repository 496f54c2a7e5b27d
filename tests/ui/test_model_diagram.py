"""The architecture diagram widget: how it draws what each block says (which the core words:
``tests/unit/training/test_preflight.py``)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsPathItem

from mmstudio.models import ModelContext, ModelSpec, preset_spec, summarize
from mmstudio.training.preflight import architecture_diagram
from mmstudio.ui.model.diagram import LEVEL_COLOURS, MAX_SCALE, ArchitectureDiagramWidget

CTX = ModelContext(vocab_size=500, num_outputs=6, image_size=64, max_len=32)
CONTEXT = {"vocab_size": 500, "num_outputs": 6, "image_size": 64, "max_len": 32, "labels": "a, b, c, …"}


def data_for(spec: ModelSpec | dict, **kwargs):
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(spec)
    summary = summarize(spec, CTX, batch_size=8).to_dict()
    return architecture_diagram(spec.to_dict(), summary, context=CONTEXT, **kwargs), summary


@pytest.fixture
def diagram(qtbot):
    widget = ArchitectureDiagramWidget()
    qtbot.addWidget(widget)
    widget.resize(700, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_the_widget_draws_every_block_and_fits_the_view(qtbot, diagram):
    data, _ = data_for(preset_spec("early_concat"))
    diagram.set_diagram(data)
    assert diagram.block_keys() == [
        "text_input",
        "text_encoder",
        "image_input",
        "image_encoder",
        "fusion",
        "head",
    ]
    assert "→ [B, 192]" in diagram.block_text("text_encoder")
    assert diagram.footer_text().startswith("Total: ")
    view = diagram.viewport().rect()
    scene_in_view = diagram.mapFromScene(diagram.sceneRect()).boundingRect()
    assert view.contains(scene_in_view.adjusted(2, 2, -2, -2))
    scale = diagram.transform().m11()
    diagram.resize(350, 300)
    qtbot.waitUntil(lambda: diagram.transform().m11() < scale)
    assert diagram.transform().m11() <= MAX_SCALE
    # text and image encoders side by side, the fusion below and between them
    text, image, fusion = (
        diagram.block_item(k).scenePos() for k in ("text_encoder", "image_encoder", "fusion")
    )
    assert text.y() == image.y() and text.x() < fusion.x() < image.x() and fusion.y() > text.y()


def test_an_error_block_gets_a_red_border(diagram):
    spec = preset_spec("early_concat").to_dict()
    issues = [{"level": "error", "component": "image_encoder", "message": "too small"}]
    diagram.set_diagram(architecture_diagram(spec, None, context=CONTEXT, issues=issues))

    def border(key: str) -> QColor:
        shapes = [c for c in diagram.block_item(key).childItems() if isinstance(c, QGraphicsPathItem)]
        return shapes[0].pen().color()

    assert border("image_encoder") == LEVEL_COLOURS["error"]
    assert border("text_encoder") != LEVEL_COLOURS["error"]
    assert diagram.block_item("image_encoder").toolTip() == "error: too small"


def test_the_colours_follow_the_palette(diagram):
    diagram.set_diagram(data_for(preset_spec("text_only"))[0])
    dark = QPalette(diagram.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor(30, 30, 30))
    dark.setColor(QPalette.ColorRole.Text, QColor(235, 235, 235))
    diagram.setPalette(dark)
    assert diagram.backgroundBrush().color() == QColor(30, 30, 30)
    shapes = [c for c in diagram.block_item("head").childItems() if isinstance(c, QGraphicsPathItem)]
    assert shapes[0].brush().color().lightness() < 90  # a dark tint, not a light box on a dark page


def test_a_click_on_a_block_names_it(qtbot, diagram):
    diagram.set_diagram(data_for(preset_spec("early_concat"))[0])
    item = diagram.block_item("fusion")
    centre = diagram.mapFromScene(item.mapToScene(item.boundingRect().center()))
    with qtbot.waitSignal(diagram.block_clicked) as signal:
        qtbot.mouseClick(diagram.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert signal.args == ["fusion"]
    assert diagram.block_at(QPoint(1, 1)) is None
