"""Render the app icon (``resources/icons/mmstudio.svg``) to the PNG sizes desktops ask for, as a
freedesktop icon theme folder: ``resources/icons/hicolor/<N>x<N>/apps/io.github.mmstudio.mmstudio.png``.

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py

Run it again after changing the SVG and commit the PNGs (the build and the tests use them; nothing
renders them at install time). Qt's SVG renderer draws them, so no other tool is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.mmstudio.mmstudio"
SVG = ROOT / "resources" / "icons" / "mmstudio.svg"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def png_path(size: int, root: Path = ROOT) -> Path:
    return root / "resources" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def render(sizes: tuple[int, ...] = SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"error: {SVG} is not an SVG Qt can draw")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        out = png_path(size)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(out), "PNG"):
            raise SystemExit(f"error: could not write {out}")
        written.append(out)
    return written


if __name__ == "__main__":
    for path in render():
        print(path.relative_to(ROOT))
    sys.exit(0)
