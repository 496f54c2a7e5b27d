"""The built-in demo dataset: procedurally generated pairs that need both modalities.

Every label has two independent parts:

* a **shape** (circle, square, triangle) that is only in the image: one filled shape at a random
  position, size and colour over a tinted, gradient, noisy background with thin distractor lines;
* an **intent** (``sale`` or ``lost``) that is only in the caption, written through several templates
  and synonyms ("for sale", "selling", "bargain" / "lost", "missing", "can't find"), with distractor
  content: a colour word that matches the image only half of the time, an object, a place, filler.

Captions never name or hint at the shape and images never depend on the intent (they come from separate
random streams), so a text-only model tops out at about 1/3 accuracy, an image-only model at about 1/2,
and a model that fuses both can reach 100%. That gap is what the demo is for: it shows in a few
minutes of training on a CPU whether a fusion architecture really uses both inputs.

The data is generated, not downloaded: 3,000 pairs take a few seconds, and the same seed always gives
byte-identical files.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mmstudio import paths

DEMO_VERSION = 1
DEMO_DIRNAME = f"demo-v{DEMO_VERSION}"
MANIFEST_NAME = "manifest.csv"

SHAPES = ("circle", "square", "triangle")
INTENTS = ("sale", "lost")
LABELS = tuple(f"{shape}-{intent}" for shape in SHAPES for intent in INTENTS)

# Named colours for the shape; a caption may mention one of these names (true or not).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 215),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (135, 55, 175),
    "pink": (240, 125, 185),
    "cyan": (40, 200, 215),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
_COLOUR_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in _COLOUR_NAMES], dtype=np.float32)
# The shape's colour differs from the background's base colour by at least this (RGB distance), so the
# shape stays visible under the gradient and the noise.
MIN_CONTRAST = 150.0

_SUPERSAMPLE = 3  # shapes are drawn at 3x and averaged down: anti-aliased edges, like a photo

# Intent phrasing. Each template carries its intent in words that the other intent never uses.
_SALE_TEMPLATES = (
    "{Desc} {obj} for sale near {place}.",
    "Selling my {desc} {obj}, collect from {place}.",
    "{Desc} {obj} on offer at {place}, barely used.",
    "Bargain: {desc} {obj}, going cheap at {place}.",
    "Just sold one {desc} {obj} at {place} and have another up for sale.",
    "Price drop on this {desc} {obj} ({place}).",
    "Anyone want to buy {a} {desc} {obj}? I'm at {place}.",
    "{Desc} {obj} available to buy, ask at {place}.",
)
_LOST_TEMPLATES = (
    "Lost: {desc} {obj} near {place}.",
    "Has anyone seen my {desc} {obj}? It went missing at {place}.",
    "I can't find my {desc} {obj}, last seen at {place}.",
    "Missing {obj}, {desc}, somewhere around {place}.",
    "Misplaced {a} {desc} {obj} at {place} yesterday.",
    "My {desc} {obj} disappeared at {place}, small reward.",
    "{Desc} {obj} vanished near {place}. Please help.",
    "Lost my {desc} {obj} on the way to {place}.",
)
_TEMPLATES = {"sale": _SALE_TEMPLATES, "lost": _LOST_TEMPLATES}
# Objects and adjectives chosen so that none of them suggests a shape (no "ball", "box", "ring", "tile").
_OBJECTS = (
    "sticker",
    "badge",
    "patch",
    "magnet",
    "brooch",
    "pin",
    "emblem",
    "decal",
    "charm",
    "pendant",
)
_ADJECTIVES = ("old", "new", "vintage", "handmade", "shiny", "tiny", "large", "faded")
_PLACES = (
    "the market",
    "the station",
    "Elm Street",
    "the library",
    "the park",
    "the harbour",
    "the school gate",
    "the bakery",
    "the bus stop",
    "the town hall",
)
_FILLERS = (
    "",
    "",
    "",
    " Ask for Sam.",
    " Call after six.",
    " Hard to miss.",
    " Text me anytime.",
    " Photo attached.",
    " Thanks!",
    " Please share.",
)

_README = """\
mmstudio demo dataset (version {version})
========================================

{n} generated image + caption pairs, {per_class} per class. Seed {seed}, images {size}x{size} PNG.
manifest.csv has the columns image (a path relative to this folder), caption and label.

