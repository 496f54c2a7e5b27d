"""GPU check: fine-tuning a CLIP-sized dual encoder through mmstudio, in bf16, against a bare loop, and
peak memory with and without gradient checkpointing.

Not a test. One prepared script for a CUDA machine (about 3 minutes on an H100)::

    python tests/benchmarks/gpu_clip_finetune.py              # CUDA, bf16, ViT-B/32-sized
    python tests/benchmarks/gpu_clip_finetune.py --smoke      # tiny CLIP, CPU, fp32: checks the script

The model: ``openai/clip-vit-base-patch32`` when it is in the Hugging Face cache (``--model`` names
another), else a randomly initialised CLIP of the same size (ViT-B/32 vision tower: 12 layers, 768
wide, 224 px, 32 px patches; text tower: 12 layers, 512 wide, a vocabulary of 49,408; about 151 M
parameters) written here with ``transformers`` and a byte-level tokenizer with no merges (nothing is
downloaded). Both towers as ``hf`` encoders with ``finetune: full`` and a ``projection`` head: the
contrastive task, on the demo's image-caption pairs (no validation or test split: an epoch is
training only), images at the processor's 224 px, captions of ``--max-len`` tokens.

Measured, in this process, one after another on the same prepared data:

1. **bare**: a hand-written loop over the same model (same seed) and tensors preloaded on the GPU:
   a ``randperm`` per epoch, ``index_select``, ``uint8`` to ``float`` and the processor's mean/std in
   place, forward and the CLIP loss under bf16 autocast, backward, ``clip_grad_norm_``, fused AdamW,
   ``zero_grad(set_to_none=True)``; the loss read once per epoch.
2. **mmstudio**: :func:`mmstudio.training.runner.run_job` (the runner and Trainer a worker runs:
   batches from the memory-mapped image cache, copied pinned and asynchronously, the backbone at
   ``lr x backbone_lr_scale``, logging, the store, checkpoints every 30 s), epoch times from its
   ``EpochEnded`` events.
3. **mmstudio with gradient checkpointing** (``gradient_checkpointing: true``): the same.

The first epoch of each is its warm-up and not timed; samples/s are the medians of the other epochs.
Peak memory is ``torch.cuda.max_memory_allocated()`` over each side's run (reset before it). On the
CPU (``--smoke``) there is no such counter: ``peak_memory_bytes`` is null.

The JSON reports ``bare_samples_per_s``, ``mmstudio_samples_per_s``, ``ratio`` (goal: 0.95),
``gradient_checkpointing`` (its samples/s, ratio, peak memory), and the peak memory of each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

GOAL = 0.95
VIT_B32 = {
    "text": {
        "hidden_size": 512,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
        "intermediate_size": 2048,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
    },
    "vision": {
        "image_size": 224,
        "patch_size": 32,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
    "projection_dim": 512,
}
SMOKE = {
    "text": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 77,
        "vocab_size": 514,
    },
    "vision": {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    },
    "projection_dim": 16,
}


def _byte_characters() -> list[str]:
    """The 256 characters byte-level BPE (GPT-2, CLIP) writes bytes as."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_clip(folder: Path, sizes: dict) -> Path:
    """A randomly initialised CLIP of ``sizes`` with a byte-level tokenizer (no merges: a token per
    character) and an image processor at its image size, saved as safetensors."""
    import transformers

    chars = _byte_characters()
    vocab = {c: n for n, c in enumerate(chars)}
    vocab.update({f"{c}</w>": 256 + n for n, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    ids = {"bos_token_id": 512, "eos_token_id": 513, "pad_token_id": 513}
    config = transformers.CLIPConfig(
        text_config={**sizes["text"], **ids},
        vision_config=sizes["vision"],
        projection_dim=sizes["projection_dim"],
    )
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(folder, safe_serialization=True)
    transformers.CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    side = sizes["vision"]["image_size"]
    transformers.CLIPImageProcessor(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    ).save_pretrained(folder)
    return folder


def find_model(args, work: Path) -> tuple[str, str]:
    """``(ref, where it came from)``: the cached checkpoint, else a random one of the same size."""
    from mmstudio.models.fetch import ModelNotCached, resolve

    if not args.smoke:
        try:
            resolve(args.model)
            return args.model, "cached"
        except (ModelNotCached, ValueError):
            pass
    sizes = SMOKE if args.smoke else VIT_B32
    return str(
        write_clip(work / "clip", sizes)
    ), "random init (ViT-B/32-sized)" if not args.smoke else "random init (tiny)"


class BareLoop:
    """The hand-written loop (see the module docstring) over ``data``'s training items."""

    def __init__(self, model, data, train, device, precision) -> None:
        self.model, self.device, self.train = model, device, train
        rows = data.splits["train"]
        self.n = len(rows)
        index = torch.from_numpy(rows)
        self.tensors = {
            key: column.index_select(0, index).to(device, torch.long if key == "tokens" else None)
            for key, column in data._columns.items()
        }
        nhwc = torch.from_numpy(np.ascontiguousarray(data._pixels[rows]))
        self.images = nhwc.permute(0, 3, 1, 2).contiguous().to(device)
        mean, std = data.image_norm
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.inv_std = 1 / (torch.tensor(std, device=device).view(1, 3, 1, 1) * 255)
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=train.lr, weight_decay=train.weight_decay, fused=device.type == "cuda"
        )
        dtype = precision.autocast_dtype
        self.autocast = (
            (lambda: torch.autocast(device.type, dtype=dtype))
            if dtype is not None
            else contextlib.nullcontext
        )
        self.epochs_done = 0
        self.last_loss = float("nan")

    def epoch(self) -> float:
        model, optimizer = self.model, self.optimizer
        model.train()
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(self.epochs_done)
        order = torch.randperm(self.n, generator=generator).to(self.device)
        total = torch.zeros((), device=self.device)
        steps = 0
        for i in range(0, self.n - self.train.batch_size + 1, self.train.batch_size):  # full batches
            idx = order[i : i + self.train.batch_size]
            batch = {k: v.index_select(0, idx) for k, v in self.tensors.items()}
            batch["image"] = self.images.index_select(0, idx).float().sub_(self.mean).mul_(self.inv_std)
            with self.autocast():
                loss = model.loss(model(batch), batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.train.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total += loss.detach()
            steps += 1
        self.last_loss = total.item() / max(1, steps)
        self.epochs_done += 1
        return time.perf_counter() - start


def _peak_reset(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device) -> int | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))


