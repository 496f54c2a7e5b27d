"""Benchmark: the longest GUI-thread stall while a 1,000,000-step run streams metrics into the Train page.

Not a test. Run ``python tests/benchmarks/bench_train_plots.py [--steps N]`` and read the JSON it prints.

The real :class:`mmstudio.ui.train.panel.TrainPanel`, shown at 1280 x 800 (offscreen without a
display), reads events from a stand-in for the worker's handle through its real timer and event path
(:meth:`WorkerController.poll` → :meth:`RunViewWidget.feed_events` → the live plots): no process, so
what is measured is the GUI's side alone. A 1 ms ``QTimer`` on the GUI thread measures stalls (the gap between
two ticks). The phases:

1. **idle_reference**: the panel shown, the 1 ms timer alone (this machine's timer jitter);
2. **stream**: a run logging the loss of every step at ``--rate`` steps a second, sent as the worker
   sends them (one coalesced ``MetricsLogged`` and one ``ProgressUpdated`` every 50 ms), to ``--steps``;
3. **flood**: the same steps all waiting at once (a backlog: the reader as the only limit).

Goal: every phase's longest stall under 50 ms and its 99th percentile under 20 ms; the curves hold
every point at the end. Exit status 1 if the goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gui_stall import StallMeter, spin

GOAL_MAX_MS = 50.0
GOAL_P99_MS = 20.0
SEND_INTERVAL_S = 0.05  # the worker's ThrottledSender


class SyntheticHandle:
    """Stands in for a WorkerHandle: ``events()`` returns what a worker would have sent by now."""

    def __init__(self, steps: int, rate: float | None) -> None:
        from mmstudio.training import events as ev

        self.ev = ev
        self.steps = steps
        self.rate = rate  # steps a second; None: everything is waiting already
        self.per_event = max(1, round((rate or 40_000) * SEND_INTERVAL_S))
        self.sent = 0
        self.started = time.perf_counter()
        self.terminal = None
        self.pending: list = []

    @property
    def finished(self) -> bool:
        return self.terminal is not None

    def _available(self) -> int:
        if self.rate is None:
            return self.steps
        return min(self.steps, int((time.perf_counter() - self.started) / SEND_INTERVAL_S) * self.per_event)

    def events(self, timeout: float = 0.0, max_items: int | None = None) -> list:
        ev = self.ev
        out: list = []
        limit = max_items or 1_000_000
        while len(out) < limit:
            if self.sent >= self.steps:
                if self.terminal is None:
                    self.terminal = ev.RunFinished(1, "completed", {}, {}, 0.0, time.time())
                    out.append(self.terminal)
                break
            available = self._available()
            if available <= self.sent:
                break
            first, last = self.sent + 1, min(self.sent + self.per_event, available)
            points = [
                ("train/loss", s, s // 10_000 + 1, 2.0 / (1 + s * 1e-5)) for s in range(first, last + 1)
            ]
            points.append(("train/lr", last, 1, 1e-3))
            points.append(("train/samples_per_s", last, 1, 64 * (self.rate or 40_000.0)))
            if last % 10_000 < self.per_event:
                points.append(("val/accuracy", last, last // 10_000, min(1.0, last / self.steps)))
            out.append(ev.MetricsLogged(1, tuple(points), time.time()))
            out.append(
                ev.ProgressUpdated(1, last // 10_000 + 1, last, self.steps, 1e5, 10.0, time.time(), 1 << 30)
            )
            self.sent = last
        return out

    def close(self, timeout: float = 0.0) -> list:
        return []

    def stop(self) -> None:
        pass


def run_phase(app, panel, meter, steps: int, rate: float | None, timeout_s: float) -> dict:
    from mmstudio.training.queue import QueueEntry

    plots = panel.run_view.plots
    plots.clear()
    redraws_before = plots.redraw_count
    handle = SyntheticHandle(steps, rate)
    panel._entry = QueueEntry(job=None, title="synthetic")  # type: ignore[arg-type]
    panel.feed_events(
        [panel_event_started(handle.ev, steps)]
    )  # as the worker's first event: the plots are cleared, the labels set
    panel.controller.watch(handle)
    meter.start()
    started = time.perf_counter()
    while panel.has_running_run() or plots.flushing:  # until the last points are drawn
        spin(app, 0.05)
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"the phase did not end within {timeout_s} s")
    seconds = time.perf_counter() - started
    result = meter.stop()
    lengths = plots.curve_lengths()
    result.update(
        {
            "seconds": round(seconds, 2),
            "steps_per_s_shown": round(steps / seconds),
            "redraws": plots.redraw_count - redraws_before,
            "loss_points": lengths["train/loss"],
            "all_points_kept": lengths["train/loss"] == steps == lengths["train/loss (smoothed)"],
        }
    )
    return result


def panel_event_started(ev, steps: int):
    return ev.RunStarted(1, "synthetic", "cpu", steps // 10_000 + 1, 10_000, steps, 0, 1_000_000, time.time())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=50_000.0, help="steps a second of the stream phase")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    work = Path(tempfile.mkdtemp(prefix="mmstudio-train-plots-"))
    os.environ["MMSTUDIO_HOME"] = str(work / "home")

    from mmstudio.ui.app import create_application, settle_heap
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState
    from mmstudio.ui.train.panel import TrainPanel

    app = create_application()  # as the app makes it: its style and its 1 ms switch interval
    panel = TrainPanel(StudioState(), Settings(work / "settings.ini"))
    panel.resize(1280, 800)
    panel.show()
    deadline = time.perf_counter() + 120
    while panel.devices is None and time.perf_counter() < deadline:
        spin(app, 0.1)  # the device detection (a process importing torch) is not measured
    spin(app, 1.0)  # nor the store listing
    settle_heap()  # as mmstudio.ui.launch.run_gui does once the window is built
    meter = StallMeter()
    phases: dict[str, dict] = {}
    meter.start()
    spin(app, 2.0)
    phases["idle_reference"] = meter.stop()
    phases["stream"] = run_phase(app, panel, meter, args.steps, args.rate, 600)
    phases["flood"] = run_phase(app, panel, meter, args.steps, None, 600)
    spin(app, 0.2)
    measured = {k: v for k, v in phases.items() if k != "idle_reference"}
    ok = all(
        p["max_ms"] < GOAL_MAX_MS and p["p99_ms"] < GOAL_P99_MS and p["all_points_kept"]
        for p in measured.values()
    )
    print(
        json.dumps(
            {
                "benchmark": "train_plots",
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "steps": args.steps,
                "goal": {"max_ms": GOAL_MAX_MS, "p99_ms": GOAL_P99_MS},
                "phases": phases,
                "ok": ok,
            },
            indent=1,
        )
    )
    panel.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
