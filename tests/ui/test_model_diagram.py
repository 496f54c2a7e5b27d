"""The architecture diagram: what each block says for a real summary, and how it is drawn."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsPathItem

from mmstudio.models import ModelContext, ModelSpec, preset_spec, summarize
from mmstudio.ui.model.diagram import (
    LEVEL_COLOURS,
    MAX_SCALE,
    ArchitectureDiagramWidget,
    architecture_diagram,
    format_bytes,
    format_count,
    format_shape,
)

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


def test_formatting():
    assert format_count(999) == "999"
    assert format_count(738_496) == "738.5 K"
    assert format_count(25_557_032) == "25.56 M"
    assert format_bytes(512) == "512 bytes"
    assert format_bytes(48_033_504) == "45.8 MiB"
    assert format_shape([8, 192]) == "[B, 192]"


def test_a_bimodal_spec_has_both_branches_fusion_and_head():
    data, summary = data_for(preset_spec("early_concat"))
    assert [b.key for b in data.text] == ["text_input", "text_encoder"]
    assert [b.key for b in data.image] == ["image_input", "image_encoder"]
    assert [b.key for b in data.trunk] == ["fusion", "head"]
    text = data.blocks["text_encoder"].text()
    params = summary["blocks"][0]["params"]
    assert "textcnn" in text and "→ [B, 192]" in text and f"{format_count(params)} parameters" in text
    assert "tokens [B, 32]" in data.blocks["text_input"].text()
    assert "vocabulary 500" in data.blocks["text_input"].text()
    assert "[B, 3, 64, 64]" in data.blocks["image_input"].text()
    assert "→ [B, 320]" in data.blocks["fusion"].text()  # 192 + 128
    assert "→ logits [B, 6]" in data.blocks["head"].text()
    assert data.output == "6 classes: a, b, c, …"
    assert data.footer[0] == f"Total: {format_count(summary['total_params'])} parameters"
    assert data.footer[1].startswith(
        f"Training memory ≈ {format_bytes(summary['memory_bytes'])} at batch size 8"
    )


def test_a_unimodal_spec_shows_one_branch_and_no_fusion():
    data, _ = data_for(preset_spec("text_only"))
    assert data.image == () and [b.key for b in data.trunk] == ["head"]
    data, _ = data_for(preset_spec("image_only"))
    assert data.text == () and [b.key for b in data.trunk] == ["head"]


def test_token_shapes_show_when_the_fusion_reads_tokens_and_late_fusion_lists_its_streams():
    data, _ = data_for(preset_spec("cross_attention"), needs_tokens=True)
    assert "tokens [B, 32, 128]" in data.blocks["text_encoder"].text()
    data, _ = data_for(preset_spec("late_fusion"))
    assert "text [B, 192]" in data.blocks["fusion"].text()
    assert "image [B, 128]" in data.blocks["fusion"].text()
    assert "one head per modality" in data.blocks["head"].text()


def test_contrastive_has_no_fusion_and_outputs_embeddings():
    spec = ModelSpec.from_dict({"task": "contrastive", "text_encoder": "bag", "image_encoder": "small_cnn"})
    data, _ = data_for(spec)
    assert [b.key for b in data.trunk] == ["head"]
    head = data.blocks["head"].text()
    assert "text_embedding [B, 128]" in head and "image_embedding [B, 128]" in head
    assert "logit_scale" not in head


def test_without_a_summary_blocks_have_names_and_issues_colour_them():
    spec = preset_spec("cross_attention").to_dict()
    issues = [{"level": "error", "component": "fusion", "message": "dim 128 must be divisible by heads 3"}]
    data = architecture_diagram(spec, None, context=CONTEXT, issues=issues)
    assert data.blocks["fusion"].level == "error"
    assert "divisible by heads 3" in data.blocks["fusion"].tooltip
    assert data.blocks["text_encoder"].lines == ("—",)
    assert data.footer == (
        "1 error to fix, explained beside each choice; shapes and parameter counts follow",
    )
    pending = architecture_diagram(spec, None, context=CONTEXT, pending=True)
    assert pending.footer == ("Computing shapes and parameter counts…",)


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
