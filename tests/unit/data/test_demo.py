import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmstudio.data.demo import INTENTS, LABELS, SHAPES, ensure_demo, write_demo

SHAPE_WORDS = {
    "circle", "circles", "circular", "round", "ring", "disc", "disk", "oval", "ball", "sphere", "dot",
    "square", "squares", "box", "cube", "block", "tile", "rectangle", "rectangular", "corner", "corners",
    "triangle", "triangles", "triangular", "pyramid", "wedge", "arrow", "shape", "shaped", "sides",
}  # fmt: skip

# The keyword rule a reader would write: every caption states its intent with one of these words.
SALE_WORDS = {"sale", "selling", "sold", "offer", "bargain", "cheap", "price", "buy"}
LOST_WORDS = {"lost", "missing", "find", "seen", "misplaced", "disappeared", "vanished"}


def read_manifest(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_rgb(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def intent_by_keywords(caption):
    tokens = set(words(caption))
    sale, lost = bool(tokens & SALE_WORDS), bool(tokens & LOST_WORDS)
    assert sale != lost, f"ambiguous or silent caption: {caption!r}"
    return "sale" if sale else "lost"


def _shift_all(mask, combine):
    padded = np.pad(mask, 1)
    out = mask.copy()
    h, w = mask.shape
    for dy in range(3):
        for dx in range(3):
            out = combine(out, padded[dy : dy + h, dx : dx + w])
    return out


def shape_by_pixels(pixels):
    """Tell the shape from the pixels alone, by two classic shape measures.

    The background is estimated from the image border; pixels far from it are the shape (and the thin
    distractor lines, which a 3x3 morphological opening removes). A disc fills the circle drawn
    around its centre (a square 2/pi of it, a triangle 0.41); a square fills its bounding box (a
    triangle at most half).
    """
    rgb = pixels.astype(np.float64)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    distance = np.linalg.norm(rgb - np.median(border, axis=0), axis=2)
    mask = _shift_all(_shift_all(distance > 75, np.logical_and), np.logical_or)
    ys, xs = np.nonzero(mask)
    radius = np.hypot(ys - ys.mean(), xs - xs.mean()).max() + 0.5
    disc_fill = ys.size / (np.pi * radius**2)
    box_fill = ys.size / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    if disc_fill > 0.755:
        return "circle"
    return "square" if box_fill > 0.76 else "triangle"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The full-size demo as ensure_demo builds it, under a private MMSTUDIO_HOME."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMSTUDIO_HOME", str(home))
        manifest = ensure_demo()
        yield manifest, read_manifest(manifest), home


def test_ensure_demo_builds_in_the_cache_and_reuses_it(demo, monkeypatch):
    manifest, _, home = demo
    assert manifest == home / "cache" / "demo-v1" / "manifest.csv"
    assert [p.name for p in manifest.parent.parent.iterdir()] == ["demo-v1"]  # no temporary folder left
    monkeypatch.setenv("MMSTUDIO_HOME", str(home))
    mtime = manifest.stat().st_mtime_ns
    assert ensure_demo() == manifest
    assert manifest.stat().st_mtime_ns == mtime


def test_full_demo_is_balanced_and_complete(demo):
    manifest, rows, _ = demo
    assert len(rows) == 3000
    assert list(rows[0]) == ["image", "caption", "label"]
    assert Counter(r["label"] for r in rows) == dict.fromkeys(LABELS, 500)
    assert set(LABELS) == {f"{s}-{i}" for s in SHAPES for i in INTENTS}
    assert len({r["image"] for r in rows}) == 3000
    for r in rows[:50]:
        with Image.open(manifest.parent / r["image"]) as img:
            assert (img.format, img.mode, img.size) == ("PNG", "RGB", (64, 64))
    readme = (manifest.parent / "README.txt").read_text(encoding="utf-8")
    assert "circle-sale" in readme
    assert "only in the image" in readme.lower() and "only in the caption" in readme.lower()


def test_captions_never_name_the_shape(demo):
    _, rows, _ = demo
    for r in rows:
        assert not set(words(r["caption"])) & SHAPE_WORDS, r["caption"]


def test_intent_is_in_the_caption(demo):
    _, rows, _ = demo
    for r in rows:
        assert intent_by_keywords(r["caption"]) == r["label"].split("-")[1], r["caption"]


def test_captions_are_varied_with_distractors(demo):
    _, rows, _ = demo
    captions = [r["caption"] for r in rows]
    assert len(set(captions)) > 2000
    # Several phrasings per intent: not one fixed token a model could latch onto.
    for intent, vocabulary in (("sale", SALE_WORDS), ("lost", LOST_WORDS)):
        used = Counter(
            w for r in rows if r["label"].endswith(intent) for w in set(words(r["caption"])) & vocabulary
        )
        assert len(used) >= 5
        assert max(used.values()) < 0.5 * 1500
    assert sum("red" in words(c) for c in captions) > 50


def test_shape_is_in_the_image(demo):
    manifest, rows, _ = demo
    for r in rows[:600]:
        pixels = load_rgb(manifest.parent / r["image"])
        assert shape_by_pixels(pixels) == r["label"].split("-")[0], r["image"]


def test_image_does_not_carry_the_intent(demo):
    """Within one shape, images of either intent look alike: no colour or brightness cue to the caption."""
    manifest, rows, _ = demo
    means = {intent: [] for intent in INTENTS}
    for r in rows[:900]:
        if r["label"].startswith("circle"):
            pixels = load_rgb(manifest.parent / r["image"]).astype(np.float64)
            means[r["label"].split("-")[1]].append(pixels.mean(axis=(0, 1)))
    sale, lost = np.array(means["sale"]), np.array(means["lost"])
    spread = np.sqrt(sale.var(axis=0) / len(sale) + lost.var(axis=0) / len(lost))
    assert np.all(np.abs(sale.mean(axis=0) - lost.mean(axis=0)) < 4 * spread)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = write_demo(tmp_path / "a", n_items=30, seed=7)
    b = write_demo(tmp_path / "b", n_items=30, seed=7)
    c = write_demo(tmp_path / "c", n_items=30, seed=8)
    assert a.read_bytes() == b.read_bytes()
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 32  # 30 images, manifest, README
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert (tmp_path / "a/images/00000.png").read_bytes() != (tmp_path / "c/images/00000.png").read_bytes()


def test_small_demo_balance_and_options(tmp_path):
    manifest = write_demo(tmp_path, n_items=20, seed=3, image_size=48)
    rows = read_manifest(manifest)
    counts = Counter(r["label"] for r in rows)
    assert sum(counts.values()) == 20 and set(counts.values()) == {3, 4}
    with Image.open(tmp_path / rows[0]["image"]) as img:
        assert img.size == (48, 48)
    assert manifest == tmp_path / "manifest.csv"
    assert all(not Path(r["image"]).is_absolute() for r in rows)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_items"):
        write_demo(tmp_path, n_items=0)
    with pytest.raises(ValueError, match="image_size"):
        write_demo(tmp_path, image_size=8)