Each label is <shape>-<intent>:
  shape  (circle, square, triangle) is visible ONLY in the image;
  intent (sale, lost) is stated ONLY in the caption, in varied words
         ("for sale", "selling", "bargain" ... / "lost", "missing", "can't find" ...).

Captions never mention the shape; they also carry distractors (a colour word that matches the image
only half of the time, an object, a place). Images never depend on the intent.

So a text-only model can reach about 1/3 accuracy, an image-only model about 1/2, and a model that
fuses both modalities can reach 100%.

Labels: {labels}
"""


def write_demo(
    directory: str | os.PathLike[str], *, n_items: int = 3000, seed: int = 0, image_size: int = 64
) -> Path:
    """Write the demo dataset into ``directory`` and return the path of its ``manifest.csv``.

    Images go to ``directory/images/``; files of the same names are overwritten, other files are left
    alone. The manifest is written last, so a manifest on disk means the images it lists exist. The
    classes are balanced (their counts differ by at most one) and the row order is shuffled.
    """
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, not {n_items}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels, not {image_size}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed}")
    root = Path(directory)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(n_items - 1)))

    def write_pair(i: int, label: str) -> tuple[str, str, str]:
        # Each pair has its own random streams (image, caption), so pairs can be made in any order,
        # in parallel, and still come out identical for a seed.
        shape, intent = label.split("-")
        image, colour = render_image(shape, np.random.default_rng([seed, i, 0]), image_size)
        caption = write_caption(intent, colour, np.random.default_rng([seed, i, 1]))
        name = f"images/{i:0{width}d}.png"
        (root / name).write_bytes(_png_bytes(image))
        return name, caption, label

    labels = _balanced_labels(n_items, seed)
    # PNG encoding and file writes release the GIL: a few threads help on a desktop with many cores.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        rows = list(pool.map(write_pair, range(n_items), labels))
    _write_readme(root, n_items=n_items, seed=seed, image_size=image_size)
    manifest = root / MANIFEST_NAME
    with manifest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("image", "caption", "label"))
        writer.writerows(rows)
    return manifest


def ensure_demo() -> Path:
    """The demo dataset in the cache folder, written on first use; returns its manifest path.

    It is built in a temporary folder beside its final place and renamed into place in one step, so a
    crash or a second process never leaves (or sees) a half-written demo: the folder exists only when
    it is complete, and then it is reused as is.
    """
    target = paths.cache_dir() / DEMO_DIRNAME
    manifest = target / MANIFEST_NAME
    if manifest.is_file():
        return manifest
    if target.exists():
        shutil.rmtree(target)  # not written by this function (it has no manifest): start again
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{DEMO_DIRNAME}-", suffix=".tmp", dir=target.parent))
    try:
        write_demo(building)
        try:
            building.rename(target)
        except OSError:
            # Another process finished first (the target now exists) - use its copy.
            if not manifest.is_file():
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return manifest


def _write_readme(root: Path, *, n_items: int, seed: int, image_size: int) -> None:
    low, extra = divmod(n_items, len(LABELS))
    per_class = f"{low}" if not extra else f"{low} or {low + 1}"
    text = _README.format(
        version=DEMO_VERSION,
        n=n_items,
        per_class=per_class,
        seed=seed,
        size=image_size,
        labels=", ".join(LABELS),
    )
    (root / "README.txt").write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def _png_bytes(image: np.ndarray) -> bytes:
    """PNG-encode in memory: twice as fast as letting Pillow write to the file itself."""
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _balanced_labels(n_items: int, seed: int) -> list[str]:
    """Round-robin over the classes, then shuffled with the seed: counts differ by at most one."""
    labels = [LABELS[i % len(LABELS)] for i in range(n_items)]
    order = np.random.default_rng([seed, 2**31]).permutation(n_items)
    return [labels[j] for j in order]


def render_image(shape: str, rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, str]:
    """Draw one scene: an RGB ``uint8`` array (size, size, 3) and the name of the shape's colour.

    Shapes have the same area whatever their kind (only their outline tells them apart, not how much
    colour there is) and lie fully inside the image. Distractor lines are drawn behind the shape.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    base = rng.uniform(60, 200, size=3).astype(np.float32)
    scene = _background(base, rng, size)
    _draw_distractors(scene, rng, size)
    colour_name = _pick_colour(base, rng)
    colour = np.clip(_PALETTE[_COLOUR_NAMES.index(colour_name)] + rng.uniform(-10, 10, size=3), 0, 255)
    solid = Image.new("RGB", (size, size), tuple(int(v) for v in np.rint(colour)))
    scene = Image.composite(solid, scene, _shape_mask(shape, rng, size))
    pixels = np.asarray(scene, dtype=np.float32)
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(rng.uniform(2, 5))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), colour_name


