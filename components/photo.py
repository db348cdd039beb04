"""Decode untrusted photo bytes into an upright RGB working copy.

Every failure is a `PhotoError` whose message is the reason shown to users.
The pixel limit is checked on the header, before any pixel is decoded, so a
decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from components.types import DecodedPhoto, PhotoError

EXIF_ORIENTATION_TAG = 0x0112
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode_photo(data: bytes, *, max_pixels: int, max_side: int, min_side: int) -> DecodedPhoto:
    """Bytes -> upright RGB array no larger than `max_side` on its long side."""
    if not data:
        raise PhotoError("empty file")
    with warnings.catch_warnings():
        # PIL warns (not raises) between 1x and 2x its own limit; ours is the rule.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                return _decode_open_image(im, max_pixels=max_pixels, max_side=max_side, min_side=min_side)
        except PhotoError:
            raise
        except UnidentifiedImageError:
            raise PhotoError("not an image file (unrecognised format)") from None
        except Image.DecompressionBombError as exc:
            raise PhotoError(f"refused: the header declares too many pixels ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise PhotoError(f"unreadable or truncated image: {exc}") from None


def _decode_open_image(im: Image.Image, *, max_pixels: int, max_side: int, min_side: int) -> DecodedPhoto:
    width, height = im.size
    if width * height > max_pixels:
        raise PhotoError(f"refused: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}")
    if min(width, height) < min_side:
        raise PhotoError(f"too small: {width}x{height}, the short side must be at least {min_side} px")
    fmt = im.format or "unknown"
    exif_orientation = _exif_orientation(im)
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # animated GIF/WebP/APNG: first frame
    # JPEG can decode at 1/2, 1/4, 1/8 scale directly: huge photos cost little.
    if fmt == "JPEG" and max(width, height) > 2 * max_side:
        im.draft("RGB", (max_side, max_side))
    im.load()
    rgb = _to_rgb(im)
    rgb = _apply_orientation(rgb, exif_orientation)
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    scale = max(rgb.size) / max(width, height)
    return DecodedPhoto(
        image=np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)),
        exif_orientation=exif_orientation,
        original_size=(width, height),
        scale=float(scale),
        format=fmt,
    )


def _exif_orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # malformed EXIF must not lose the photo
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(rgb: Image.Image, orientation: int) -> Image.Image:
    """Undo the camera's EXIF orientation (the same table PIL's exif_transpose uses)."""
    method = _EXIF_TRANSPOSE.get(orientation)
    return rgb.transpose(method) if method is not None else rgb


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any mode -> 8-bit RGB; transparency is composited on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        span = max(float(arr.max() - arr.min()), 1e-9)
        return Image.fromarray(((arr - arr.min()) * (255.0 / span)).astype(np.uint8)).convert("RGB")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    ) or (im.mode in ("L", "RGB") and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")
