"""Benchmark: training throughput under ``torchrun`` (DistributedDataParallel) against one process,
on the same demo data, model, global batch and seed, in the same run of this script.

Not a test. Run ``python tests/benchmarks/bench_ddp.py`` and read the JSON it prints.

Each side is the real command a user types, into one SQLite store in a temporary MMSTUDIO_HOME:

- ``single``: ``python -m mmstudio train JOB.json`` (torch's default thread count: on this 2-core
  machine, 2 threads);
- ``single_1_thread``: the same with ``OMP_NUM_THREADS=1`` (what torchrun gives each of its
  processes), so the cost of DDP itself shows apart from the thread count;
- ``torchrun``: ``torchrun --standalone --nproc-per-node N -m mmstudio train JOB.json`` (Gloo on a CPU,
  NCCL on CUDA).

The sides alternate, ``--rounds`` times each; a side's figure is the median, over its rounds, of the
median of its run's logged ``train/samples_per_s`` after the first epoch (warm-up, dataset caches). The
model is the demo's default (fused text CNN + small CNN, 0.38 M parameters) unless ``--text-only``.

On a GPU (``--device cuda --precision bf16 --nproc 1``) this is the issue's device check: DDP with
NCCL and bf16 in one process against the non-distributed run. ``--smoke``: tiny and quick, to check
the script runs.
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
from pathlib import Path

import torch


def run(command: list[str], env: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return json.loads(done.stdout)["run_id"], time.perf_counter() - started


def samples_per_s(db_url: str, run_id: int, steps_per_epoch: int) -> float:
    from mmstudio.store import Store

    with Store.open(db_url) as store:
        curve = store.read_curve(run_id, "train/samples_per_s")
    values = [v for s, v in zip(curve.step, curve.value, strict=True) if s > steps_per_epoch]
    return statistics.median(values or list(curve.value))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes under torchrun (default: 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--text-only", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.epochs, args.rounds = 240, 2, 1

    from mmstudio.data.demo import write_demo

    with tempfile.TemporaryDirectory(prefix="mmstudio-bench-ddp-") as tmp:
        root = Path(tmp)
        data = root / "demo"
        write_demo(data, n_items=args.items, image_size=64)
        model = (
            {
                "task": "classification",
                "text_encoder": {"name": "textcnn"},
                "image_encoder": {"name": "none"},
                "head": {"name": "mlp"},
            }
            if args.text_only
            else None
        )
        train = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "device": args.device,
            "precision": args.precision,
            "early_stopping": False,
            "log_every_steps": 5,
        }
        job = {"dataset": {"path": str(data)}, "train": train, **({"model": model} if model else {})}
        spec = root / "job.json"
        spec.write_text(json.dumps(job), encoding="utf-8")
        db_url = f"sqlite:///{root / 'store.db'}"
        env = {**os.environ, "MMSTUDIO_HOME": str(root / "home")}
        env.pop("MMSTUDIO_DB", None)
        mm = [sys.executable, "-m", "mmstudio", "--db", db_url, "train", str(spec), "--json", "--quiet"]
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        sides = {
            "single": (mm, {}),
            "single_1_thread": (mm, {"OMP_NUM_THREADS": "1"}),
            "torchrun": ([*launcher, f"--nproc-per-node={args.nproc}", *mm[1:]], {}),
        }
        steps_per_epoch = None
        figures: dict[str, list[float]] = {name: [] for name in sides}
        walls: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, (command, extra) in sides.items():
                run_id, wall = run(command, {**env, **extra})
                if steps_per_epoch is None:
                    from mmstudio.store import Store

                    with Store.open(db_url) as store:
                        last = int(store.read_curve(run_id, "train/loss").step.max())
                    steps_per_epoch = last // args.epochs
                figures[name].append(samples_per_s(db_url, run_id, steps_per_epoch))
                walls[name].append(wall)
        result = {name: round(statistics.median(values), 1) for name, values in figures.items()}
        report = {
            "benchmark": "ddp",
            "device": args.device,
            "nproc": args.nproc,
            "precision": args.precision,
            "model": "text-only textcnn" if args.text_only else "demo default (textcnn + small_cnn)",
            "items": args.items,
            "epochs": args.epochs,
            "global_batch": args.batch_size,
            "rounds": args.rounds,
            "samples_per_s": result,
            "wall_s": {name: round(statistics.median(v), 1) for name, v in walls.items()},
            "torchrun_vs_single": round(result["torchrun"] / result["single"], 3),
            "torchrun_vs_single_1_thread": round(result["torchrun"] / result["single_1_thread"], 3),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        }
        if args.device.startswith("cuda") and torch.cuda.is_available():
            report["gpu"] = torch.cuda.get_device_name(0)
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
