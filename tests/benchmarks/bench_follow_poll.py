"""Benchmark: the cost of one tick of following a run from the store (``Store.poll_run``), on SQLite and
PostgreSQL.

Not a test. Run ``python tests/benchmarks/bench_follow_poll.py [--pg URL]`` and read the JSON it prints
(``--pg`` defaults to ``MMSTUDIO_TEST_POSTGRES_URL``; without either, SQLite only). On PostgreSQL it
adds one run to the database given and deletes it at the end.

A realistic run: 20,000 points over 6 keys as the trainer logs them (``train/loss`` every step,
``train/lr`` and ``train/samples_per_s`` every 4 steps, ``train/epoch_loss``, ``val/loss`` and
``val/accuracy`` once an epoch of 200 steps). Timed, median and 90th percentile of ``--ticks`` ticks,
the store opened once as the app holds it:

- ``idle``: a tick after which nothing was logged (the run's row and summaries, no point read);
- ``growing``: a tick after a trainer's 1.5 s of logging at 40 steps a second (60 steps: 90 points
  in 3 keys), written between ticks, outside the clock;
- ``first``: the first look at the run (every curve read whole, from the packed blocks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mmstudio.store import CurveCursor, Store

STEPS_PER_EPOCH = 200
LOG_EVERY = 4
TICK_STEPS = 60  # what 1.5 s of training at 40 steps a second logs


def points_for(steps: range, t0: float) -> list[tuple]:
    points: list[tuple] = []
    for step in steps:
        epoch = (step - 1) // STEPS_PER_EPOCH + 1
        t = t0 + step * 0.025
        points.append(("train/loss", step, epoch, 1.0 / step, t))
        if step % LOG_EVERY == 0:
            points += [("train/lr", step, epoch, 1e-3, t), ("train/samples_per_s", step, epoch, 900.0, t)]
        if step % STEPS_PER_EPOCH == 0:
            points += [(key, step, epoch, 0.5, t) for key in ("train/epoch_loss", "val/loss", "val/accuracy")]
    return points


def steps_for(total_points: int) -> int:
    """The steps whose points number ``total_points`` (about)."""
    per_step = 1 + 2 / LOG_EVERY + 3 / STEPS_PER_EPOCH
    return int(total_points / per_step)


def measure(url: str, total_points: int, ticks: int) -> dict:
    t0 = 1_700_000_000.0
    with Store.open(url) as store:
        run_id = store.create_run(name="bench-follow")
        store.start_run(run_id)
        try:
            last = steps_for(total_points)
            points = points_for(range(1, last + 1), t0)
            for start in range(0, len(points), 2000):
                store.log_metrics(run_id, points[start : start + 2000])
            firsts = []
            for _ in range(5):
                started = time.perf_counter()
                first = store.poll_run(run_id, {})
                firsts.append(time.perf_counter() - started)
            held = {key: CurveCursor.of(u.curve) for key, u in first.curves.items()}
            idle = []
            for _ in range(ticks):
                started = time.perf_counter()
                poll = store.poll_run(run_id, held)
                idle.append(time.perf_counter() - started)
                assert not poll.curves
            growing = []
            for _ in range(ticks):
                store.log_metrics(run_id, points_for(range(last + 1, last + TICK_STEPS + 1), t0))
                last += TICK_STEPS
                started = time.perf_counter()
                poll = store.poll_run(run_id, held)
                growing.append(time.perf_counter() - started)
                for key, update in poll.curves.items():
                    assert not update.replace
                    held[key] = CurveCursor(int(update.curve.step[-1]), held[key].count + len(update.curve))
            return {
                "points": sum(len(u.curve) for u in first.curves.values()),
                "keys": len(first.curves),
                "idle_ms": _summary(idle),
                "growing_ms": _summary(growing),
                "growing_points_per_tick": len(points_for(range(1, TICK_STEPS + 1), t0)),
                "first_ms": _summary(firsts),
            }
        finally:
            store.delete_run(run_id)


def _summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"median": round(statistics.median(ms), 2), "p90": round(ms[int(0.9 * (len(ms) - 1))], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--pg", default=os.environ.get("MMSTUDIO_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    result: dict = {"python": platform.python_version(), "machine": platform.machine()}
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("MMSTUDIO_HOME", folder)
        result["sqlite"] = measure(f"sqlite:///{Path(folder) / 'bench.db'}", args.points, args.ticks)
    if args.pg:
        result["postgresql"] = measure(args.pg, args.points, args.ticks)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
