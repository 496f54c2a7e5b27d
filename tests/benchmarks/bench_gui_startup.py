"""Benchmark: how fast the mmstudio window is on screen, against a bare PySide6 + pyqtgraph window.

Not a test. Run ``python tests/benchmarks/bench_gui_startup.py [--runs N]`` and read the JSON it prints.

Each measurement is a fresh Python process (what a user waits for: interpreter start, imports, the
window built and painted once), timed from just before the process is started to the end of the
window's first paint pass (an application event filter; with ``QT_QPA_PLATFORM=offscreen`` when
there is no display). The two kinds alternate, so a slow spell of a shared machine hits both:

* **reference**: ``import PySide6, pyqtgraph``; a QApplication, a QMainWindow whose central widget is
  a pyqtgraph PlotWidget with one curve; ``show()``.
* **mmstudio**: what ``mmstudio`` runs: :func:`mmstudio.ui.app.create_application` and
  :class:`mmstudio.ui.main_window.MainWindow` (its pages, menus, icons, stylesheet and settings); ``show()``.

Goal: the median mmstudio time is at most 2x the median reference time. The child also reports whether
torch was imported by then (it must not be: the Model page loads it in the background when needed).
Exit status 1 if the goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

GOAL = 2.0

CHILD = r"""
import sys, time, os
mode = sys.argv[1]
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

class FirstPaint(QObject):
    # The first paint pass of the window: at its first Paint event, a zero timer fires once the
    # pass (every widget painted, the backing store flushed) is over.

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not self.seen:
            self.seen = True
            QTimer.singleShot(0, self.report)
        return False

    def report(self):
        print(json.dumps({"shown": time.time(), "torch": "torch" in sys.modules}), flush=True)
        QApplication.instance().quit()

import json
if mode == "reference":
    import pyqtgraph as pg
    from PySide6.QtWidgets import QMainWindow
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle("reference")
    plot = pg.PlotWidget()
    plot.plot([0, 1, 2, 3], [0, 1, 4, 9])
    window.setCentralWidget(plot)
    window.resize(1280, 800)
else:
    from mmstudio.ui.app import create_application
    from mmstudio.ui.main_window import MainWindow
    app = create_application(sys.argv[:1])
    window = MainWindow()
paint = FirstPaint()
paint.seen = False
app.installEventFilter(paint)
window.show()
app.exec()
"""


def measure(mode: str, env: dict[str, str]) -> tuple[float, bool]:
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} child failed ({out.returncode}): {out.stderr[-2000:]}")
    report = json.loads(lines[-1])
    return report["shown"] - start, report["torch"]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="measurements of each kind (default 9)")
    args = parser.parse_args()
    env = dict(os.environ)
    if not env.get("DISPLAY") and sys.platform.startswith("linux"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["MMSTUDIO_HOME"] = tempfile.mkdtemp(prefix="mmstudio-bench-home-")  # a first start, every time
    measure("reference", env)  # warm the file cache for both
    measure("mmstudio", env)
    times: dict[str, list[float]] = {"reference": [], "mmstudio": []}
    torch_imported = False
    for _ in range(args.runs):
        for mode in ("reference", "mmstudio"):
            seconds, torch_loaded = measure(mode, env)
            times[mode].append(seconds)
            torch_imported |= mode == "mmstudio" and torch_loaded
    reference, ours = statistics.median(times["reference"]), statistics.median(times["mmstudio"])
    ratio = ours / reference
    ok = ratio <= GOAL and not torch_imported
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "platform": env.get("QT_QPA_PLATFORM", "native"),
                "runs": args.runs,
                "reference_s": round(reference, 3),
                "mmstudio_s": round(ours, 3),
                "ratio": round(ratio, 3),
                "goal": GOAL,
                "torch_imported_before_shown": torch_imported,
                "reference_all_s": [round(t, 3) for t in times["reference"]],
                "mmstudio_all_s": [round(t, 3) for t in times["mmstudio"]],
                "goal_met": ok,
            },
            indent=2,
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
