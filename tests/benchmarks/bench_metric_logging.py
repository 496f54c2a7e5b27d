"""Benchmark: metric logging and curve reading of the store against plain ``sqlite3``.

Not a test. Run ``python tests/benchmarks/bench_metric_logging.py`` and read the JSON it prints.

In one process, on two fresh databases created by the store's own migrations (same schema, same
pragmas: WAL, synchronous=NORMAL, foreign keys on):

(a) reference: plain ``sqlite3`` ``executemany`` of the points into ``metrics``, one
    ``BEGIN IMMEDIATE`` ... ``COMMIT`` per batch, rows with key ids prepared outside the clock;
(b) ``Store.log_metrics`` with the same points and batches, from ``(key, step, epoch, value, time)``
    tuples (it also keeps ``metric_summaries`` and ``metric_blocks`` up to date in the same
    transaction, which the reference does not);
(c) ``Store.read_curve`` of one 100,000-point curve, best of several.

(a) and (b) alternate batch by batch, so background load on the machine hits both alike.
Goals: (b) >= 0.5 x (a) points/s; (c) < 100 ms. Exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from mmstudio.store import Store

KEYS = ("train/loss", "train/lr", "train/grad_norm", "train/throughput", "train/accuracy")
GOAL_RATIO = 0.5
GOAL_READ_MS = 100.0
INSERT_SQL = "INSERT INTO metrics (run_id, key_id, step, epoch, value, wall_time) VALUES (?, ?, ?, ?, ?, ?)"


def make_points(n: int) -> list[tuple[str, int, float, float, float]]:
    """Trainer-like points: the keys interleaved, one point per key and step."""
    t0 = 1_700_000_000.0
    k = len(KEYS)
    return [(KEYS[i % k], i // k, (i // k) / 1000, 1.0 / (1 + i % 997), t0 + i * 1e-3) for i in range(n)]


def reference_connection(path: Path) -> tuple[sqlite3.Connection, int]:
    """Plain sqlite3 on a database made by the store (so: the same schema), with the same pragmas."""
    with Store.open(f"sqlite:///{path}") as store:
        run_id = store.create_run(name="reference")
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "foreign_keys = ON", "synchronous = NORMAL"):
        con.execute(f"PRAGMA {pragma}")
    con.executemany("INSERT INTO metric_keys (key) VALUES (?)", [(k,) for k in KEYS])
    return con, run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--reads", type=int, default=7)
    args = parser.parse_args()

    points = make_points(args.points)
    batches = [points[lo : lo + args.batch] for lo in range(0, len(points), args.batch)]
    with tempfile.TemporaryDirectory(prefix="mmstudio-bench-") as tmp:
        con, ref_run = reference_connection(Path(tmp) / "reference.db")
        ids = dict(con.execute("SELECT key, id FROM metric_keys"))
        ref_batches = [[(ref_run, ids[k], s, e, v, t) for k, s, e, v, t in b] for b in batches]

        store = Store.open(f"sqlite:///{Path(tmp) / 'store.db'}")
        run_id = store.create_run(name="bench")

        def reference(i: int) -> None:
            con.execute("BEGIN IMMEDIATE")
            con.executemany(INSERT_SQL, ref_batches[i])
            con.execute("COMMIT")

        def ours(i: int) -> None:
            store.log_metrics(run_id, batches[i])

        spent = {reference: 0.0, ours: 0.0}
        for i in range(len(batches)):
            for f in (reference, ours) if i % 2 == 0 else (ours, reference):
                start = time.perf_counter()
                f(i)
                spent[f] += time.perf_counter() - start

        assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == len(points)
        con.close()
        read_ms = []
        for _ in range(args.reads):
            start = time.perf_counter()
            curve = store.read_curve(run_id, KEYS[0])
            read_ms.append((time.perf_counter() - start) * 1000)
        store.close()

    ref_rate, store_rate = len(points) / spent[reference], len(points) / spent[ours]
    ratio = store_rate / ref_rate
    result = {
        "points": len(points),
        "batch": args.batch,
        "keys": len(KEYS),
        "sqlite3_points_per_s": round(ref_rate),
        "store_points_per_s": round(store_rate),
        "ratio": round(ratio, 3),
        "read_curve_points": len(curve),
        "read_curve_ms": round(min(read_ms), 2),
        "read_curve_first_ms": round(read_ms[0], 2),
        "goals": {"ratio": GOAL_RATIO, "read_curve_ms": GOAL_READ_MS},
        "ratio_ok": ratio >= GOAL_RATIO,
        "read_ok": min(read_ms) < GOAL_READ_MS,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    result["passed"] = result["ratio_ok"] and result["read_ok"]
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
