"""Benchmark: training throughput of the mmstudio path against a hand-written PyTorch loop.

Not a test. Run ``python tests/benchmarks/bench_training_throughput.py [--device cuda]`` and read
the JSON it prints.

In one process, on the same prepared demo data, model spec, batch size and optimiser (AdamW,
gradient clipping), from the same initial weights:

(a) reference: a plain loop (``for batch in data.batches(...)``: forward, loss, backward, clip,
    step, ``zero_grad(set_to_none=True)``), nothing logged;
(b) :class:`~mmstudio.training.trainer.Trainer` with everything a worker has: events every
    ``log_every_steps`` through a :class:`~mmstudio.training.store_writer.StoreWriter` into a real
    SQLite store and a :class:`~mmstudio.training.worker.ThrottledSender` onto a ``spawn``
    ``multiprocessing`` queue, drained by a thread as the GUI would.

The dataset has no validation split and no checkpoints are written, so both time training alone.
(a) and (b) alternate epoch by epoch so background load hits both alike, and each is scored by its
fastest epoch (the least disturbed by other processes; medians are printed too). The first epoch of
each is a warm-up. Goal: (b) >= 0.95 x (a) samples/s. Exit status 1 if it is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from mmstudio.data.demo import write_demo
from mmstudio.data.spec import DatasetSpec
from mmstudio.models.context import ModelContext
from mmstudio.models.model import build_model
from mmstudio.store import Store
from mmstudio.training.data import PreparedData
from mmstudio.training.device import describe_device, resolve_device, resolve_precision, synchronizer
from mmstudio.training.spec import TrainSpec
from mmstudio.training.store_writer import StoreWriter
from mmstudio.training.trainer import Trainer, build_optimizer, seed_everything
from mmstudio.training.worker import ThrottledSender

GOAL = 0.95
MODEL = {
    "task": "classification",
    "text_encoder": {"name": "textcnn"},
    "image_encoder": {"name": "small_cnn"},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp"},
}


def reference_epoch(model, data, spec, device, precision, optimizer, epoch: int) -> int:
    """The hand-written loop: what a careful PyTorch user writes without any framework."""
    model.train()
    samples = 0
    for batch in data.batches(
        "train", spec.batch_size, shuffle=True, seed=spec.seed, epoch=epoch, device=device
    ):
        with precision.autocast():
            loss = model.loss(model(batch), batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        samples += batch["index"].shape[0]
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs of each (after one warm-up)")
    parser.add_argument("--log-every", type=int, default=10)
    args = parser.parse_args()

    device = resolve_device(args.device)
    sync = synchronizer(device)
    work = Path(tempfile.mkdtemp(prefix="mmstudio-bench-"))
    write_demo(work / "demo", n_items=args.items)
    dataset = DatasetSpec(
        str(work / "demo"), val_fraction=0.0, test_fraction=0.05, check_images="header"
    ).load()
    spec = TrainSpec(batch_size=args.batch_size, epochs=args.epochs + 1, log_every_steps=args.log_every)
    precision = resolve_precision(spec.precision, device)
    data = PreparedData(dataset, spec, "classification", cache_root=work / "cache")

    seed_everything(0)
    reference = build_model(MODEL, ModelContext(**data.context())).to(device)
    seed_everything(0)
    measured = build_model(MODEL, ModelContext(**data.context())).to(device)
    measured.load_state_dict(reference.state_dict())
    optimizer = build_optimizer(reference, spec, device)

    store = Store.open(f"sqlite:///{work / 'store.db'}")
    run_id = store.create_run(name="bench")
    store.start_run(run_id)
    writer = StoreWriter(store, run_id)
    queue = multiprocessing.get_context("spawn").Queue()
    sender = ThrottledSender(queue)
    received = [0]
    done = threading.Event()

    def gui() -> None:  # the parent's side: drain the queue as the GUI timer would
        while not done.is_set() or not queue.empty():
            try:
                queue.get(timeout=0.05)
                received[0] += 1
            except Exception:
                pass

    reader = threading.Thread(target=gui, daemon=True)
    reader.start()

    def on_event(event) -> None:
        writer(event)
        sender(event)

    trainer = Trainer(
        measured, data, spec, device=device, precision=precision, run_id=run_id, on_event=on_event
    )
    times = {"reference": [], "mmstudio": []}
    samples = data.split_sizes()["train"]
    for epoch in range(spec.epochs):
        sync()
        start = time.perf_counter()
        reference_epoch(reference, data, spec, device, precision, optimizer, epoch)
        sync()
        times["reference"].append(time.perf_counter() - start)
        start = time.perf_counter()
        trainer._train_epoch()  # the epoch's training part of fit(): steps, logging, events
        trainer._flush_log()
        sync()
        times["mmstudio"].append(time.perf_counter() - start)
    writer.flush()
    done.set()
    reader.join()
    store.close()

    ref = samples / min(times["reference"][1:])
    ours = samples / min(times["mmstudio"][1:])
    ratio = ours / ref
    medians = {k: samples / statistics.median(v[1:]) for k, v in times.items()}
    print(
        json.dumps(
            {
                "device": describe_device(device),
                "precision": precision.name,
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "train_items": samples,
                "batch_size": args.batch_size,
                "steps_per_epoch": trainer.steps_per_epoch,
                "reference_samples_per_s": round(ref, 1),
                "mmstudio_samples_per_s": round(ours, 1),
                "ratio": round(ratio, 4),
                "median_ratio": round(medians["mmstudio"] / medians["reference"], 4),
                "goal": GOAL,
                "events_received": received[0],
                "points_written": writer.points_written,
            },
            indent=2,
        )
    )
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
