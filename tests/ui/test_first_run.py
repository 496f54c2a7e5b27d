"""The first run as a newcomer sees it: an empty store and no dataset lead somewhere (open a dataset,
create the demo, a tour of the pages), and the empty pages point to the next step."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog

from mmstudio.ui.chrome import TOUR_STEPS
from mmstudio.ui.main_window import PAGES, MainWindow
from mmstudio.ui.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "settings.ini")


def _window(qtbot, settings):
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.check_store()
    qtbot.waitUntil(lambda: hasattr(win, "store_runs"), timeout=30_000)
    return win


def test_the_first_start_offers_the_tour_once(qtbot, settings):
    first = _window(qtbot, settings)
    assert first.welcome.isVisible() and first.welcome.tour_button.isVisible()
    assert first.welcome.demo_button.isVisible()  # the store is empty
    assert Settings(settings.path).tour_offered
    first.close()
    second = _window(qtbot, Settings(settings.path))
    assert second.welcome.isVisible() and not second.welcome.tour_button.isVisible()  # the demo only


def test_the_tour_steps_through_the_five_pages_without_blocking(qtbot, settings):
    window = _window(qtbot, settings)
    window.welcome.tour_button.click()
    assert window.welcome.isHidden() and window.tour.isVisible()
    assert [page for page, _ in TOUR_STEPS] == list(PAGES)
    seen = [window.current_page()]
    for _ in PAGES[1:]:
        window.tour.next_button.click()
        seen.append(window.current_page())
        assert window.tour.text.text().startswith(f"<b>Tour {len(seen)} of {len(PAGES)}")
    assert seen == list(PAGES) and window.tour.next_button.text() == "Done"
    window.tour.back_button.click()
    assert window.current_page() == "experiments"
    window.show_page("model")  # the rest of the window works while it is shown
    assert window.tour.isVisible()
    window.tour.go(len(PAGES) - 1)
    window.tour.next_button.click()
    assert window.tour.isHidden() and window.current_page() == "datasets"


def test_the_datasets_welcome_opens_creates_the_demo_and_tours(qtbot, settings, small_demo, monkeypatch):
    window = _window(qtbot, settings)
    empty = window.datasets.empty
    assert window.datasets.stack.currentWidget() is empty and empty.title.text() == "Start with a dataset"
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *args: asked.append(args[1]) or ([], ""))
    window.datasets.open_button.click()
    assert asked == ["Open a dataset"]  # File > Open dataset…'s dialog
    window.datasets.tour_button.click()
    assert window.tour.isVisible() and window.tour.step == 0
    window.tour.hide()
    monkeypatch.setattr("mmstudio.data.demo.ensure_demo", lambda: small_demo / "manifest.csv")
    with qtbot.waitSignal(window.datasets.loading_finished, timeout=60_000) as loaded:
        window.datasets.demo_button.click()
        assert not window.datasets.demo_button.isEnabled()  # written in the background
    assert loaded.args[0] is not None and len(loaded.args[0].items) == 240
    assert window.datasets.demo_button.isEnabled()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=60_000)


def test_a_tour_started_before_the_store_was_counted_is_not_covered_by_the_offer(qtbot, settings):
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    window.start_tour()
    window.check_store()
    qtbot.waitUntil(lambda: hasattr(window, "store_runs"), timeout=30_000)
    assert window.tour.isVisible() and window.welcome.isHidden()


def test_the_tour_can_be_taken_again_from_the_help_menu(qtbot, settings):
    window = _window(qtbot, settings)
    help_menu = window.menuBar().actions()[-1].menu()
    [tour] = [a for a in help_menu.actions() if a.text() == "Take the &tour"]
    tour.trigger()
    assert window.tour.isVisible() and window.current_page() == "datasets"
