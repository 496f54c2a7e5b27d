"""How numbers, durations, sizes and times are written for people (standard library only).

The command line, the pages and the reports write a value the same way: a metric with four
significant digits, a duration as ``mm:ss`` or ``h:mm:ss``, a parameter count as ``1.2 M``, a text too
long for its place cut with ``…``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def format_value(value: Any) -> str:
    """A metric, a parameter or any stored value as text: ``""`` for None, four significant digits for
    a float (``nan`` for NaN), lists joined by commas, everything else as ``str``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def format_metrics(metrics: Mapping[str, Any], keys: Iterable[str] | None = None, sep: str = "  ") -> str:
    """``"val/accuracy 0.8125  val/loss 0.4531"``: the numeric metrics (of ``keys``, else all, sorted)."""
    chosen = sorted(metrics) if keys is None else [k for k in keys if k in metrics]
    return sep.join(
        f"{k} {format_value(float(metrics[k]))}"
        for k in chosen
        if isinstance(metrics[k], int | float) and not isinstance(metrics[k], bool)
    )


def format_duration(seconds: float | None) -> str:
    """``"04:07"`` or ``"1:02:03"``; ``""`` for None."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_age(seconds: float) -> str:
    """How long ago, for a person: ``"now"``, ``"12 s"``, ``"3 min"``, ``"2 h 05 min"``, ``"3 days"``."""
    seconds = max(0, round(seconds))
    if seconds < 1:
        return "now"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60:02d} min"
    return f"{seconds // 86400} days"


def format_count(n: int) -> str:
    """``738496`` -> ``738.5 K``; ``25557032`` -> ``25.56 M``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1e3:.1f} K"
    if n < 1_000_000_000:
        return f"{n / 1e6:.2f} M"
    return f"{n / 1e9:.2f} B"


def format_bytes(n: float) -> str:
    """Binary units: ``48033504`` -> ``45.8 MiB``."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def local_time(dt: datetime | None, *, seconds: bool = False) -> str:
    """``"2026-11-28 22:35"`` in the local time zone; ``""`` for None."""
    if dt is None:
        return ""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M")


def short_time(dt: datetime) -> str:
    """``"Nov 28 22:35"`` this year, ``"2025-11-28 22:35"`` before."""
    local = dt.astimezone()
    if local.year == datetime.now().astimezone().year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def plural(n: int, what: str, many: str | None = None) -> str:
    """``"1 folder"``, ``"3 folders"``, ``"1,204 items"``."""
    return f"{n:,} {what if n == 1 else many or what + 's'}"


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x800"`` -> ``(1280, 800)``; a ``ValueError`` saying the form for anything else."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"a size is WIDTHxHEIGHT, such as 1280x800, not {text!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"a size is two positive numbers, not {text!r}")
    return width, height


def format_float(value: float) -> str:
    """Six significant digits, short and exact enough to read back: ``0.00001`` → ``1e-05``,
    ``0.25`` → ``0.25``."""
    return f"{value:.6g}"


def key_title(key: str) -> str:
    """``embed_dim`` → ``Embed dim``: a snake_case key as a title."""
    return key.replace("_", " ").capitalize()


def shorten(text: str, n: int) -> str:
    """``text`` if it has at most ``n`` characters, else its first ``n - 1`` and ``…``."""
    return text if len(text) <= n else text[: n - 1] + "…"


def shorten_path(path: str, n: int = 64) -> str:
    """A path as a person reads it in a menu or a status bar: the home folder as ``~``, and when it is
    still longer than ``n`` characters, ``…`` and its last ``n - 1`` (the end names the file)."""
    home = os.path.expanduser("~")
    if home not in ("", "~", os.sep) and path.startswith(home + os.sep):
        path = "~" + path[len(home) :]
    return path if len(path) <= n else "…" + path[-(n - 1) :]


def sentence(text: str) -> str:
    """``"the file is empty"`` -> ``"The file is empty."``: a message as a sentence, for people."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _printable_table(multiline: bool) -> dict[int, str]:
    """What :func:`printable_text` writes for each code point it does not keep."""
    table: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
    breaks = ("\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
    table.update({ord(c): "\n" if multiline else " " for c in breaks})
    table[ord("\t")] = " "
    if multiline:
        table[ord("\r")] = ""  # "\r\n" is one break; a lone "\r" is rare enough to drop
    # Lone surrogates (bytes that were not UTF-8, kept by "surrogateescape"): the byte, as an escape.
    table.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
    table.update({c: "\ufffd" for c in range(0xD800, 0xE000) if c not in table})
    return table


_ONE_LINE, _LINES = _printable_table(False), _printable_table(True)


def printable_text(text: str, *, multiline: bool = False) -> str:
    """``text`` as it can be drawn: control characters (NUL, BEL, ESC, DEL, C1) as visible escapes
    (``\\x00``), tabs and line breaks as spaces (kept as ``\\n`` with ``multiline``), lone surrogates
    as the byte they stand for (``\\xff``). Every place that shows text from a dataset (a caption, a
    label, a path) writes it so; a font draws a control character as a box, or not at all."""
    if text.isprintable():  # the usual case: nothing to replace (spaces are printable, tabs are not)
        return text
    return text.translate(_LINES if multiline else _ONE_LINE)


# A cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: object) -> object:
    """``cell`` as a spreadsheet shows it, as text: a string that starts like a formula (a file name, a
    caption or a run name from the user, ``=HYPERLINK(...)``) gets a leading ``'``, as spreadsheets
    expect; a number written as text (``-0.25``) is left as it is."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        try:
            float(cell)
        except ValueError:
            return "'" + cell
    return cell
