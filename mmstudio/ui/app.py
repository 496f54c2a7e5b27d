"""The application every window of mmstudio runs in (its name, icon, stylesheet and switch interval),
and the screenshot routine: wait until a widget has settled, then save it as a PNG.

The main window (:mod:`mmstudio.ui.launch`) and every page shown alone (:mod:`mmstudio.ui.harness`) use
them; nothing here imports a page.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mmstudio.heap import settle_heap
from mmstudio.preferences import THEME_ENV, THEMES

__all__ = ["THEMES", "create_application", "save_when_settled", "settle_heap"]

SCREENSHOT_SIZE = (1280, 800)
#: The dark palette's colours by role (Qt's Fusion style draws every widget from them).
_DARK = {
    "Window": "#2b2d31",
    "WindowText": "#e6e6e6",
    "Base": "#1f2023",
    "AlternateBase": "#2a2c30",
    "ToolTipBase": "#3a3d42",
    "ToolTipText": "#f0f0f0",
    "PlaceholderText": "#8b8f96",
    "Text": "#e6e6e6",
    "Button": "#34373c",
    "ButtonText": "#e6e6e6",
    "BrightText": "#ff6b6b",
    "Light": "#4a4d53",
    "Midlight": "#3d4045",
    "Mid": "#2f3236",
    "Dark": "#1b1c1f",
    "Shadow": "#111214",
    "Highlight": "#3d7fd9",
    "HighlightedText": "#ffffff",
    "Link": "#6aa9ff",
    "LinkVisited": "#b08cff",
}


def apply_theme(app, theme: str | None) -> None:
    """Give ``app`` the palette of ``theme`` (one of :data:`THEMES`; None: ``MMSTUDIO_THEME``, else
    ``system``). Call it before the widgets are made: plots read the palette when they are built."""
    from PySide6.QtGui import QColor, QPalette

    theme = theme or os.environ.get(THEME_ENV) or "system"
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; choose one of: {', '.join(THEMES)}")
    if theme == "system":
        return
    app.setStyle("Fusion")  # the platform styles may ignore a palette; Fusion draws from it
    palette = app.style().standardPalette()
    if theme == "dark":
        for role, colour in _DARK.items():
            palette.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
        for role in ("WindowText", "Text", "ButtonText"):
            palette.setColor(
                QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role), QColor("#7c8088")
            )
    app.setPalette(palette)


def create_application(argv: list[str] | None = None, *, theme: str | None = None):
    """The QApplication, made once, with mmstudio's name, icon, stylesheet and palette (``theme``: see
    :func:`apply_theme`)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
        # The GUI thread shares the interpreter lock with the loading, thumbnail and summary threads;
        # a 1 ms switch interval (Python's default is 5 ms) gets it back to the event loop sooner
        # when they are busy, at a small cost to their throughput (bench_gui_stall.py).
        sys.setswitchinterval(0.001)
    from mmstudio import APP_ID, __version__
    from mmstudio.ui.resources import icon, stylesheet

    app.setApplicationName("mmstudio")
    app.setApplicationDisplayName("mmstudio")
    app.setOrganizationName("mmstudio")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)  # packaging/linux/<APP_ID>.desktop: its name and icon for the window
    app.setWindowIcon(icon("mmstudio"))
    sheet = stylesheet()
    if sheet:
        app.setStyleSheet(sheet)
    apply_theme(app, theme)
    return app


def save_when_settled(
    app, widget, out: Path, busy: Callable[[], bool], failure: Callable[[], str], timeout_s: float, what: str
) -> int:
    """Process events until ``busy()`` has been false for a moment (layouts and repaints done), then save
    ``widget`` as the PNG ``out`` and return 0; 1, with the reason on stderr, when ``failure()`` says
    something went wrong or it does not settle within ``timeout_s``. Processing events here (not
    ``exec``) keeps the screenshot mode a plain function that returns the exit status."""
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout_s
    settled_since = None
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if failure():
            break
        if busy():
            settled_since = None
        elif settled_since is None:
            settled_since = time.monotonic()
        elif time.monotonic() - settled_since > 0.3:  # idle for a moment: layouts and repaints done
            break
        time.sleep(0.01)
    else:
        print(f"error: the {what} page did not settle within {timeout_s:.0f} s", file=sys.stderr)
        return 1
    if message := failure():
        print(f"error: {message}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(out)):
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    print(out)
    return 0
