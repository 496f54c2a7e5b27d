"""The shared text helpers of :mod:`mmstudio.formatting`: texts too long for their place cut one way
for the pages, the reports and the CLI; messages as sentences; counts with their noun."""

from __future__ import annotations

import os

from mmstudio.formatting import plural, sentence, shorten, shorten_path


def test_shorten_keeps_a_short_text_and_cuts_a_long_one_to_its_width():
    assert shorten("confusion", 9) == "confusion"
    assert shorten("confusion", 8) == "confusi…"
    assert len(shorten("x" * 100, 18)) == 18
    assert shorten("", 3) == ""


def test_shorten_path_writes_home_as_a_tilde_and_keeps_the_end(monkeypatch, tmp_path):
    home = tmp_path / "me"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    inside = os.path.join(str(home), "data", "demo", "manifest.csv")
    assert shorten_path(inside) == os.path.join("~", "data", "demo", "manifest.csv")
    beside = str(home) + "-other/x.csv"  # beside the home folder, not in it
    assert shorten_path(beside, 500) == beside
    long = "/srv/" + "a" * 80 + "/manifest.csv"
    short = shorten_path(long, 20)
    assert len(short) == 20 and short.startswith("…") and short.endswith("/manifest.csv")


def test_sentence():
    assert sentence("  the file is empty ") == "The file is empty."
    assert sentence("Done!") == "Done!" and sentence("why?") == "Why?" and sentence("") == ""


def test_plural():
    assert plural(1, "folder") == "1 folder" and plural(1204, "item") == "1,204 items"
