"""The shared text helpers of :mod:`mmstudio.formatting`: texts too long for their place cut one way
for the pages, the reports and the CLI; messages as sentences; counts with their noun."""

from __future__ import annotations

import os

from mmstudio.formatting import plural, printable_text, sentence, shorten, shorten_path


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


def test_printable_text_shows_control_characters_as_escapes():
    """#14: what a gallery cell, a tooltip or the item dialog draws of a caption with a NUL."""
    assert printable_text("a cat on a mat") == "a cat on a mat"
    assert printable_text("a NUL\x00 and a bell\x07, an ESC\x1b and DEL\x7f") == (
        "a NUL\\x00 and a bell\\x07, an ESC\\x1b and DEL\\x7f"
    )
    assert printable_text("C1\x9b here") == "C1\\x9b here"
    assert printable_text("one\ttab\nand lines\r\nend\u2028sep") == "one tab and lines  end sep"
    assert printable_text("one\ttab\nand lines\r\nend", multiline=True) == "one tab\nand lines\nend"
    assert printable_text("not utf-8: \udcff\udc80") == "not utf-8: \\xff\\x80"
    assert printable_text("a lone \ud800 surrogate") == "a lone \ufffd surrogate"
    for kept in (
        "café naïve",
        "日本語のキャプション",
        "emoji 👨\u200d👩\u200d👧",
        "non\u00a0breaking",
        "العربية",
    ):
        assert printable_text(kept) == kept
    controls = {*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0))}
    assert not controls & set(printable_text("".join(map(chr, range(0x100)))))
