"""Start the desktop app: ``mmstudio``, ``mmstudio gui [PATH]`` and the ``--screenshot`` mode.

``--screenshot FILE.png`` (DESIGN.md) opens the window at 1280x800, loads PATH, shows the requested
page, waits until the page has finished its work (loading, thumbnails, summaries), saves the window as
a PNG and exits 0; 1 if the dataset cannot be loaded or the page does not settle in time, with the
reason on stderr. It works without a display (``QT_QPA_PLATFORM=offscreen``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mmstudio.ui.tasks import settle_heap

__all__ = ["create_application", "run_gui", "settle_heap", "window_size"]

SCREENSHOT_SIZE = (1280, 800)
SCREENSHOT_TIMEOUT_S = 300.0


def create_application(argv: list[str] | None = None):
    """The QApplication, made once, with mmstudio's name, icon and stylesheet."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
        # The GUI thread shares the interpreter lock with the loading, thumbnail and summary threads;
        # a 1 ms switch interval (Python's default is 5 ms) gets it back to the event loop sooner
        # when they are busy, at a small cost to their throughput (bench_gui_stall.py).
        sys.setswitchinterval(0.001)
    from mmstudio import __version__
    from mmstudio.ui.resources import icon, stylesheet

    app.setApplicationName("mmstudio")
    app.setApplicationDisplayName("mmstudio")
    app.setOrganizationName("mmstudio")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(icon("mmstudio"))
    sheet = stylesheet()
    if sheet:
        app.setStyleSheet(sheet)
    return app


def window_size(parser, text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` of a standalone page's ``--size`` option (an argparse error otherwise)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, not {text!r}")
    return width, height


def run_gui(
    path: str | list[str] | None = None,
    *,
    page: str | None = None,
    screenshot: str | None = None,
    db_url: str | None = None,
    format: str | None = None,
    run_ids: list[int] | None = None,
) -> int:
    """Open the main window (optionally with a dataset) and run the event loop; the exit status."""
    if screenshot and not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = create_application()
    from mmstudio.ui.main_window import PAGES, MainWindow
    from mmstudio.ui.settings import Settings

    if page is not None and page not in PAGES:
        print(f"error: no page {page!r} yet; pages: {', '.join(PAGES)}", file=sys.stderr)
        return 2
    if screenshot:
        # A screenshot is reproducible: a settings file of its own, so no user geometry or last dataset.
        import tempfile

        settings = Settings(Path(tempfile.mkdtemp(prefix="mmstudio-shot-")) / "settings.ini")
    else:
        settings = Settings()
    window = MainWindow(settings, db_url=db_url)
    if screenshot:
        window.resize(*SCREENSHOT_SIZE)
        window.datasets.ask_columns = False  # nobody is there to answer the column dialog
    window.show()
    settle_heap()
    if path:
        window.open_dataset(path, format=format)
    elif not screenshot:
        window.reopen_last_dataset()
    if page:
        window.show_page(page)
    if run_ids:
        window.compare.set_runs(list(run_ids))
        if page is None:
            window.show_page("compare" if len(run_ids) > 1 else "experiments")
    if screenshot:
        return _take_screenshot(app, window, Path(screenshot), page or "datasets", bool(path))
    window.check_store()
    return app.exec()


def _take_screenshot(app, window, out: Path, page: str, loading: bool) -> int:
    """Wait until the window settles, then save it. Processing events here (not ``exec``) keeps the
    screenshot mode a plain function that returns the exit status."""
    from PySide6.QtCore import QEventLoop

    failure: list[str] = []
    if loading:
        window.datasets.loading_finished.connect(
            lambda dataset: (
                failure.append(_load_error(window) or "the dataset did not load") if dataset is None else None
            )
        )
    if page == "model":
        window.model.prepare()
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S
    settled_since = None
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if failure:
            break
        busy = (
            window.is_busy()
            or (loading and window.state.dataset is None)
            or (page == "model" and not window.model.is_ready())
            or (page == "experiments" and not window.experiments.loaded)
        )
        if busy:
            settled_since = None
        elif settled_since is None:
            settled_since = time.monotonic()
        elif time.monotonic() - settled_since > 0.3:  # idle for a moment: layouts and repaints done
            break
        time.sleep(0.01)
    else:
        print(f"error: the {page} page did not settle within {SCREENSHOT_TIMEOUT_S:.0f} s", file=sys.stderr)
        window.close()
        return 1
    if failure:
        print(f"error: {failure[0]}", file=sys.stderr)
        window.close()
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    window.close()
    print(out)
    return 0


def _load_error(window) -> str:
    message = getattr(window.datasets, "error_message", None)
    return message() if callable(message) else ""