def run_mmstudio(job, device) -> dict:
    """``job`` through the runner in this process; epoch times from its events."""
    from mmstudio.training import events as ev
    from mmstudio.training.runner import run_job

    ended: dict[int, float] = {}
    losses: list[float] = []

    def on_event(event) -> None:
        if isinstance(event, ev.EpochEnded):
            ended[event.epoch] = time.perf_counter()
        elif isinstance(event, ev.MetricsLogged):
            losses.extend(p[3] for p in event.points if p[0] == "train/epoch_loss")

    _peak_reset(device)
    result = run_job(job, on_event=on_event)
    peak = _peak(device)
    if result.status != "completed":
        raise RuntimeError(f"the mmstudio run did not complete: {result.status}: {result.message}")
    epochs = sorted(ended)
    times = [ended[e] - ended[e - 1] for e in epochs[1:]]  # epoch 1 is the warm-up
    return {"epoch_s": times, "peak": peak, "loss": losses[-1] if losses else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny CLIP on the CPU in fp32: checks the script"
    )
    parser.add_argument("--model", default="openai/clip-vit-base-patch32", help="used when it is cached")
    parser.add_argument("--items", type=int, default=None, help="demo items (default 4,096; smoke 96)")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs of each (default 4; smoke 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 256; smoke 16")
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-5)
    args = parser.parse_args()
    items = args.items or (96 if args.smoke else 4096)
    epochs = args.epochs or (2 if args.smoke else 4)
    batch_size = args.batch_size or (16 if args.smoke else 256)
    device_name, precision_name = ("cpu", "fp32") if args.smoke else ("cuda", "bf16")
    if not args.smoke and not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device: run with --smoke on a CPU"}))
        return 2

    work = Path(tempfile.mkdtemp(prefix="mmstudio-gpu-clip-"))
    os.environ["MMSTUDIO_HOME"] = str(work / "home")
    from mmstudio.data.demo import write_demo
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.models.context import ModelContext
    from mmstudio.models.model import build_model
    from mmstudio.training.data import PreparedData
    from mmstudio.training.device import describe_device, resolve_device, resolve_precision
    from mmstudio.training.preflight import model_inputs
    from mmstudio.training.runner import resolve_model_spec
    from mmstudio.training.spec import RunJob, TrainSpec
    from mmstudio.training.trainer import seed_everything

    try:
        started = time.perf_counter()
        ref, origin = find_model(args, work)
        write_demo(work / "demo", n_items=items, image_size=64)
        dataset_spec = DatasetSpec(
            str(work / "demo"), val_fraction=0.0, test_fraction=0.0, check_images="header"
        )
        dataset = dataset_spec.load()
        request = {
            "task": "contrastive",
            "text_encoder": {"name": "hf", "model": ref, "finetune": "full"},
            "image_encoder": {"name": "hf", "model": ref, "finetune": "full"},
        }
        train = TrainSpec(
            epochs=epochs + 1,
            batch_size=batch_size,
            lr=args.lr,
            backbone_lr_scale=1.0,  # the bare loop has one rate: the same work either way
            device=device_name,
            precision=precision_name,
            max_len=args.max_len,
            early_stopping=False,
            seed=0,
        )
        device = resolve_device(device_name)
        precision = resolve_precision(precision_name, device)
        spec = resolve_model_spec(request, dataset)
        train, tokenizer, norm = model_inputs(spec, train)  # the processor's 224 px and mean/std
        data = PreparedData(dataset, train, spec.task, tokenizer=tokenizer, image_norm=norm)
        prepared_s = time.perf_counter() - started

        # 1. the bare loop
        seed_everything(train.seed)
        model = build_model(spec, ModelContext(**data.context())).to(device)
        parameters = sum(p.numel() for p in model.parameters())
        _peak_reset(device)
        bare = BareLoop(model, data, train, device, precision)
        bare_times = [bare.epoch() for _ in range(epochs + 1)][1:]
        bare_peak = _peak(device)
        bare_loss = bare.last_loss
        del bare, model
        _peak_reset(device)

        # 2. and 3. mmstudio, without and with gradient checkpointing
        runs = {}
        for checkpointing in (False, True):
            job = RunJob(
                dataset=dataset_spec,
                model=request,
                train=TrainSpec(**{**train.to_dict(), "gradient_checkpointing": checkpointing}),
                name=f"gpu-clip{'-gc' if checkpointing else ''}",
                db_url=f"sqlite:///{work / 'store.db'}",
            )
            runs[checkpointing] = run_mmstudio(job, device)

        samples = len(data.splits["train"])
        full = samples - samples % batch_size  # the bare loop drops the last partial batch
        bare_rate = full / statistics.median(bare_times)
        plain, gc = runs[False], runs[True]
        rate = samples / statistics.median(plain["epoch_s"])
        gc_rate = samples / statistics.median(gc["epoch_s"])
        result = {
            "device": describe_device(device),
            "precision": precision.name,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "model": ref if origin == "cached" else origin,
            "parameters": parameters,
            "train_items": samples,
            "batch_size": batch_size,
            "image_size": train.image_size,
            "max_len": train.max_len,
            "timed_epochs": epochs,
            "prepare_s": round(prepared_s, 1),
            "bare_samples_per_s": round(bare_rate, 1),
            "mmstudio_samples_per_s": round(rate, 1),
            "ratio": round(rate / bare_rate, 4),
            "peak_memory_bytes": {
                "bare": bare_peak,
                "mmstudio": plain["peak"],
                "mmstudio_gradient_checkpointing": gc["peak"],
            },
            "gradient_checkpointing": {
                "samples_per_s": round(gc_rate, 1),
                "ratio_to_bare": round(gc_rate / bare_rate, 4),
                "memory_saved": None
                if not plain["peak"] or not gc["peak"]
                else round(1 - gc["peak"] / plain["peak"], 3),
            },
            "bare_epoch_s": [round(t, 3) for t in bare_times],
            "mmstudio_epoch_s": [round(t, 3) for t in plain["epoch_s"]],
            "mmstudio_gc_epoch_s": [round(t, 3) for t in gc["epoch_s"]],
            "bare_loss": round(bare_loss, 4),
            "mmstudio_loss": plain["loss"],
            "goal": GOAL,
            "goal_met": rate / bare_rate >= GOAL,
            "total_s": round(time.perf_counter() - started, 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0 if result["goal_met"] or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
