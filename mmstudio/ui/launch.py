"""Start the desktop app: ``mmstudio``, ``mmstudio gui [PATH]`` and the ``--screenshot`` mode.

``--screenshot FILE.png`` (DESIGN.md) opens the window at 1280x800, loads PATH, shows the requested
page, waits until the page has finished its work (loading, thumbnails, summaries), saves the window as
a PNG and exits 0; 1 if the dataset cannot be loaded or the page does not settle in time, with the
reason on stderr. It works without a display (``QT_QPA_PLATFORM=offscreen``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mmstudio.heap import settle_heap
from mmstudio.ui.app import SCREENSHOT_SIZE, create_application, save_when_settled

SCREENSHOT_TIMEOUT_S = 300.0


def run_gui(
    path: str | list[str] | None = None,
    *,
    page: str | None = None,
    screenshot: str | None = None,
    db_url: str | None = None,
    format: str | None = None,
    run_ids: list[int] | None = None,
    theme: str | None = None,
    spec: str | None = None,
) -> int:
    """Open the main window (optionally with a dataset, and a model spec file on the Model page) and run
    the event loop; the exit status."""
    if screenshot and not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from mmstudio import preferences
    from mmstudio.ui.settings import Settings
    from mmstudio.vocabulary import PAGES

    if page is not None and page not in PAGES:
        print(f"error: no page {page!r} yet; pages: {', '.join(PAGES)}", file=sys.stderr)
        return 2
    if spec and page is None:
        page = "model"
    if screenshot:
        # A screenshot is reproducible: a settings file of its own, so no user geometry or last dataset.
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="mmstudio-shot-", ignore_cleanup_errors=True)
        settings = Settings(Path(scratch.name) / "settings.ini")
    else:
        settings = Settings()
    # --theme > MMSTUDIO_THEME > the settings > the system's (mmstudio.preferences).
    chosen = preferences.resolve(theme, preferences.THEME_ENV, settings.theme, "system")
    app = create_application(theme=chosen.value)
    from mmstudio.ui.file_open import listen_for_file_open
    from mmstudio.ui.main_window import MainWindow

    # Before the window: Finder's request to open the file it was double-clicked for may come first.
    file_open = None if screenshot else listen_for_file_open(app)

    window = MainWindow(settings, db_url=db_url, theme=theme, export_cache_folder=True)
    if screenshot:
        window.resize(*SCREENSHOT_SIZE)
        window.datasets.ask_columns = False  # nobody is there to answer the column dialog
    window.show()
    settle_heap()
    if path:
        window.open_dataset(path, format=format)
    elif not screenshot:
        window.reopen_last_dataset()
    if spec:
        window.open_spec(spec)  # the Model page shows what is wrong with a broken file
    if page:
        window.show_page(page)
    if run_ids:
        window.compare.set_runs(list(run_ids))
        if page is None:
            window.show_page("compare" if len(run_ids) > 1 else "experiments")
    if screenshot:
        try:
            return _take_screenshot(app, window, Path(screenshot), page or "datasets", bool(path))
        finally:
            scratch.cleanup()  # the screenshot's own settings folder goes with it
    if file_open is not None:
        file_open.attach(window)  # after the command line's PATH: a file Finder asks for is opened last
    window.check_store()
    return app.exec()


def _take_screenshot(app, window, out: Path, page: str, loading: bool) -> int:
    """Save the window once it has settled: the dataset loaded (or failed), the page's work done."""
    failure: list[str] = []
    if loading:
        window.datasets.loading_finished.connect(
            lambda dataset: (
                failure.append(window.datasets.error_message() or "the dataset did not load")
                if dataset is None
                else None
            )
        )
    if page == "model":
        window.model.prepare()

    def busy() -> bool:
        return (
            window.is_busy()
            or (loading and window.state.dataset is None)
            or (page == "model" and not window.model.is_ready())
            or (page == "experiments" and not window.experiments.loaded)
        )

    code = save_when_settled(
        app, window, out, busy, lambda: failure[0] if failure else "", SCREENSHOT_TIMEOUT_S, page
    )
    window.close()
    return code
