"""Benchmark (issue 14): is a fused model worse than its informative modality when the other is noise?

Not a test. Run ``python tests/benchmarks/bench_noise_modality.py [--epochs 8] [--dropout 0 0.1 0.3]``
and read the JSON it prints. It builds a dataset of 800 items in 3 classes in a temporary folder: the
caption names the class in 3 of 4 items (else a random class) among five filler words, so text alone
reaches about 0.83; the image is uniform noise, a different one per item (nothing to learn, everything
to memorise). It trains text-only, then the same encoders fused by concatenation at each modality
dropout, with the default TrainSpec otherwise (early stopping off, so every model sees every epoch),
and reports each run's validation and test accuracy of its best checkpoint (val: 200 items).

Each fused model is trained twice: without and with the fusion guard (``TrainSpec.fusion_guard``:
each modality's own head, and at the end the model answers from the best of fused / text / image on
val).

Measured on a 2-core CPU (8 epochs, seed 0, 2026-12-07), val / test accuracy: text only 0.745 / 0.704;
fused without the guard, modality dropout 0: 0.655 / 0.642; 0.1: 0.610 / 0.617; 0.3: 0.640 / 0.630;
with the guard (each chose the text's head): 0.690 / 0.642; 0.690 / 0.642; 0.740 / 0.704. Without the
guard the noise image is memorised and fused stays about 0.1 below text alone; with it fused is level
with its text head on val, and with modality dropout 0.3 level with text alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mmstudio.data.spec import DatasetSpec
from mmstudio.training.runner import run_job
from mmstudio.training.spec import RunJob, TrainSpec

TEXT = {"name": "bag", "embed_dim": 16}
HEAD = {"name": "mlp", "hidden": 32, "dropout": 0.1}
FUSED = {
    "task": "classification",
    "text_encoder": TEXT,
    "image_encoder": {"name": "small_cnn", "width": 8, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": HEAD,
}


def build(root: Path, n: int = 800, seed: int = 0) -> None:
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    classes, filler = ["alpha", "beta", "gamma"], [f"w{i}" for i in range(40)]
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        label = classes[i % 3]
        words = [*rng.sample(filler, 5), label if rng.random() < 0.75 else rng.choice(classes)]
        rng.shuffle(words)
        path = f"images/{i:04d}.png"
        Image.fromarray(noise.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / path)
        rows.append({"image": path, "caption": " ".join(words), "label": label})
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "caption", "label"])
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--dropout", type=float, nargs="*", default=[0.0, 0.1, 0.3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root)
        data = DatasetSpec(str(root), val_fraction=0.25, test_fraction=0.1)
        db = f"sqlite:///{root / 'runs.db'}"
        jobs = [("text_only", {"preset": "text_only", "text_encoder": TEXT, "head": HEAD}, 0.0, False)]
        jobs += [(f"fused_dropout_{p:g}", FUSED, p, False) for p in args.dropout]
        jobs += [(f"fused_dropout_{p:g}_guard", FUSED, p, True) for p in args.dropout]
        results = {}
        for name, model, p, guard in jobs:
            train = TrainSpec(
                epochs=args.epochs,
                image_size=16,
                device="cpu",
                modality_dropout=p,
                early_stopping=False,
                fusion_guard=guard,
            )
            start = time.perf_counter()
            result = run_job(RunJob(data, model, train, name=name, db_url=db))
            results[name] = {
                "status": result.status,
                "val_accuracy": result.metrics.get("val/accuracy"),
                "test_accuracy": result.metrics.get("test/accuracy"),
                "seconds": round(time.perf_counter() - start, 1),
            }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
