"""Benchmark (issue 14): an epoch over cached frozen features against an epoch that runs the frozen
encoder's forward pass, for a MiniLM-sized text encoder on the CPU.

Not a test. Run ``python tests/benchmarks/bench_feature_cache.py [--items 600] [--epochs 5]
[--threads N]`` and read the JSON it prints. Nothing is downloaded: a BERT of all-MiniLM-L6-v2's shape
(6 layers, hidden 384, 12 heads, intermediate 1536, 30,522 word pieces), randomly initialised, is
saved with ``save_pretrained`` into a temporary folder with a WordPiece vocabulary of the demo's
words, and the demo dataset is written beside it. The model is that encoder, frozen, mean-pooled, under
an MLP head (text only), trained by mmstudio's :class:`~mmstudio.training.trainer.Trainer` on
:class:`~mmstudio.training.data.PreparedData` batches (batch 64, max_len 32, the default TrainSpec).

Both sides are the same Trainer on the same model and data; they differ only in whether the data
carries the cached features (:func:`mmstudio.training.features.cache_features`). The reference
("encoder") runs the frozen encoder's forward pass in every step, as a run with ``--no-feature-cache``
does. The two alternate epoch by epoch after one warm-up epoch each, so a drift in the machine's load
hits both; ``speedup`` is the median encoder epoch over the median cached epoch (``best_speedup``: the
fastest of each; a cached epoch lasts tens of milliseconds, so one stall of a shared machine shows in
it). The one-time cost of computing the features (``compute_s``) and of reading them back (``read_s``,
a second run) are reported beside it.

Goal: ``speedup`` >= 20. Exit status 1 if it is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from mmstudio.data.demo import write_demo
from mmstudio.data.spec import DatasetSpec
from mmstudio.models import ModelContext, ModelSpec, build_model
from mmstudio.models.pretrained import pin_revisions
from mmstudio.training.data import PreparedData
from mmstudio.training.device import resolve_precision
from mmstudio.training.features import cache_features, plan_features
from mmstudio.training.preflight import model_inputs
from mmstudio.training.spec import TrainSpec
from mmstudio.training.trainer import Trainer

GOAL = 20.0
MINILM = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 512,
    "vocab_size": 30522,
}


def write_minilm_sized_bert(folder: Path, texts: list[str]) -> Path:
    """A randomly initialised BERT of MiniLM-L6's shape with a WordPiece vocabulary of ``texts``."""
    import re

    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(**MINILM)).save_pretrained(folder, safe_serialization=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=600, help="demo pairs (default 600; 80%% train)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs of each side (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-feature-cache-") as tmp:
        root = Path(tmp)
        write_demo(root / "demo", n_items=args.items, image_size=32)
        dataset = DatasetSpec(str(root / "demo"), check_images="header").load()
        model_dir = write_minilm_sized_bert(root / "minilm-sized", [item.text for item in dataset.items])
        spec = ModelSpec.from_dict(
            pin_revisions(
                {
                    "task": "classification",
                    "text_encoder": {"name": "hf", "model": str(model_dir), "pooling": "mean"},
                    "image_encoder": {"name": "none"},
                    "fusion": {"name": "none"},
                    "head": {"name": "mlp", "hidden": 256, "dropout": 0.1},
                }
            )
        )
        train, tokenizer, _ = model_inputs(
            spec, TrainSpec(batch_size=args.batch_size, max_len=32, device="cpu", log_every_steps=10**6)
        )
        cpu = torch.device("cpu")
        precision = resolve_precision("fp32", cpu)

        def prepared() -> PreparedData:
            return PreparedData(
                dataset, train, "classification", need_image=False, tokenizer=tokenizer,
                cache_root=root / "cache",
            )  # fmt: skip

        plain_data, cached_data = prepared(), prepared()
        torch.manual_seed(0)
        model = build_model(spec, ModelContext(**plain_data.context()))
        plans = plan_features(spec, train)
        start = time.perf_counter()
        results = cache_features(model, cached_data, plans, batch_size=128, cache_root=root / "features")
        compute_s = time.perf_counter() - start
        assert results and results[0].computed, "the features were not computed"
        start = time.perf_counter()
        again = cache_features(model, prepared(), plans, cache_root=root / "features")
        read_s = time.perf_counter() - start
        assert again and not again[0].computed, "the second run did not read the cache"

        encoder = Trainer(model, plain_data, train, device=cpu, precision=precision)
        cached = Trainer(model, cached_data, train, device=cpu, precision=precision)

        def epoch(trainer: Trainer) -> float:
            trainer.state.epoch = 0  # the same shuffled order each time
            start = time.perf_counter()
            assert trainer._train_epoch()
            return time.perf_counter() - start

        epoch(encoder), epoch(cached)  # warm-up
        encoder_s, cached_s = [], []
        for _ in range(args.epochs):
            encoder_s.append(epoch(encoder))
            cached_s.append(epoch(cached))

    speedup = statistics.median(encoder_s) / statistics.median(cached_s)
    report = {
        "benchmark": "feature_cache",
        "encoder": {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536, "pooling": "mean"},
        "items": args.items,
        "train_items": plain_data.split_sizes()["train"],
        "batch_size": args.batch_size,
        "max_len": train.max_len,
        "threads": torch.get_num_threads(),
        "encoder_epoch_s": [round(x, 4) for x in encoder_s],
        "cached_epoch_s": [round(x, 4) for x in cached_s],
        "speedup": round(speedup, 1),
        "best_speedup": round(min(encoder_s) / min(cached_s), 1),
        "compute_s": round(compute_s, 2),
        "read_s": round(read_s, 3),
        "feature_bytes": results[0].nbytes,
        "goal": GOAL,
        "ok": speedup >= GOAL,
    }
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
