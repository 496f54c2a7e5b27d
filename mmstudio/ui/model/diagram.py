"""The architecture diagram of the Model page: one box per block, arrows between them.

Two parts, so the drawing is testable and the data needs no torch:

- :func:`architecture_diagram` turns a spec dict, its summary (``ModelSummary.to_dict()``, or None while
  it is computed or when the spec has errors), the data context and the validation issues into a
  :class:`DiagramData`: the text branch (input → encoder), the image branch, and the trunk (fusion →
  head), each block with its name, output shape and parameter count, and the totals.
- :class:`ArchitectureDiagramWidget` draws a :class:`DiagramData` top to bottom in a ``QGraphicsView``,
  fitted to the view, in colours derived from the palette (light and dark themes alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from mmstudio.formatting import format_bytes, format_count
from mmstudio.vocabulary import SLOT_TITLES

ROLE_COLOURS = {
    "text": QColor(37, 99, 235),  # blue
    "image": QColor(5, 150, 105),  # green
    "fusion": QColor(124, 58, 237),  # violet
    "head": QColor(217, 119, 6),  # amber
    "input": QColor(100, 116, 139),  # slate
}
LEVEL_COLOURS = {"error": QColor(220, 38, 38), "warning": QColor(217, 119, 6)}


# --- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiagramBlock:
    """One box: ``key`` ("text_input", "text_encoder", "image_input", "image_encoder", "fusion",
    "head"), a small ``title``, the component ``name``, detail ``lines`` (shapes), the parameter
    count, a ``level`` ("", "warning", "error") for its border and a ``role`` for its colour."""

    key: str
    title: str
    name: str
    lines: tuple[str, ...] = ()
    params: str = ""
    level: str = ""
    role: str = "input"
    tooltip: str = ""

    def text(self) -> str:
        return "\n".join([self.title, self.name, *self.lines, *([self.params] if self.params else [])])


@dataclass(frozen=True)
class DiagramData:
    """Branches drawn side by side (top down: input, encoder), then the trunk below them (fusion,
    head), then ``output`` (what the head returns) and the ``footer`` lines (totals, memory)."""

    text: tuple[DiagramBlock, ...] = ()
    image: tuple[DiagramBlock, ...] = ()
    trunk: tuple[DiagramBlock, ...] = ()
    output: str = ""
    footer: tuple[str, ...] = ()
    blocks: dict[str, DiagramBlock] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for block in (*self.text, *self.image, *self.trunk):
            self.blocks[block.key] = block


def format_shape(shape: Sequence[int], batch: bool = True) -> str:
    """``[64, 192]`` → ``[B, 192]``: the first dimension is the batch."""
    dims = [str(d) for d in shape]
    if batch and dims:
        dims[0] = "B"
    return f"[{', '.join(dims)}]"


def _params_text(block: Mapping[str, Any] | None) -> str:
    if block is None:
        return ""
    params, trainable = int(block["params"]), int(block["trainable_params"])
    if params == 0:
        return "no parameters"
    text = f"{format_count(params)} parameters"
    if trainable != params:
        text += f" ({format_count(trainable)} trainable)"
    return text


def architecture_diagram(
    spec: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    *,
    context: Mapping[str, Any],
    issues: Sequence[Mapping[str, str]] = (),
    needs_tokens: bool = False,
    pending: bool = False,
) -> DiagramData:
    """What to draw for ``spec``.

    ``summary`` is ``ModelSummary.to_dict()`` or None; ``context`` has ``vocab_size``, ``image_size``,
    ``max_len`` and ``num_outputs`` (and optionally ``labels``: a short description of the outputs);
    ``issues`` are ``SpecIssue.to_dict()``s, whose levels colour their block's border; ``needs_tokens``
    says the fusion reads the encoders' token sequences (their shape is then shown too); ``pending``
    says a summary is on its way (the footer says so rather than asking to fix errors).
    """
    levels: dict[str, str] = {}
    tips: dict[str, list[str]] = {}
    for issue in issues:
        slot = issue.get("component", "")
        if slot in SLOT_TITLES:
            if levels.get(slot) != "error":
                levels[slot] = issue.get("level", "")
            tips.setdefault(slot, []).append(f"{issue.get('level', '')}: {issue.get('message', '')}")
    blocks = {b["name"]: b for b in summary["blocks"]} if summary else {}

    def block(slot: str, role: str, lines: Sequence[str]) -> DiagramBlock:
        component = spec.get(slot, {}) or {}
        return DiagramBlock(
            key=slot,
            title=SLOT_TITLES[slot],
            name=str(component.get("name", "?")),
            lines=tuple(lines) if blocks else ("…" if pending else "—",),
            params=_params_text(blocks.get(slot)),
            level=levels.get(slot, ""),
            role=role,
            tooltip="\n".join(tips.get(slot, [])),
        )

    def encoder_lines(slot: str) -> list[str]:
        info = blocks.get(slot)
        if info is None:
            return []
        outputs = info.get("outputs", {})
        lines = [f"→ {format_shape(info['output_shape'])}"]
        if needs_tokens and "tokens" in outputs:
            lines.append(f"tokens {format_shape(outputs['tokens'])}")
        return lines

    text: tuple[DiagramBlock, ...] = ()
    image: tuple[DiagramBlock, ...] = ()
    if (spec.get("text_encoder") or {}).get("name", "none") != "none":
        max_len, vocab = int(context.get("max_len", 0)), int(context.get("vocab_size", 0))
        text = (
            DiagramBlock(
                "text_input",
                "Input",
                "Text",
                (f"tokens [B, {max_len}]", f"vocabulary {vocab:,}"),
                role="input",
            ),
            block("text_encoder", "text", encoder_lines("text_encoder")),
        )
    if (spec.get("image_encoder") or {}).get("name", "none") != "none":
        size = int(context.get("image_size", 0))
        image = (
            DiagramBlock("image_input", "Input", "Image", (f"[B, 3, {size}, {size}]",), role="input"),
            block("image_encoder", "image", encoder_lines("image_encoder")),
        )

    trunk: list[DiagramBlock] = []
    if (spec.get("fusion") or {}).get("name", "none") != "none":
        lines = []
        info = blocks.get("fusion")
        if info is not None:
            outputs = info.get("outputs", {})
            if len(outputs) > 1:
                lines = [f"{k} {format_shape(v)}" for k, v in outputs.items()]
            else:
                lines = [f"→ {format_shape(info['output_shape'])}"]
        trunk.append(block("fusion", "fusion", lines))
    head_lines: list[str] = []
    output = ""
    info = blocks.get("head")
    if info is not None:
        outputs = info.get("outputs", {})
        main = [k for k in outputs if "_" not in k or k.endswith("_embedding")]
        head_lines = [f"→ {k} {format_shape(outputs[k])}" for k in main if k != "logit_scale"]
        if any(k.startswith(("logits_", "prediction_")) for k in outputs):
            head_lines.append("one head per modality, mixed")
    trunk.append(block("head", "head", head_lines))
    task = spec.get("task", "")
    n = int(context.get("num_outputs", 0))
    if task == "classification":
        output = f"{n:,} classes" + (f": {context['labels']}" if context.get("labels") else "")
    elif task == "multilabel":
        output = f"{n:,} labels, each yes or no" + (f": {context['labels']}" if context.get("labels") else "")
    elif task == "regression":
        output = "one value per item"
    elif task == "contrastive":
        output = "text and image embeddings, matched by similarity"

    footer: list[str] = []
    if summary:
        footer.append(
            f"Total: {format_count(int(summary['total_params']))} parameters"
            + (
                f" ({format_count(int(summary['trainable_params']))} trainable)"
                if summary["trainable_params"] != summary["total_params"]
                else ""
            )
        )
        footer.append(
            f"Training memory ≈ {format_bytes(int(summary['memory_bytes']))} at batch size "
            f"{summary['batch_size']}"
        )
        memory = summary.get("memory", {})
        if memory:
            footer.append(
                f"weights {format_bytes(int(memory['params']))}"
                f" · gradients {format_bytes(int(memory['grads']))}"
                f" · AdamW {format_bytes(int(memory['optimizer']))}"
                f" · activations {format_bytes(int(memory['activations']))}"
            )
    elif pending:
        footer.append("Computing shapes and parameter counts…")
    else:
        errors = sum(1 for i in issues if i.get("level") == "error")
        if errors:
            footer.append(
                f"{errors} error{'s' if errors > 1 else ''} to fix, explained beside each choice; "
                "shapes and parameter counts follow"
            )
        else:
            footer.append("No shapes or parameter counts: the model could not be built")
    return DiagramData(text=text, image=image, trunk=tuple(trunk), output=output, footer=tuple(footer))


# --- the drawing ---------------------------------------------------------------------------------


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved ``t`` of the way to ``b``."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


BLOCK_WIDTH = 250.0
PADDING = 10.0
COLUMN_GAP = 36.0
ROW_GAP = 34.0
MAX_SCALE = 1.35
TEXT_WIDTH = 540.0  # the width the lines under the diagram may take, even under a single branch


class ArchitectureDiagramWidget(QGraphicsView):
    """Draws a :class:`DiagramData`; fitted to the view whenever it or the data changes. A click on a
    block emits :attr:`block_clicked` with its key (the page shows that block's settings)."""

    block_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("architectureDiagram")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMinimumSize(280, 240)
        self._data = DiagramData()
        self._items: dict[str, QGraphicsRectItem] = {}
        self._redraw()

    # --- what the page and the tests use ------------------------------------------------------------

    def set_diagram(self, data: DiagramData) -> None:
        self._data = data
        self._redraw()

    def diagram(self) -> DiagramData:
        return self._data

    def block_keys(self) -> list[str]:
        return list(self._data.blocks)

    def block_text(self, key: str) -> str:
        """Everything written in block ``key`` (title, name, shapes, parameters), one line each."""
        return self._data.blocks[key].text()

    def footer_text(self) -> str:
        return "\n".join(self._data.footer)

    def block_item(self, key: str) -> QGraphicsRectItem:
        return self._items[key]

    # --- drawing ----------------------------------------------------------------------------------

    def _fonts(self) -> dict[str, QFont]:
        base = QFont(self.font())
        size = base.pointSizeF() if base.pointSizeF() > 0 else 10.0
        small = QFont(base)
        small.setPointSizeF(size * 0.85)
        name = QFont(base)
        name.setPointSizeF(size * 1.12)
        name.setBold(True)
        title = QFont(small)
        title.setCapitalization(QFont.Capitalization.AllUppercase)
        title.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 106)
        return {"title": title, "name": name, "line": base, "small": small}

    def _redraw(self) -> None:
        self._scene.clear()
        self._items.clear()
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        ink = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        self.setBackgroundBrush(QBrush(base))
        fonts = self._fonts()
        data = self._data

        branches = [b for b in (data.text, data.image) if b]
        columns = max(1, len(branches))
        total_width = columns * BLOCK_WIDTH + (columns - 1) * COLUMN_GAP
        centre = total_width / 2
        text_width = max(total_width + BLOCK_WIDTH / 2, TEXT_WIDTH)
        y = 0.0
        bottoms: list[tuple[float, float]] = []  # (x centre, y bottom) of each branch's last block
        if branches:
            rows = max(len(b) for b in branches)
            for row in range(rows):
                height = max(self._block_height(b[row], fonts) for b in branches if row < len(b))
                for col, branch in enumerate(branches):
                    if row >= len(branch):
                        continue
                    x = col * (BLOCK_WIDTH + COLUMN_GAP)
                    self._draw_block(branch[row], x, y, height, fonts, base, ink, muted)
                    if row > 0:
                        self._arrow(
                            QPointF(x + BLOCK_WIDTH / 2, y - ROW_GAP), QPointF(x + BLOCK_WIDTH / 2, y), ink
                        )
                    if row == len(branch) - 1:
                        bottoms.append((x + BLOCK_WIDTH / 2, y + height))
                y += height + ROW_GAP
        for index, block in enumerate(data.trunk):
            height = self._block_height(block, fonts)
            x = centre - BLOCK_WIDTH / 2
            self._draw_block(block, x, y, height, fonts, base, ink, muted)
            if index == 0:
                for bx, by in bottoms:
                    self._arrow(QPointF(bx, by), QPointF(centre, y), ink, bend=True)
            else:
                self._arrow(QPointF(centre, y - ROW_GAP), QPointF(centre, y), ink)
            y += height + ROW_GAP
        if data.trunk and data.output:
            self._arrow(QPointF(centre, y - ROW_GAP), QPointF(centre, y - ROW_GAP / 3), ink)
            label = self._text(data.output, fonts["line"], ink)
            self._fit_text(label, text_width)
            label.setPos(centre - label.boundingRect().width() / 2, y - ROW_GAP / 3 + 4)
            y += label.boundingRect().height() + 8
        y += 10
        for index, line in enumerate(data.footer):
            font = fonts["line"] if index == 0 else fonts["small"]
            item = self._text(line, font, ink if index < 2 else muted)
            self._fit_text(item, text_width)
            item.setPos(centre - item.boundingRect().width() / 2, y)
            y += item.boundingRect().height() + 3
        rect = self._scene.itemsBoundingRect().adjusted(-16, -16, 16, 16)
        self._scene.setSceneRect(rect)
        self._fit()

    def _block_height(self, block: DiagramBlock, fonts: dict[str, QFont]) -> float:
        height = PADDING * 2
        height += QFontMetricsF(fonts["title"]).height() + 1
        height += QFontMetricsF(fonts["name"]).height() + 3
        height += len(block.lines) * (QFontMetricsF(fonts["line"]).height() + 1)
        if block.params:
            height += QFontMetricsF(fonts["small"]).height() + 3
        return height

    def _draw_block(
        self,
        block: DiagramBlock,
        x: float,
        y: float,
        height: float,
        fonts: dict[str, QFont],
        base: QColor,
        ink: QColor,
        muted: QColor,
    ) -> None:
        accent = ROLE_COLOURS.get(block.role, ROLE_COLOURS["input"])
        dark = base.lightness() < 128
        fill = _mix(base, accent, 0.22 if dark else 0.09)
        border = _mix(accent, ink, 0.15)
        width = 1.4
        if block.level in LEVEL_COLOURS:
            border, width = LEVEL_COLOURS[block.level], 2.6
        rect = QGraphicsRectItem(QRectF(0, 0, BLOCK_WIDTH, height))
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, BLOCK_WIDTH, height), 8, 8)
        rect.setPen(QPen(Qt.PenStyle.NoPen))
        rect.setBrush(Qt.BrushStyle.NoBrush)
        rect.setPos(x, y)
        rect.setToolTip(block.tooltip)
        rect.setData(0, block.key)
        rect.setCursor(Qt.CursorShape.PointingHandCursor)
        shape = QGraphicsPathItem(path, rect)
        shape.setBrush(QBrush(fill))
        shape.setPen(QPen(border, width))
        stripe = QPainterPath()
        stripe.addRoundedRect(QRectF(0, 0, 5, height), 2.5, 2.5)
        bar = QGraphicsPathItem(stripe, rect)
        bar.setBrush(QBrush(border if block.level else accent))
        bar.setPen(QPen(Qt.PenStyle.NoPen))
        self._scene.addItem(rect)
        self._items[block.key] = rect

        left = PADDING + 6
        text_width = BLOCK_WIDTH - left - PADDING
        top = PADDING
        title = self._text(block.title, fonts["title"], _mix(muted, accent, 0.35), rect)
        title.setPos(left, top)
        top += QFontMetricsF(fonts["title"]).height() + 1
        name = self._text(block.name, fonts["name"], ink, rect)
        self._fit_text(name, text_width)
        name.setPos(left, top)
        top += QFontMetricsF(fonts["name"]).height() + 3
        for line in block.lines:
            item = self._text(line, fonts["line"], ink, rect)
            self._fit_text(item, text_width)
            item.setPos(left, top)
            top += QFontMetricsF(fonts["line"]).height() + 1
        if block.params:
            item = self._text(block.params, fonts["small"], muted, rect)
            self._fit_text(item, text_width)
            item.setPos(left, top + 2)

    def _text(
        self, text: str, font: QFont, colour: QColor, parent: QGraphicsItem | None = None
    ) -> QGraphicsSimpleTextItem:
        item = QGraphicsSimpleTextItem(text, parent)
        item.setFont(font)
        item.setBrush(QBrush(colour))
        if parent is None:
            self._scene.addItem(item)
        return item

    @staticmethod
    def _fit_text(item: QGraphicsSimpleTextItem, width: float) -> None:
        """Elide a line that would overflow its box (the full text stays in the tooltip)."""
        metrics = QFontMetricsF(item.font())
        full = item.text()
        if metrics.horizontalAdvance(full) > width:
            item.setText(metrics.elidedText(full, Qt.TextElideMode.ElideRight, width))
            item.setToolTip(full)

    def _arrow(self, start: QPointF, end: QPointF, ink: QColor, *, bend: bool = False) -> None:
        colour = QColor(ink)
        colour.setAlphaF(0.55)
        path = QPainterPath(start)
        if bend and abs(start.x() - end.x()) > 1:
            middle = (start.y() + end.y()) / 2
            path.cubicTo(QPointF(start.x(), middle), QPointF(end.x(), middle), QPointF(end.x(), end.y() - 7))
        else:
            path.lineTo(QPointF(end.x(), end.y() - 7))
        line = QGraphicsPathItem(path)
        line.setPen(QPen(colour, 1.6))
        self._scene.addItem(line)
        head = QPainterPath()
        head.moveTo(end)
        head.lineTo(end.x() - 5, end.y() - 8)
        head.lineTo(end.x() + 5, end.y() - 8)
        head.closeSubpath()
        tip = QGraphicsPathItem(head)
        tip.setBrush(QBrush(colour))
        tip.setPen(QPen(Qt.PenStyle.NoPen))
        self._scene.addItem(tip)

    def _fit(self) -> None:
        """Scale the whole diagram into the view (never above :data:`MAX_SCALE`), centred."""
        rect = self._scene.sceneRect()
        viewport = self.viewport().rect()
        if rect.isEmpty() or viewport.width() < 10 or viewport.height() < 10:
            return
        scale = min(viewport.width() / rect.width(), viewport.height() / rect.height(), MAX_SCALE)
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def block_at(self, point: Any) -> str | None:
        """The key of the block under ``point`` (view coordinates), or None."""
        item = self.itemAt(point)
        while item is not None:
            key = item.data(0)
            if key:
                return str(key)
            item = item.parentItem()
        return None

    def mousePressEvent(self, event: Any) -> None:
        key = self.block_at(event.position().toPoint())
        if key is not None and event.button() == Qt.MouseButton.LeftButton:
            self.block_clicked.emit(key)
            event.accept()
            return
        super().mousePressEvent(event)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._redraw()
