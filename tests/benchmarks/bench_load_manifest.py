"""Benchmark: load a large CSV manifest (default 100,000 rows) with header and full image checks.

Run: ``python tests/benchmarks/bench_load_manifest.py [ROWS] [--full]``. Prints one JSON line. The
images are tiny PNGs written once into a temporary folder (the same file bytes, so writing is fast).

The reference, measured in the same run, is the least any loader must do for a header check: parse
the CSV with ``csv.reader`` and open every image to read its first 32 bytes. ``header_vs_floor`` is
how many times slower mmstudio's full header-mode load (validation, splits, fingerprint) is than that.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from mmstudio.data import LoadOptions, load_dataset


def _write_dataset(root: Path, rows: int) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buf, "PNG")
    data = buf.getvalue()
    labels = [f"class_{i}" for i in range(20)]
    for i in range(0, rows, 1000):
        (root / "images" / f"{i // 1000:03d}").mkdir(parents=True)
    with open(root / "data.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption", "label"])
        for i in range(rows):
            rel = f"images/{i // 1000:03d}/{i}.png"
            (root / rel).write_bytes(data)
            w.writerow([rel, f"a small red picture, number {i}", labels[i % len(labels)]])
    return root


def _floor(root: Path) -> float:
    """Seconds for the bare minimum: parse the CSV and read each image's first bytes."""
    t0 = time.perf_counter()
    with open(root / "data.csv", newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        next(rows)
        for image, _caption, _label in rows:
            with open(root / image, "rb") as img:
                img.read(32)
    return time.perf_counter() - t0


def main() -> None:
    rows = int(next((a for a in sys.argv[1:] if a.isdigit()), 100_000))
    modes = ["header", "full"] if "--full" in sys.argv else ["header"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = _write_dataset(Path(tmp), rows)
        result = {"rows": rows, "write_s": round(time.perf_counter() - t0, 2)}
        floor = _floor(root)
        result["floor_csv_and_open_s"] = round(floor, 2)
        for mode in modes:
            t0 = time.perf_counter()
            ds = load_dataset(root, options=LoadOptions(check_images=mode))
            result[f"load_{mode}_s"] = round(time.perf_counter() - t0, 2)
            result[f"valid_{mode}"] = ds.report.valid
        result["header_vs_floor"] = round(result["load_header_s"] / floor, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
