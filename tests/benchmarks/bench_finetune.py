"""Benchmark: fine-tuning throughput of a pretrained Hugging Face text encoder through mmstudio against
a hand-written PyTorch loop on the same model and data.

Not a test. Run ``python tests/benchmarks/bench_finetune.py`` and read the JSON it prints.

The model: a BERT written here with ``transformers`` (randomly initialised, ``save_pretrained`` into a
temporary folder with a WordPiece vocabulary of the demo's words: no hub is reached), by default 4
layers, 256 wide, 4 heads, feed-forward 1,024 (about 3.2 M parameters: small enough for a CPU, large
enough that the encoder, not the bookkeeping around it, is the work), as ``--text-encoder hf:FOLDER
--image-encoder none --finetune full`` with an MLP head, on the demo's captions (32 tokens from the
model's own tokenizer, batches of 32, no validation or test split: an epoch is training only).

The two sides and how they are timed are those of ``bench_training_throughput.py`` (its
``ReferenceLoop`` and ``interleaved`` are used as they are): the reference is a plain loop in this
process over the same token ids, lengths and targets preloaded as tensors (AdamW over every
parameter, clip 1.0, ``zero_grad(set_to_none=True)``, the loss read once per epoch); mmstudio is the
real worker process (runner, Trainer with the backbone at ``lr x backbone_lr_scale``, loss logging,
the store, events, checkpoints every 30 s). They alternate epoch by epoch, each worker epoch compared
with the mean of the reference epochs around it; ``ratio`` is the median of those ratios.

Goal: ``ratio`` >= 0.95 (whole epochs, the runner's checkpoints included). Exit status 1 if missed.

Options: ``--layers``, ``--hidden``, ``--items``, ``--epochs`` (timed, each side), ``--batch-size``,
``--max-len``, ``--threads``, ``--device``, ``--precision``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training_throughput import ReferenceLoop, interleaved

from mmstudio.training.spec import TrainSpec

GOAL = 0.95


def write_bert(folder: Path, *, layers: int, hidden: int) -> Path:
    """A randomly initialised BERT of ``layers`` x ``hidden`` with a WordPiece vocabulary of the
    demo's words, saved with its fast tokenizer and safetensors weights."""
    import re

    from transformers import BertConfig, BertModel, BertTokenizerFast

    from mmstudio.data import demo

    parts = (
        *demo._SALE_TEMPLATES,
        *demo._LOST_TEMPLATES,
        *demo.COLOURS,
        *demo._OBJECTS,
        *demo._ADJECTIVES,
        *demo._PLACES,
        *demo._FILLERS,
    )
    words: set[str] = set()
    for part in parts:
        words.update(re.findall(r"\w+|[^\w\s]", re.sub(r"\{\w+\}", " ", part).lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def bench(args, work: Path) -> dict:
    from mmstudio.data.demo import write_demo
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.models.context import ModelContext
    from mmstudio.models.model import build_model
    from mmstudio.training.data import PreparedData
    from mmstudio.training.device import resolve_device, resolve_precision
    from mmstudio.training.preflight import model_inputs
    from mmstudio.training.runner import resolve_model_spec
    from mmstudio.training.spec import RunJob
    from mmstudio.training.trainer import seed_everything

    bert = write_bert(work / "bert", layers=args.layers, hidden=args.hidden)
    folder = work / "demo"
    write_demo(folder, n_items=args.items, image_size=32)
    dataset_spec = DatasetSpec(str(folder), val_fraction=0.0, test_fraction=0.0, check_images="header")
    dataset = dataset_spec.load()
    request = {
        "task": "classification",
        "text_encoder": {"name": "hf", "model": str(bert), "finetune": "full"},
        "image_encoder": {"name": "none"},
        "fusion": {"name": "none"},
        "head": {"name": "mlp"},
    }
    train = TrainSpec(
        epochs=args.epochs + 1,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        precision=args.precision,
        num_threads=args.threads,
        max_len=args.max_len,
        seed=0,
    )
    device = resolve_device(train.device)
    precision = resolve_precision(train.precision, device)
    spec = resolve_model_spec(request, dataset)
    _, tokenizer, _ = model_inputs(spec, train)
    # Prepared as the runner prepares it (the model's own tokenizer), so the worker finds the cache.
    data = PreparedData(dataset, train, spec.task, need_text=True, need_image=False, tokenizer=tokenizer)
    seed_everything(train.seed)
    model = build_model(spec, ModelContext(**data.context())).to(device)
    reference = ReferenceLoop(model, data, train, device, precision)
    job = RunJob(
        dataset=dataset_spec,
        model=request,
        train=train,
        name="bench-finetune",
        db_url=f"sqlite:///{work / 'store.db'}",
    )

    reference.epoch()  # warm-up, before the worker starts
    m = interleaved(job, reference)

    samples = reference.n
    median_ref = samples / statistics.median(m.reference)
    median_epoch = samples / statistics.median(m.epoch)
    paired = {
        key: statistics.median((m.reference[k] + m.reference[k + 1]) / 2 / t for k, t in enumerate(times))
        for key, times in (("train", m.train_only), ("epoch", m.epoch))
    }
    others = [x for x in m.reference_others + m.epoch_others if x is not None]
    return {
        "model": f"BERT {args.layers} layers x {args.hidden}, finetune full, MLP head",
        "parameters": sum(p.numel() for p in model.parameters()),
        "encoder_parameters": sum(p.numel() for p in model.text_encoder.parameters()),
        "train_items": samples,
        "batch_size": train.batch_size,
        "max_len": train.max_len,
        "timed_epochs": {"reference": len(m.reference), "mmstudio": len(m.epoch)},
        "reference_samples_per_s": round(median_ref, 1),
        "mmstudio_samples_per_s": round(median_epoch, 1),
        "ratio": round(paired["epoch"], 4),
        "best_ratio": round(min(m.reference) / min(m.epoch), 4),
        "median_ratio": round(median_epoch / median_ref, 4),
        "train_only_ratio": round(paired["train"], 4),
        "checkpoints_per_run": m.checkpoints,
        "worker_startup_s": round(m.startup_s, 2),
        "reference_epoch_s": [round(t, 3) for t in m.reference],
        "mmstudio_epoch_s": [round(t, 3) for t in m.epoch],
        "others_cpu_max": max(others) if others else None,
        "reference_loss": round(reference.last_loss, 4),
        "mmstudio_loss": round(m.last_loss, 4),
        "goal_met": paired["epoch"] >= GOAL,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--items", type=int, default=480)
    parser.add_argument("--epochs", type=int, default=10, help="timed epochs of each side")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mmstudio-bench-finetune-"))
    os.environ["MMSTUDIO_HOME"] = str(work / "home")
    args.threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(args.threads)

    from mmstudio.training.device import describe_device, resolve_device, resolve_precision
    from mmstudio.training.worker import keep_freed_memory

    keep_freed_memory()  # as the worker does (see bench_training_throughput.py)
    device = resolve_device(args.device)
    try:
        result = bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "device": describe_device(device),
                "precision": resolve_precision(args.precision, device).name,
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": args.threads,
                "goal": GOAL,
                **result,
            },
            indent=2,
        )
    )
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
