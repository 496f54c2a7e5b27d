"""Every page runs alone through the one harness (``python -m mmstudio.ui.<page>``): it settles, saves
its screenshot at the size asked, and exits 1 with the reason when it cannot show what was asked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from mmstudio.ui.pages import PAGE_TABLE
from mmstudio.vocabulary import PAGES


def run_page(page: str, *args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MMSTUDIO_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", f"mmstudio.ui.{page}", *args, "--size", "900x600", "--timeout", "120"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_page_table_is_the_vocabularys():
    assert tuple(PAGE_TABLE) == PAGES
    for page in PAGE_TABLE.values():
        assert page.panel_class().__name__.endswith("Panel")


@pytest.mark.parametrize(
    ("page", "args"),
    [("model", ["--no-dataset"]), ("train", ["--no-dataset"]), ("experiments", [])],
)
def test_a_page_alone_saves_its_screenshot(page, args, tmp_path):
    out = tmp_path / f"{page}.png"
    done = run_page(page, *args, "--screenshot", str(out), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (900, 600)


def test_a_page_that_cannot_show_what_was_asked_says_why(tmp_path):
    out = tmp_path / "compare.png"
    done = run_page("compare", "--run", "1", "--run", "2", "--screenshot", str(out), home=tmp_path / "home")
    assert done.returncode == 1 and "no run 1" in done.stderr
    done = run_page("model", str(tmp_path / "nowhere"), "--screenshot", str(out), home=tmp_path / "home")
    assert (
        done.returncode == 1 and "the dataset did not load" in done.stderr and "does not exist" in done.stderr
    )
    assert not out.exists()
    done = run_page("train", "--size", "9x", home=tmp_path / "home")
    assert done.returncode == 2 and "WIDTHxHEIGHT" in done.stderr


def test_a_page_alone_takes_the_dark_theme(tmp_path):
    out = tmp_path / "dark.png"
    done = run_page(
        "model", "--no-dataset", "--theme", "dark", "--screenshot", str(out), home=tmp_path / "home"
    )
    assert done.returncode == 0, done.stderr
    corner = Image.open(out).convert("L").getpixel((5, 5))
    assert corner < 80  # the window's background is dark


def test_themes_set_the_palette_and_an_unknown_one_is_refused(qapp):
    from PySide6.QtGui import QPalette

    from mmstudio.ui.app import apply_theme

    before, style = qapp.palette(), qapp.style().name()
    try:
        apply_theme(qapp, "dark")
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80
        apply_theme(qapp, "light")
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 180
        with pytest.raises(ValueError, match="choose one of: system, light, dark"):
            apply_theme(qapp, "sepia")
    finally:
        qapp.setStyle(style)
        qapp.setPalette(before)
