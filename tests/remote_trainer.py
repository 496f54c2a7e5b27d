"""A training process on another machine, as the store sees it: a separate process that records a run
the way ``mmstudio train`` does (the run created and started, the trainer's events written by the real
:class:`~mmstudio.training.store_writer.StoreWriter`, the run finished), without torch, at a pace a
test chooses. Tests follow it from the store (the Train page, the Compare page, ``poll_run``).

    python tests/remote_trainer.py URL [--epochs 3] [--steps 40] [--step-s 0.02] [--host gpu-box-7]
        [--end completed|failed|interrupted] [--hold FILE] [--name NAME]

It prints ``{"run_id": N}`` on its first line as soon as the run is running (a test waits for it),
then trains: per step a ``train/loss`` point, per 4 steps ``train/lr`` (a cosine schedule) and
``train/samples_per_s`` (about 512), per epoch ``train/epoch_loss``, ``val/loss`` and ``val/accuracy``.
With ``--hold FILE`` it waits, before its last epoch, until FILE exists (a test looks at a run in
progress, then lets it end).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from mmstudio.store import Store
from mmstudio.training import events as ev
from mmstudio.training.store_writer import StoreWriter

MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32},
}


def train(args: argparse.Namespace) -> int:
    with Store.open(args.url) as store:
        run_id = store.create_run(
            name=args.name,
            spec=MODEL,
            train_spec={"epochs": args.epochs, "batch_size": 32, "lr": 1e-3, "device": "cuda"},
            device="cuda:0",
        )
        store.start_run(run_id, pid=4242, hostname=args.host, device="cuda:0")
        print(json.dumps({"run_id": run_id}), flush=True)
        writer = StoreWriter(store, run_id, flush_interval_s=0.1)
        step = 0
        for epoch in range(1, args.epochs + 1):
            if args.hold and epoch == args.epochs:
                while not Path(args.hold).exists():
                    time.sleep(0.02)
            for _ in range(args.steps):
                step += 1
                loss = 0.08 + 2.0 * math.exp(-step / 60) + 0.04 * math.sin(step)
                points = [("train/loss", step, epoch, loss)]
                if step % 4 == 0:
                    lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / (args.epochs * args.steps)))
                    rate = 512.0 + 24.0 * math.sin(step / 7)
                    points += [("train/lr", step, epoch, lr), ("train/samples_per_s", step, epoch, rate)]
                writer(ev.MetricsLogged(run_id, tuple(points), time.time()))
                time.sleep(args.step_s)
            val = 1.0 - 0.5 / epoch
            metrics = {"train/epoch_loss": 1.0 / epoch, "val/loss": 1.1 / epoch, "val/accuracy": val}
            points = tuple((key, step, epoch, value) for key, value in metrics.items())
            writer(ev.MetricsLogged(run_id, points, time.time()))
            writer(ev.EpochEnded(run_id, epoch, step, metrics, time.time()))
        writer.flush()
        if args.end == "completed":
            store.add_evaluation(run_id, split="test", metrics={"accuracy": 0.9})
            store.log_metrics(run_id, [("test/accuracy", step, None, 0.9, None)])
            store.finish_run(run_id)
        else:
            store.finish_run(run_id, args.end, error_message=f"the remote run ended {args.end} on purpose")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--step-s", type=float, default=0.02, help="seconds per step")
    parser.add_argument("--host", default="gpu-box-7")
    parser.add_argument("--end", default="completed", choices=("completed", "failed", "interrupted"))
    parser.add_argument("--hold", help="wait for this file before the last epoch")
    parser.add_argument("--name", default="remote-run")
    return train(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
