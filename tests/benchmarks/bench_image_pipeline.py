"""Benchmark: an epoch that decodes every image with Pillow against an epoch that reads the image cache.

    python tests/benchmarks/bench_image_pipeline.py [--n 400] [--size 128] [--workers N]

It writes ``n`` photo-like JPEGs (512x384: gradients, blurred noise, shapes, grain) to a temporary
folder, then measures in the same process:

(a) an epoch as a plain torch ``Dataset`` would run it: every image decoded and resized with
    :func:`~mmstudio.data.images.decode_rgb`, one thread, batches of 64 stacked;
(b) building the cache (:func:`~mmstudio.data.cache.build_image_cache`, in a temporary cache root);
(c) epochs that read the memory-mapped cache the way the training loop does: item by item, in
    shuffled batches of 64 copied into one contiguous array.

It prints one JSON object. The goal is a cache epoch at least 50 times faster than a decoding epoch.
Not a test: it is not collected by pytest and asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from mmstudio.data.cache import build_image_cache
from mmstudio.data.images import decode_rgb
from mmstudio.data.types import ImageRef, Item

GOAL = 50.0
BATCH = 64
WIDTH, HEIGHT = 512, 384
MIN_CACHE_SECONDS = 0.5  # repeat cache epochs until this much time is measured: one is too short


def make_photo(rng: np.random.Generator) -> Image.Image:
    """A JPEG-worthy scene: a two-colour gradient sky, soft blotches, a few shapes, sensor grain."""
    t = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    waves = 20 * np.sin(np.arange(WIDTH, dtype=np.float32) / rng.uniform(20, 80))[None, :, None]
    top, bottom = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    blotches = rng.integers(88, 168, (HEIGHT // 48, WIDTH // 48, 3), dtype=np.uint8)  # soft, large
    blotches = Image.fromarray(blotches).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    pixels = top * (1 - t) + bottom * t + waves + np.asarray(blotches, dtype=np.float32) - 128
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        x, y = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        r = rng.uniform(10, 90)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        else:
            draw.rectangle([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=fill)
    img = img.filter(ImageFilter.BoxBlur(1))
    x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
    grain = _grain_tile().crop((x, y, x + WIDTH, y + HEIGHT))
    return ImageChops.add(img, grain, offset=-128)


@functools.cache
def _grain_tile() -> Image.Image:
    """Luminance grain around 128, twice the photo size: each photo crops it at a random offset."""
    return Image.merge("RGB", [Image.effect_noise((2 * WIDTH, 2 * HEIGHT), 8)] * 3)


def write_photos(folder: Path, n: int, seed: int) -> list[Item]:
    """``n`` JPEGs written by a few threads (Pillow releases the GIL); each photo has its own seed."""

    def write(i: int) -> Item:
        path = folder / f"photo_{i:05d}.jpg"
        make_photo(np.random.default_rng([seed, i])).save(path, quality=90)
        return Item(i, i + 1, "bench", ImageRef(path), f"photo {i}", None, "train", None, WIDTH, HEIGHT)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(write, range(n)))


def batches(n: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, BATCH):
        yield order[start : start + BATCH]


def pillow_epoch(items: list[Item], size: int, rng: np.random.Generator) -> float:
    """Seconds for one epoch decoding every image, one thread, as ``Dataset.__getitem__`` would."""
    start = time.perf_counter()
    for idx in batches(len(items), rng):
        batch = np.stack([decode_rgb(items[i].image, size) for i in idx])
        assert batch.shape[1:] == (size, size, 3)
    return time.perf_counter() - start


def cache_epochs(cache, rng: np.random.Generator) -> tuple[float, int]:
    """(seconds, images read) over as many whole epochs as it takes to measure MIN_CACHE_SECONDS."""
    images, start = 0, time.perf_counter()
    while True:
        for idx in batches(len(cache), rng):
            batch = np.ascontiguousarray(np.stack([cache[i] for i in idx]))
            images += len(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_CACHE_SECONDS:
            return elapsed, images


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="number of images (default 400)")
    parser.add_argument("--size", type=int, default=128, help="side of the cached images (default 128)")
    parser.add_argument("--workers", type=int, default=None, help="cache build threads (default: up to 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory(prefix="mmstudio-bench-") as tmp:
        photos, cache_root = Path(tmp) / "photos", Path(tmp) / "cache"
        photos.mkdir()
        t0 = time.perf_counter()
        items = write_photos(photos, args.n, args.seed)
        generate_s = time.perf_counter() - t0

        pillow_s = pillow_epoch(items, args.size, rng)

        t0 = time.perf_counter()
        cache = build_image_cache(items, "bench", size=args.size, workers=args.workers, cache_root=cache_root)
        build_s = time.perf_counter() - t0
        if cache.failed:
            raise SystemExit(f"{len(cache.failed)} images failed to decode: {cache.failed[0]}")
        np.testing.assert_array_equal(cache[args.n // 2], decode_rgb(items[args.n // 2].image, args.size))

        cache_s, cache_images = cache_epochs(cache, rng)
        del cache  # unmap before the folder is removed

    pillow_rate = args.n / pillow_s
    cache_rate = cache_images / cache_s
    speedup = cache_rate / pillow_rate
    result = {
        "benchmark": "image_pipeline",
        "n": args.n,
        "size": args.size,
        "source": f"{WIDTH}x{HEIGHT} JPEG",
        "pillow_images_per_s": round(pillow_rate, 1),
        "cache_images_per_s": round(cache_rate, 1),
        "speedup": round(speedup, 1),
        "goal": GOAL,
        "pass": speedup >= GOAL,
        "cache_build_s": round(build_s, 3),
        "cache_build_images_per_s": round(args.n / build_s, 1),
        "generate_s": round(generate_s, 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["pass"] else 1)
