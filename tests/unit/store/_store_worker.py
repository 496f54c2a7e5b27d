"""A separate process hammering a store, for test_concurrency.py.

python _store_worker.py write URL TAG RUNS POINTS BATCH   -> JSON {"runs", "started", "ended"}
python _store_worker.py read URL STOP_FILE                -> JSON {"loops": n, "curves": n}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mmstudio.store import Store


def write(url: str, tag: str, runs: int, points: int, batch: int, sync: Path) -> dict:
    ids = []
    with Store.open(url) as store:
        wait_for_go(sync, tag)
        started = time.time()
        for r in range(runs):
            run_id = store.create_run(name=f"{tag}-{r}", tags=[tag])
            store.start_run(run_id)
            for lo in range(0, points, batch):
                steps = range(lo, min(lo + batch, points))
                store.log_metrics(
                    run_id,
                    [("train/loss", s, s / 100, 1.0 / (s + 1), None) for s in steps]
                    + [("train/lr", s, None, 1e-3, None) for s in steps],
                )
                if lo == points // 2:
                    store.set_notes(run_id, f"halfway through {tag}-{r}")
            store.add_evaluation(run_id, split="test", metrics={"accuracy": 0.5})
            store.finish_run(run_id)
            ids.append(run_id)
    return {"runs": ids, "started": started, "ended": time.time()}


def wait_for_go(sync: Path, tag: str) -> None:
    (sync / f"ready-{tag}").touch()
    while not (sync / "go").exists():
        time.sleep(0.005)


def open_new(url: str, tag: str, sync: Path) -> dict:
    wait_for_go(sync, tag)
    with Store.open(url) as store:
        return {"run": store.create_run(name=tag)}


def read(url: str, stop: Path) -> dict:
    loops = curves = 0
    with Store.open(url) as store:
        while True:
            stopping = stop.exists()  # one more full pass after the writers are done
            for run in store.list_runs():
                store.get_run(run.id)
                curve = store.read_curve(run.id, "train/loss")
                assert (curve.step[1:] >= curve.step[:-1]).all()
                curves += 1
            store.metric_stats([r.id for r in store.list_runs(limit=10)])
            loops += 1
            if stopping:
                return {"loops": loops, "curves": curves}
            time.sleep(0.005)


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    if mode == "write":
        tag, runs, points, batch, sync = rest
        print(json.dumps(write(url, tag, int(runs), int(points), int(batch), Path(sync))))
    elif mode == "open":
        print(json.dumps(open_new(url, rest[0], Path(rest[1]))))
    else:
        print(json.dumps(read(url, Path(rest[0]))))
