"""Turning a picture of a digit into an MNIST-like input, as LeCun's MNIST was made.

MNIST digits are light on a dark background; each was scaled (aspect kept) to fit a
20x20 box and placed in a 28x28 field so that its centre of mass (intensity-weighted)
sits at the field's centre.  :func:`preprocess` does the same to any grayscale image:

1. invert it when its background (the median of its border pixels) is light;
2. subtract that background level and stretch so the brightest ink is 1;
3. find the digit's bounding box (pixels above :data:`INK`), scale the digit so the
   box's longer side is 20 pixels (no resampling when it already is; after resampling
   the brightest pixel is set back to 1);
4. paste it into 28x28 so that its centre of mass lands on pixel (14, 14).

An MNIST image saved as a PNG comes back unchanged (up to the stretch of step 2,
under 0.5 %): its box is already 20 pixels and its centre of mass already within
half a pixel of (14, 14).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

SIZE = 28  # the field
BOX = 20  # the digit's longer side
CENTRE = 14.0  # where MNIST's centres of mass lie (pixel index, rows and columns)
INK = 0.2  # after background removal, brighter pixels count for the bounding box
MARGIN = 0.1  # of the box's longer side, kept around it so that faint edges survive


class ImageError(ValueError):
    """A file that is not a readable image, or an image with no digit in it."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """The image at ``path`` as float32 grayscale ``(H, W)`` in [0, 1].

    Transparent pixels are laid over white (a dark digit drawn on a transparent
    canvas stays a dark digit on a light background).
    """
    path = Path(path)
    try:
        is_file = path.is_file()
    except OSError as exc:  # a folder on the way that cannot be searched, ...
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not is_file:
        raise ImageError(f"{path}: no such image file")
    return read_image(path, str(path))


def read_image(
    source: str | os.PathLike | BinaryIO, name: str, *, max_pixels: int | None = None
) -> np.ndarray:
    """:func:`load_image` for a path or an open binary file (``name`` in messages);
    ``max_pixels``: a larger image is refused before it is decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(source) as img:
            if max_pixels is not None and img.width * img.height > max_pixels:
                raise ImageError(
                    f"{name}: {img.width}x{img.height} pixels, more than the "
                    f"{max_pixels:,} allowed; give a smaller image"
                )
            img = ImageOps.exif_transpose(img)
            img.load()
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (give a PNG or JPEG file)") from None
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{name}: unreadable image ({exc})") from None
    if img.mode.startswith("I"):  # 16- or 32-bit grayscale
        raw = np.asarray(img, dtype=np.float64)
        return (raw / (65535.0 if raw.max() > 255 else 255.0)).clip(0, 1).astype(np.float32)
    if img.mode == "F":
        raw = np.asarray(img, dtype=np.float32)
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        if bad:
            raise ImageError(
                f"{name}: {bad:,} pixel(s) are NaN or infinite (a floating-point image); "
                "give an image with finite pixel values"
            )
        return raw.clip(0, 1)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("L"), dtype=np.float32) / np.float32(255.0)


def preprocess(gray: np.ndarray, name: str = "image", *, fashion: bool = False) -> np.ndarray:
    """A grayscale ``(H, W)`` image in [0, 1] -> an MNIST-like float32 ``(28, 28)`` in [0, 1].

    ``fashion``: as Zalando made Fashion-MNIST instead: the object's bounding box (no
    margin) scaled so its longer side is 28 pixels and centred by that box."""
    box, keep = (SIZE, 0.0) if fashion else (BOX, MARGIN)
    x = np.asarray(gray, dtype=np.float32)
    if x.ndim != 2 or min(x.shape) < 1:
        raise ImageError(f"{name}: expected a 2-D grayscale image, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ImageError(f"{name}: the image holds NaN or infinite pixels")
    border = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark digit on a light background: make it light on dark
        x, background = 1.0 - x, 1.0 - background
    top = float(x.max())
    if top - background < 0.1:
        raise ImageError(f"{name}: no digit found (the image is nearly uniform)")
    x = np.clip((x - background) / (top - background), 0.0, 1.0).astype(np.float32)

    rows, cols = np.flatnonzero((x > INK).any(axis=1)), np.flatnonzero((x > INK).any(axis=0))
    if len(rows) == 0 or len(cols) == 0:
        raise ImageError(f"{name}: no digit found (no pixel stands out from the background)")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(r1 - r0, c1 - c0)
    margin = int(np.ceil(keep * side))
    r0, c0 = max(r0 - margin, 0), max(c0 - margin, 0)
    r1, c1 = min(r1 + margin, x.shape[0]), min(c1 + margin, x.shape[1])
    digit = x[r0:r1, c0:c1]

    if side != box:
        from PIL import Image

        scale = box / side
        h, w = digit.shape
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        resized = Image.fromarray(digit).resize(size, Image.Resampling.LANCZOS)
        digit = np.clip(np.asarray(resized, dtype=np.float32), 0.0, None)
        if digit.max() <= 0:
            raise ImageError(f"{name}: no digit found (nothing left after scaling)")
        digit = digit / digit.max()  # resampling blurs the peak; MNIST's ink peaks at 1

    if fashion:  # centred by its box, as Zalando's conversion did
        out = np.zeros((SIZE, SIZE), dtype=np.float32)
        h, w = min(digit.shape[0], SIZE), min(digit.shape[1], SIZE)
        top, left = (SIZE - h) // 2, (SIZE - w) // 2
        out[top : top + h, left : left + w] = digit[:h, :w]
        return out
    return _centre(digit)


def _centre(digit: np.ndarray) -> np.ndarray:
    """Paste ``digit`` into a 28x28 field with its centre of mass on (14, 14) (rounded)."""
    total = float(digit.sum())
    ii, jj = np.indices(digit.shape)
    ci, cj = float((digit * ii).sum()) / total, float((digit * jj).sum()) / total
    top, left = round(CENTRE - ci), round(CENTRE - cj)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    # the part of the digit that falls inside the field
    src_r0, src_c0 = max(0, -top), max(0, -left)
    dst_r0, dst_c0 = max(0, top), max(0, left)
    h = min(digit.shape[0] - src_r0, SIZE - dst_r0)
    w = min(digit.shape[1] - src_c0, SIZE - dst_c0)
    if h > 0 and w > 0:
        out[dst_r0 : dst_r0 + h, dst_c0 : dst_c0 + w] = digit[
            src_r0 : src_r0 + h, src_c0 : src_c0 + w
        ]
    return out


def load_digit(path: str | os.PathLike, *, fashion: bool = False) -> np.ndarray:
    """The image at ``path`` ready for a backend: float32 ``(28, 28, 1)`` in [0, 1]
    (``fashion``: framed as Fashion-MNIST, see :func:`preprocess`)."""
    return preprocess(load_image(path), name=str(path), fashion=fashion)[..., None]
