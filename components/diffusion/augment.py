"""FaceChain-style FaceCrop augmentation: a square around the face, random zoom and flip."""

from __future__ import annotations

import numpy as np
from PIL import Image

WHITE = 255


def face_crop(image: np.ndarray, bbox: np.ndarray, fraction: float, flip: bool, size: int) -> np.ndarray:
    """Square crop centred on `bbox` whose side makes the face `fraction` of its width.

    Parts of the square outside the image are white (the curated crops have a
    white background, so the padding blends in). Returns size x size x 3 uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    x0, y0, x1, y1 = (float(v) for v in np.asarray(bbox).reshape(4))
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty face box {x0, y0, x1, y1}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")

    side = crop_side(bbox, fraction)
    left = round((x0 + x1) / 2 - side / 2)
    top = round((y0 + y1) / 2 - side / 2)
    square = _window_with_white_padding(image, left, top, side)
    if side != size:
        square = np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.BICUBIC))
    if flip:
        square = square[:, ::-1]
    return np.ascontiguousarray(square)


def crop_side(bbox: np.ndarray, fraction: float) -> int:
    """Side, in the photo's pixels, of the square `face_crop` cuts around `bbox`."""
    x0, _, x1, _ = (float(v) for v in np.asarray(bbox).reshape(4))
    return max(1, round((x1 - x0) / fraction))


def _window_with_white_padding(image: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    out = np.full((side, side, 3), WHITE, dtype=np.uint8)
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + side, w), min(top + side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = image[sy0:sy1, sx0:sx1]
    return out
