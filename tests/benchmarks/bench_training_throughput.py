"""Benchmark: training throughput of the real mmstudio worker against a hand-written PyTorch loop.

Not a test. Run ``python tests/benchmarks/bench_training_throughput.py`` and read the JSON it prints;
on a GPU: ``--device cuda --precision bf16`` (both sides then train under bf16 autocast).

Two configurations (``--config``): ``small`` (TextCNN + small CNN, concat, MLP head) and
``gru_resnet18`` (bidirectional GRU + ResNet-18 from scratch). For each, on the same demo data
(64 px images, no validation or test split, so an epoch is training only), the same resolved model
spec, initial weights (same seed), batch size, optimiser (AdamW, lr 3e-3, weight decay 0.01, clip 1.0)
and ``torch.set_num_threads``:

(a) reference: what a careful PyTorch user writes by hand. Every training tensor preloaded once
    (``uint8`` NCHW images, token ids, lengths, targets; on the device for CUDA), a
    ``torch.randperm`` order per epoch, per batch ``index_select`` → ``float`` → normalise in place
    on the device, forward and loss under the same autocast, backward, ``clip_grad_norm_``,
    ``step``, ``zero_grad(set_to_none=True)``; the loss stays on the device (summed, read once per
    epoch). AdamW over ``model.parameters()`` (mmstudio leaves biases and norms undecayed: the
    same work), a constant rate; no logging, checkpoints or events. It runs in this process.
(b) mmstudio: the real path, :func:`mmstudio.training.worker.start_worker` with a
    :class:`~mmstudio.training.spec.RunJob`, in its own ``spawn`` process: the runner, the Trainer
    and its data path (batches gathered from the memory-mapped image cache), the cosine schedule,
    loss logging every 10 steps, the StoreWriter into a SQLite store, the throttled event queue read
    here by a :class:`~mmstudio.training.worker.WorkerHandle` as the GUI reads it, the pause / resume
    control, and the ``last`` and ``best`` checkpoints the runner writes after every epoch
    (safetensors, checksummed and fsynced by a background thread from a copy of the state). Epoch
    times come from the worker's own events, less the time it spent paused: epoch N lasts from
    ``EpochEnded(N-1)`` to ``EpochEnded(N)`` (``epoch`` figures, checkpoints included); its training
    part ends when its ``train/epoch_loss`` point is logged, just before the checkpoints are
    submitted (``train_only`` figures). A pause waits for the checkpoint write in flight before the
    worker reports itself paused, so no write runs during a reference epoch: it is charged to the
    worker, overlapping only the one step before the pause (a conservative measure; unpaused, a write
    overlaps the whole next epoch).

Noise control: the two alternate epoch by epoch around one worker process. After each worker epoch
but the last, this process pauses the worker (as the GUI's pause button does; it stops after its
next optimiser step), runs one reference epoch, and resumes it; a last reference epoch follows the
run. The reference has a warm-up epoch before the worker starts, and the worker's first epoch is its
warm-up; neither is timed. Each worker epoch is compared with the mean of the two reference epochs
around it, which cancels slow drifts of the machine's load, and ``ratio`` is the median of those
ratios; the fastest epochs (``best_ratio``) and the medians of each side (``median_ratio``) are
reported too, and so is the share of the CPUs that other processes used meanwhile (``others_cpu``).

Goal: ``ratio`` >= 0.95 for every configuration, on whole epochs, the two checkpoints the runner
writes at every epoch end included (``with_checkpoints``: the worker's epochs as a user sees them);
the training part alone (``train_only``) is reported beside it. Exit status 1 if the goal is missed.

Memory: the worker keeps the memory a step frees (:func:`mmstudio.training.worker.keep_freed_memory`:
with glibc's defaults every step page-faults its activations in again). This process does the same
unless ``--plain-reference`` is given, so that the ratio measures mmstudio's overhead, not malloc's;
the minor page faults per epoch of each side are reported.

Augmentation (issue 14): ``--augment-image none|light|strong``, ``--no-flip`` and ``--augment-text
none|light|strong`` set the worker's TrainSpec, and the reference then augments each batch the same
way by hand: :class:`mmstudio.training.augment.Augmenter`'s ``images`` on the gathered ``uint8`` NCHW
batch before it is normalised, ``text`` on its token ids, seeded by (epoch, step). The ratio then
measures what mmstudio adds around the augmentation, not the augmentation's own cost (which both pay);
the goal is the same 0.95.

Options: ``--config small|gru_resnet18|all``, ``--threads N`` (both sides; default torch's own; on a
shared machine ``--threads 1`` keeps another process's load from stalling a second thread),
``--items``, ``--epochs`` (timed epochs of each side), ``--batch-size``, ``--image-size``,
``--plain-reference``. Short epochs (many pairs) beat long ones on a noisy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mmstudio.training.spec import AUGMENT_LEVELS, TrainSpec, describe_augmentation

GOAL = 0.95
MEAN = (0.485, 0.456, 0.406)  # ImageNet, as mmstudio normalises
STD = (0.229, 0.224, 0.225)
CONFIGS = {
    "small": {
        "model": {
            "task": "classification",
            "text_encoder": {"name": "textcnn"},
            "image_encoder": {"name": "small_cnn"},
            "fusion": {"name": "concat"},
            "head": {"name": "mlp"},
        },
        "items": 640,
        "epochs": 24,
    },
    "gru_resnet18": {
        "model": {
            "task": "classification",
            "text_encoder": {"name": "gru"},
            "image_encoder": {"name": "resnet18"},
            "fusion": {"name": "concat"},
            "head": {"name": "mlp"},
        },
        "items": 192,
        "epochs": 20,
    },
}


# --- (a) the hand-written loop --------------------------------------------------------------------


class ReferenceLoop:
    """A plain PyTorch training loop over tensors preloaded in memory (see the module docstring)."""

    def __init__(self, model, data, train, device, precision) -> None:
        self.model = model
        self.device = device
        self.batch_size = train.batch_size
        self.grad_clip = train.grad_clip
        self.seed = train.seed
        rows = data.splits["train"]
        self.n = len(rows)
        # The same decoded pixels, token ids and labels mmstudio prepared, gathered once.
        index = torch.from_numpy(rows)
        self.tensors = {
            key: data._columns[key].index_select(0, index).to(device, torch.long if key == "tokens" else None)
            for key in ("tokens", "lengths", "target")
            if key in data._columns
        }
        if data._pixels is not None:
            nhwc = torch.from_numpy(np.ascontiguousarray(data._pixels[rows]))
            self.images = nhwc.permute(0, 3, 1, 2).contiguous().to(device)  # uint8 NCHW, loaded once
            self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
            self.inv_std = 1 / (torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255)
        else:
            self.images = None
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=train.lr, weight_decay=train.weight_decay, fused=device.type == "cuda"
        )
        dtype = precision.autocast_dtype
        self.autocast = (
            (lambda: torch.autocast(device.type, dtype=dtype))
            if dtype is not None
            else contextlib.nullcontext
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.use_scaler)
        self.epochs_done = 0
        self.last_loss = float("nan")
        # Augmentation as the worker's (--augment-image / --augment-text): the same functions, called
        # by hand on each batch's uint8 images before normalisation and on its token ids.
        from mmstudio.training.augment import Augmenter

        self.augment = Augmenter.for_run(train, data.tokenizer)

    def augment_ms(self, batches: int = 20) -> float | None:
        """The augmentation's own cost: milliseconds per batch of images and text (None: none)."""
        if self.augment is None:
            return None
        idx = torch.arange(min(self.batch_size, self.n), device=self.device)
        start = time.perf_counter()
        for step in range(batches):
            if self.images is not None:
                self.augment.images(self.images.index_select(0, idx), 0, step)
            if "tokens" in self.tensors:
                self.augment.text(self.tensors["tokens"][idx], self.tensors["lengths"][idx], 0, step)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return 1000 * (time.perf_counter() - start) / batches

    def epoch(self) -> float:
        """Train one epoch; returns its duration in seconds (the device synchronised)."""
        model, optimizer, scaler = self.model, self.optimizer, self.scaler
        model.train()
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epochs_done)
        order = torch.randperm(self.n, generator=generator).to(self.device, non_blocking=True)
        total = torch.zeros((), device=self.device)
        augment = self.augment
        for step, i in enumerate(range(0, self.n, self.batch_size)):
            idx = order[i : i + self.batch_size]
            batch = {k: v.index_select(0, idx) for k, v in self.tensors.items()}
            if augment is not None and "tokens" in batch:
                batch["tokens"], batch["lengths"] = augment.text(
                    batch["tokens"], batch["lengths"], self.epochs_done, step
                )
            if self.images is not None:
                pixels = self.images.index_select(0, idx)
                if augment is not None:
                    pixels = augment.images(pixels, self.epochs_done, step)
                image = pixels.float()
                batch["image"] = image.sub_(self.mean).mul_(self.inv_std)
            with self.autocast():
                loss = model.loss(model(batch), batch)
            scaler.scale(loss).backward()
            if self.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            total += loss.detach()
        self.last_loss = total.item() / -(-self.n // self.batch_size)  # one sync per epoch
        self.epochs_done += 1
        return time.perf_counter() - start


# --- (b) the real worker, interleaved with (a) ------------------------------------------------------


class ProcMeter:
    """From ``/proc`` (Linux; elsewhere it reports nothing): how busy the rest of the machine is (the
    CPU time of every process but this one and the worker, as a share of all cores), and the page
    faults of this process and of the worker."""

    def __init__(self) -> None:
        self.pids = [os.getpid()]  # this process, then the worker
        self.samples: list[tuple[float, int, int, list[int]]] = []  # (wall, busy, ours, faults by pid)
        self.cores = os.cpu_count() or 1
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.enabled = Path("/proc/stat").is_file()

    def sample(self):
        """Record and return ``(wall, busy jiffies, our jiffies, minor faults by pid)``, or None."""
        if not self.enabled:
            return None
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            busy = sum(map(int, fields)) - int(fields[3]) - int(fields[4])  # all but idle and iowait
            ours, faults = 0, []
            for pid in self.pids:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ours += int(stat[11]) + int(stat[12])  # utime, stime
                faults.append(int(stat[7]))  # minflt
        except (OSError, ValueError, IndexError):
            return None  # the worker has just ended
        sample = (time.time(), busy, ours, faults)
        self.samples.append(sample)
        return sample

    def nearest(self, wall: float):
        """The sample (of this process and the worker) nearest to a wall time."""
        both = [s for s in self.samples if len(s[3]) == 2]
        return min(both, key=lambda s: abs(s[0] - wall)) if both else None

    def others(self, a, b) -> float | None:
        """The others' share of all cores between two samples."""
        if a is None or b is None or b[0] <= a[0] or len(a[3]) != len(b[3]):
            return None
        share = ((b[1] - a[1]) - (b[2] - a[2])) / (self.hz * self.cores * (b[0] - a[0]))
        return round(min(1.0, max(0.0, share)), 3)

    @staticmethod
    def faults(a, b, which: int) -> int | None:
        """Minor page faults of process ``which`` (0: this one, 1: the worker) between two samples."""
        if a is None or b is None or b[0] <= a[0] or len(a[3]) != len(b[3]):
            return None
        return b[3][which] - a[3][which]


@dataclass
class Measured:
    reference: list[float] = field(default_factory=list)  # seconds per reference epoch
    reference_others: list = field(default_factory=list)  # the machine's other load meanwhile
    reference_faults: list = field(default_factory=list)  # minor page faults per epoch
    epoch: list[float] = field(default_factory=list)  # worker: EpochEnded(N-1) -> EpochEnded(N)
    train_only: list[float] = field(default_factory=list)  # worker: EpochEnded(N-1) -> epoch_loss(N)
    epoch_others: list = field(default_factory=list)
    epoch_faults: list = field(default_factory=list)
    startup_s: float = 0.0  # start_worker -> RunStarted (spawn, imports, data, model)
    last_loss: float = float("nan")  # the worker's train/epoch_loss of its last epoch
    checkpoints: int = 0
    events: int = 0


def interleaved(job, reference: ReferenceLoop) -> Measured:
    """Train ``job`` in the real worker process; after each of its epochs but the last, pause it
    (a GUI's pause request), run one reference epoch, resume it; one last reference epoch follows.
    The worker's epochs are timed from its own events, less the time it spent paused."""
    from mmstudio.training import events as ev
    from mmstudio.training.worker import start_worker

    meter = ProcMeter()
    out = Measured()
    last_epoch = job.train.epochs

    paused: list = []  # a sample at each pause of the worker

    def reference_epoch() -> None:
        before = meter.sample()
        paused.append(before)
        out.reference.append(reference.epoch())
        after = meter.sample()
        out.reference_others.append(meter.others(before, after))
        out.reference_faults.append(meter.faults(before, after, 0))

    launched = time.time()
    handle = start_worker(job)
    meter.pids.append(handle.pid)
    seen: list = []
    try:
        while not handle.finished:
            meter.sample()
            for event in handle.events(timeout=0.25):
                seen.append(event)
                if isinstance(event, ev.EpochEnded) and event.epoch < last_epoch:
                    handle.pause()  # honoured after the next optimiser step
                elif isinstance(event, ev.RunPaused):
                    reference_epoch()
                    handle.resume()
    finally:
        seen.extend(handle.close())
    meter.pids.pop()  # the worker has ended
    reference_epoch()
    terminal = handle.terminal
    if not isinstance(terminal, ev.RunFinished) or terminal.status != "completed":
        raise RuntimeError(f"the worker did not complete: {terminal}")
    if len(out.reference) != last_epoch:
        raise RuntimeError(
            f"the worker paused {len(out.reference) - 1} times in {last_epoch - 1} epochs: its epochs are "
            "too short to interleave (a pause request came after the next epoch had ended); raise --items"
        )

    started = next(e.time for e in seen if isinstance(e, ev.RunStarted))
    ended = {e.epoch: e.time for e in seen if isinstance(e, ev.EpochEnded)}
    # The coalesced MetricsLogged that carries an epoch's train/epoch_loss has that point's time:
    # the checkpoint event right after it flushes the sender.
    trained = {
        p[2]: e.time
        for e in seen
        if isinstance(e, ev.MetricsLogged)
        for p in e.points
        if p[0] == "train/epoch_loss"
    }
    paused_at = [e.time for e in seen if isinstance(e, ev.RunPaused)]
    resumed_at = [e.time for e in seen if isinstance(e, ev.RunResumed)]
    pauses = list(zip(paused_at, resumed_at, strict=True))

    def busy(start: float, end: float) -> float:  # [start, end] less the pauses within it
        return (end - start) - sum(max(0.0, min(end, b) - max(start, a)) for a, b in pauses)

    out.startup_s = started - launched
    out.events = len(seen)
    out.last_loss = next(
        p[3]
        for e in reversed(seen)
        if isinstance(e, ev.MetricsLogged)
        for p in e.points
        if p[0] == "train/epoch_loss"
    )
    out.checkpoints = sum(isinstance(e, ev.CheckpointSaved) for e in seen)
    for epoch in range(2, last_epoch + 1):  # epoch 1 is the process's warm-up
        out.epoch.append(busy(ended[epoch - 1], ended[epoch]))
        out.train_only.append(busy(ended[epoch - 1], trained[epoch]))
        a, b = meter.nearest(ended[epoch - 1]), meter.nearest(ended[epoch])
        out.epoch_others.append(meter.others(a, b))
    # From one pause to the next: one epoch of the worker, with one end of epoch and its checkpoints.
    out.epoch_faults = [meter.faults(a, b, 1) for a, b in itertools.pairwise(paused)]
    return out


# --- one configuration ----------------------------------------------------------------------------


def bench_config(name: str, args, work: Path) -> dict:
    from mmstudio.data.demo import write_demo
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.models.context import ModelContext
    from mmstudio.models.model import build_model
    from mmstudio.training.data import PreparedData
    from mmstudio.training.device import resolve_device, resolve_precision
    from mmstudio.training.runner import resolve_model_spec
    from mmstudio.training.spec import RunJob
    from mmstudio.training.trainer import seed_everything

    config = CONFIGS[name]
    items = args.items or config["items"]
    epochs = args.epochs or config["epochs"]
    folder = work / f"demo-{items}"  # shared by the configurations of one size (and their caches)
    if not folder.is_dir():
        write_demo(folder, n_items=items, image_size=args.image_size)
    dataset_spec = DatasetSpec(str(folder), val_fraction=0.0, test_fraction=0.0, check_images="header")
    dataset = dataset_spec.load()
    train = TrainSpec(
        epochs=epochs + 1,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        num_threads=args.threads,
        image_size=args.image_size,
        seed=0,
        checkpoint_every_s=args.checkpoint_every_s,
        augment_image=args.augment_image,
        augment_flip=not args.no_flip,
        augment_text=args.augment_text,
    )
    device = resolve_device(train.device)
    precision = resolve_precision(train.precision, device)
    spec = resolve_model_spec(config["model"], dataset)
    # Built as the runner builds it, so the worker finds the image and text caches ready.
    data = PreparedData(dataset, train, spec.task, need_text=spec.has_text, need_image=spec.has_image)
    seed_everything(train.seed)
    model = build_model(spec, ModelContext(**data.context())).to(device)
    reference = ReferenceLoop(model, data, train, device, precision)
    job = RunJob(
        dataset=dataset_spec,
        model=config["model"],
        train=train,
        name=f"bench-{name}",
        db_url=f"sqlite:///{work / 'store.db'}",
    )

    reference.epoch()  # warm-up, before the worker starts
    augment_ms = reference.augment_ms()
    m = interleaved(job, reference)

    samples = reference.n
    series = {"ref": m.reference, "train": m.train_only, "epoch": m.epoch}
    best = {k: samples / min(v) for k, v in series.items()}
    median = {k: samples / statistics.median(v) for k, v in series.items()}
    # Worker epoch k ran between reference epochs k-1 and k: its ratio to their mean cancels slow
    # drifts of the machine's load; the median of those ratios is the figure the goal is judged on.
    paired = {
        key: statistics.median((m.reference[k] + m.reference[k + 1]) / 2 / t for k, t in enumerate(times))
        for key, times in (("train", m.train_only), ("epoch", m.epoch))
    }
    checkpoint_s = statistics.median(a - b for a, b in zip(m.epoch, m.train_only, strict=True))
    others = [x for x in m.reference_others + m.epoch_others if x is not None]
    return {
        "model": {k: v["name"] for k, v in spec.to_dict().items() if isinstance(v, dict)},
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_items": samples,
        "batch_size": train.batch_size,
        "image_size": train.image_size,
        "timed_epochs": {"reference": len(m.reference), "mmstudio": len(m.epoch)},
        # The goal: the worker's whole epochs, its checkpoints included, against the reference's.
        "reference_samples_per_s": round(median["ref"], 1),
        "mmstudio_samples_per_s": round(median["epoch"], 1),
        "ratio": round(paired["epoch"], 4),
        "best_reference_samples_per_s": round(best["ref"], 1),
        "best_mmstudio_samples_per_s": round(best["epoch"], 1),
        "best_ratio": round(best["epoch"] / best["ref"], 4),
        "median_ratio": round(median["epoch"] / median["ref"], 4),
        "augment_ms_per_batch": None if augment_ms is None else round(augment_ms, 2),
        "reference_ms_per_batch": round(
            1000 * statistics.median(m.reference) / -(-samples // train.batch_size), 2
        ),
        "checkpoint_s_per_epoch": round(checkpoint_s, 3),  # what the end of an epoch still blocks
        "checkpoints_per_run": m.checkpoints,
        # The training part alone: from one epoch's end to the next one's train/epoch_loss point.
        "train_only": {
            "mmstudio_samples_per_s": round(median["train"], 1),
            "ratio": round(paired["train"], 4),
            "best_ratio": round(best["train"] / best["ref"], 4),
            "median_ratio": round(median["train"] / median["ref"], 4),
        },
        "events_per_run": m.events,
        "worker_startup_s": round(m.startup_s, 2),
        "reference_epoch_s": [round(t, 3) for t in m.reference],
        "mmstudio_train_only_s": [round(t, 3) for t in m.train_only],
        "mmstudio_epoch_s": [round(t, 3) for t in m.epoch],
        "others_cpu_reference": m.reference_others,
        "others_cpu_mmstudio": m.epoch_others,
        "others_cpu_max": max(others) if others else None,
        "reference_page_faults": _median(m.reference_faults),  # minor faults per epoch
        "mmstudio_page_faults": _median(m.epoch_faults),  # its checkpoints included
        "reference_loss": round(reference.last_loss, 4),  # last epoch's mean loss: both must learn
        "mmstudio_loss": round(m.last_loss, 4),
        "goal_met": paired["epoch"] >= GOAL,
    }


def _median(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--config", choices=[*CONFIGS, "all"], default="all")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, fp16 or auto (mixed: CUDA only)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--items", type=int, default=None, help="demo items (default: per config)")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs of each (default: per config)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument(
        "--checkpoint-every-s",
        type=float,
        default=TrainSpec.checkpoint_every_s,
        help="the worker's checkpoint interval (default: mmstudio's; 0: a last checkpoint every epoch)",
    )
    parser.add_argument(
        "--augment-image", choices=AUGMENT_LEVELS, default="none", help="both sides augment images so"
    )
    parser.add_argument("--no-flip", action="store_true", help="image augmentation without flips")
    parser.add_argument(
        "--augment-text", choices=AUGMENT_LEVELS, default="none", help="both sides augment text so"
    )
    parser.add_argument(
        "--plain-reference",
        action="store_true",
        help="leave glibc's malloc defaults in the reference's process (the worker keeps freed memory)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mmstudio-bench-"))
    os.environ["MMSTUDIO_HOME"] = str(work / "home")  # caches and checkpoints; the worker inherits it
    args.threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(args.threads)  # the worker gets the same through TrainSpec.num_threads

    from mmstudio.training.device import describe_device, resolve_device, resolve_precision
    from mmstudio.training.worker import keep_freed_memory

    # The worker process keeps the memory a step frees (keep_freed_memory); by default this process
    # does the same, so the comparison measures mmstudio's overhead rather than malloc's.
    reference_malloc = "glibc defaults" if args.plain_reference or not keep_freed_memory() else "keeps freed"

    device = resolve_device(args.device)
    names = list(CONFIGS) if args.config == "all" else [args.config]
    try:
        results = {name: bench_config(name, args, work) for name in names}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = all(r["goal_met"] for r in results.values())
    print(
        json.dumps(
            {
                "device": describe_device(device),
                "precision": resolve_precision(args.precision, device).name,
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": args.threads,
                "reference_malloc": reference_malloc,
                "checkpoint_every_s": args.checkpoint_every_s,
                "augmentation": describe_augmentation(
                    args.augment_image, not args.no_flip, args.augment_text
                ),
                "goal": GOAL,
                "configs": results,
                "goal_met": ok,
            },
            indent=2,
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
