"""Terminal output for the command line: a progress bar on stderr and small table helpers.

The bar redraws at most ten times a second and only on a terminal; when stderr is a pipe or a file
(CI, logs) it prints a plain line every few seconds instead, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mmstudio.formatting import format_duration


class ProgressBar:
    """``done / total`` with rate and ETA: ``checking  [#####-----]  512/1,000  850 rows/s  ETA 00:01``."""

    def __init__(
        self,
        label: str,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        width: int = 28,
        enabled: bool = True,
    ):
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        self.update(done, total)

    def update(self, done: int, total: int, extra: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not self._drawn and not self.tty and done == 0:
            self._last_draw = now  # a log gets its first line after one interval, not an empty bar
            return
        interval = 0.1 if self.tty else 5.0
        if done < total and now - self._last_draw < interval:
            return
        self._last_draw = now
        self._draw(done, total, now - self._start, extra)

    def _draw(self, done: int, total: int, elapsed: float, extra: str) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = done / total if total else 1.0
        filled = int(self.width * min(1.0, frac))
        bar = "#" * filled + "-" * (self.width - filled)
        if done >= total:
            when = f"in {format_duration(elapsed)}"
        else:
            when = "ETA " + (format_duration((total - done) / rate) if rate > 0 else "--:--")
        unit = f" {self.unit}" if self.unit else ""
        line = f"{self.label}  [{bar}]  {done:,}/{total:,}  {rate:,.0f}{unit}/s  {when}"
        if extra:
            line += f"  {extra}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain left-aligned text table (right-aligned for cells that look numeric)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(row: list[str]) -> str:
        cells = []
        for i, cell in enumerate(row):
            numeric = cell.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()
            cells.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)
