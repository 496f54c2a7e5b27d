"""Image decoding that copes with the images real datasets contain.

Every image goes through :func:`open_image` (header only: format, size, the decompression-bomb
check) and :func:`decode_rgb` (the full decode: EXIF orientation, grayscale, palette, CMYK, 16-bit,
alpha composited on white). A JPEG named ``.png`` loads: Pillow reads the content, not the name.
:func:`decode_display` decodes an image to be looked at: its transparency kept, its shape kept.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mmstudio.data.types import ImageRef

# Pillow's own default limit (about 89.5 megapixels, a 0.25 GB RGB image).
DEFAULT_MAX_PIXELS = 89_478_485
FITS = ("crop", "squash", "pad")


class ImageError(Exception):
    """An image that cannot be used. ``kind`` is a :class:`~mmstudio.data.types.ProblemKind` value."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str | None
    mode: str


Source = ImageRef | Path | str | bytes


def _open_arg(source: Source) -> Path | io.BytesIO:
    """A path when the image is a file (Pillow then owns and closes the handle), else the bytes."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, ImageRef):
        return source.path if source.member is None else io.BytesIO(source.read_bytes())
    return Path(source)


def open_image(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image reading only its header; refuse it, undecoded, when it has too many pixels.

    Raises :class:`ImageError` with kind ``missing_file``, ``not_an_image``, ``corrupt_image`` or
    ``decompression_bomb``.
    """
    try:
        arg = _open_arg(source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(arg)
    except FileNotFoundError as exc:
        raise ImageError("missing_file", f"file not found: {exc.filename or source}") from exc
    except IsADirectoryError as exc:
        raise ImageError("not_an_image", f"{source} is a folder, not an image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("decompression_bomb", f"refused without decoding: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageError("not_an_image", "not an image file Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError("corrupt_image", f"unreadable image header: {exc}") from exc
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise ImageError(
            "decompression_bomb",
            f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,}; refused without decoding",
        )
    if w <= 0 or h <= 0:
        img.close()
        raise ImageError("corrupt_image", f"image has an empty size {w}x{h}")
    return img


def probe_image(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Format, size and mode from the header alone (fast: nothing is decoded)."""
    img = open_image(source, max_pixels=max_pixels)
    try:
        w, h = exif_size(img)
        return ImageInfo(w, h, img.format, img.mode)
    finally:
        img.close()


def exif_size(img: Image.Image) -> tuple[int, int]:
    """The displayed size: width and height swapped when EXIF says the image is rotated a quarter turn."""
    w, h = img.size
    if img.format == "PNG" and "exif" not in img.info:
        # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixels;
        # a header probe must not do that (and an eXIf chunk belongs before IDAT anyway).
        return w, h
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block is not worth refusing the image for
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        if arr.dtype != np.uint16 and arr.size and arr.max() <= 255:
            arr8 = arr.astype(np.uint8)
        else:
            arr8 = (arr.astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")
    return img


def _fit(img: Image.Image, size: int, fit: str) -> Image.Image:
    if fit == "crop":
        return ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)  # (fit takes no reducing_gap)
    if fit == "squash":
        return img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    if fit == "pad":
        return ImageOps.pad(img, (size, size), Image.Resampling.BILINEAR, color=(255, 255, 255))
    raise ValueError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}")


def decode_rgb(
    source: Source,
    size: int | None = None,
    *,
    fit: str = "crop",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode an image fully into an RGB ``uint8`` array of shape (H, W, 3).

    With ``size``, the image is resized to ``size`` x ``size`` (``fit``: ``crop`` keeps the aspect
    ratio and crops the centre, ``squash`` stretches, ``pad`` letterboxes on white). A truncated or
    corrupt file raises :class:`ImageError` with kind ``corrupt_image``.
    """
    img = opened = open_image(source, max_pixels=max_pixels)
    try:
        img = _to_rgb(_load_upright(img, size))
        if size is not None:
            img = _fit(img, size, fit)
        return np.asarray(img, dtype=np.uint8)
    finally:
        img.close()
        opened.close()  # the converted copies do not own the file (a GIF keeps it open after load)


def decode_display(
    source: Source, size: int | None = None, *, enlarge: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode an image to be looked at: upright, its aspect ratio kept, an RGBA ``uint8`` array of shape
    (H, W, 4) when it has transparency (a person sees what lies behind it), else RGB (H, W, 3).

    With ``size``, an image larger than ``size`` x ``size`` is shrunk to fit in it (and, with
    ``enlarge``, a smaller one grown to fit), never cropped or padded. Raises :class:`ImageError` as
    :func:`decode_rgb` does.
    """
    img = opened = open_image(source, max_pixels=max_pixels)
    try:
        img = _load_upright(img, size)
        img = img.convert("RGBA") if _has_alpha(img) else _to_rgb(img)
        if size is not None and (max(img.size) > size or (enlarge and max(img.size) < size)):
            img = ImageOps.contain(img, (size, size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)
    finally:
        img.close()
        opened.close()


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _load_upright(img: Image.Image, size: int | None) -> Image.Image:
    """The pixels of an opened image, loaded (a JPEG at the smallest scale still >= ``size``) and
    turned as its EXIF orientation says."""
    if size is not None and img.format == "JPEG":
        # DCT scaling: decode at the smallest scale still >= size (much faster for big JPEGs).
        img.draft("RGB", (size, size))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError("corrupt_image", f"truncated or corrupt image: {exc}") from exc
    except Image.DecompressionBombError as exc:  # pragma: no cover - caught at open
        raise ImageError("decompression_bomb", str(exc)) from exc
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block: keep the pixels as stored
        return img
