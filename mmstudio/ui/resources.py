"""Files under ``resources/`` (icons, the stylesheet), found beside the package or in an installed copy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QIcon, QPixmap

ICON_STROKE = "#5b6b7f"  # the line colour of the icons in resources/icons


@cache
def resources_dir() -> Path:
    """``resources/`` of the source tree, or ``mmstudio/_resources`` in a wheel (packaging copies it)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "resources", here / "_resources"):
        if (candidate / "icons").is_dir():
            return candidate
    raise FileNotFoundError(f"mmstudio's resources folder is missing (looked beside {here})")


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


@cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` (an empty icon if there is none, never an error)."""
    path = icon_path(name)
    return QIcon(str(path)) if path.is_file() else QIcon()


@cache
def page_icon(name: str) -> QIcon:
    """A page bar icon: the drawing in its usual grey, and in white when its page is the current one
    (drawn on the highlight colour)."""
    path = icon_path(name)
    if not path.is_file():
        return QIcon()
    result = QIcon(str(path))
    svg = path.read_text(encoding="utf-8").replace(ICON_STROKE, "#ffffff").encode("utf-8")
    for size in (26, 52):
        pixmap = QPixmap()
        if pixmap.loadFromData(QByteArray(svg), "SVG"):
            result.addPixmap(pixmap.scaled(QSize(size, size)), QIcon.Mode.Normal, QIcon.State.On)
    return result


def stylesheet() -> str:
    path = resources_dir() / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""
