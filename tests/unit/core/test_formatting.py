"""The shared text helpers of :mod:`mmstudio.formatting`."""

from mmstudio.formatting import plural, sentence, shorten


def test_shorten():
    assert shorten("abc", 3) == "abc"
    assert shorten("abcdef", 4) == "abc…" and len(shorten("x" * 500, 400)) == 400


def test_sentence():
    assert sentence("  the file is empty ") == "The file is empty."
    assert sentence("Done!") == "Done!" and sentence("why?") == "Why?" and sentence("") == ""


def test_plural():
    assert plural(1, "folder") == "1 folder" and plural(1204, "item") == "1,204 items"