@functools.lru_cache(maxsize=8)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates scaled to -0.5..0.5 (cached: every image of a size uses the same grid)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size - 1) - np.float32(0.5)
    return xs, ys


def _background(base: np.ndarray, rng: np.random.Generator, size: int) -> Image.Image:
    """A tinted background with a brightness gradient in a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    amplitude = rng.uniform(0, 24)
    xs, ys = _unit_grid(size)
    ramp = xs * np.float32(np.cos(angle) * amplitude) + ys * np.float32(np.sin(angle) * amplitude)
    pixels = base[None, None, :] + ramp[..., None]
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def _draw_distractors(scene: Image.Image, rng: np.random.Generator, size: int) -> None:
    """Up to three thin lines in random colours: clutter a model has to learn to ignore."""
    draw = ImageDraw.Draw(scene)
    for _ in range(int(rng.integers(0, 4))):
        x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, size, 4))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=1)


def _pick_colour(base: np.ndarray, rng: np.random.Generator) -> str:
    """A colour far enough from the background; the farthest one in the rare case none is."""
    distances = np.linalg.norm(_PALETTE - base, axis=1)
    candidates = np.flatnonzero(distances >= MIN_CONTRAST)
    if candidates.size == 0:
        return _COLOUR_NAMES[int(np.argmax(distances))]
    return _COLOUR_NAMES[int(candidates[rng.integers(candidates.size)])]


def _shape_mask(shape: str, rng: np.random.Generator, size: int) -> Image.Image:
    """Coverage mask ("L", anti-aliased) of one shape whose area is that of a circle of radius r."""
    r = rng.uniform(0.14, 0.24) * size
    if shape == "circle":
        extent = r
    elif shape == "square":
        extent = r * np.sqrt(np.pi) / 2  # half the side
    else:
        extent = r * np.sqrt(4 * np.pi / np.sqrt(3)) / np.sqrt(3)  # circumradius of the triangle
    cx, cy = rng.uniform(extent + 1, size - extent - 1, 2)
    s = _SUPERSAMPLE
    mask = Image.new("L", (size * s, size * s))
    draw = ImageDraw.Draw(mask)
    box = [(cx - extent) * s, (cy - extent) * s, (cx + extent) * s, (cy + extent) * s]
    if shape == "circle":
        draw.ellipse(box, fill=255)
    elif shape == "square":
        draw.rectangle(box, fill=255)
    else:
        turn = rng.uniform(0, 2 * np.pi)
        angles = turn + np.arange(3) * (2 * np.pi / 3)
        corners = [((cx + extent * np.cos(a)) * s, (cy + extent * np.sin(a)) * s) for a in angles]
        draw.polygon(corners, fill=255)
    return mask.resize((size, size), Image.Resampling.BOX)


def write_caption(intent: str, colour: str, rng: np.random.Generator) -> str:
    """A caption stating ``intent`` in one of several phrasings, with distractors and no shape words.

    The descriptor is a colour word (the image's true colour half of the time, any other colour
    otherwise) or a neutral adjective, so colour words in captions carry no reliable information.
    """
    if intent not in INTENTS:
        raise ValueError(f"unknown intent {intent!r}; choose one of {', '.join(INTENTS)}")
    templates = _TEMPLATES[intent]
    template = templates[int(rng.integers(len(templates)))]
    if rng.random() < 0.6:
        if rng.random() < 0.5:
            desc = colour
        else:
            others = [c for c in COLOURS if c != colour]
            desc = others[int(rng.integers(len(others)))]
    else:
        desc = _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]
    obj = _OBJECTS[int(rng.integers(len(_OBJECTS)))]
    place = _PLACES[int(rng.integers(len(_PLACES)))]
    filler = _FILLERS[int(rng.integers(len(_FILLERS)))]
    article = "an" if desc[0] in "aeiou" else "a"
    text = template.format(a=article, desc=desc, Desc=desc.capitalize(), obj=obj, place=place)
    return text + filler
