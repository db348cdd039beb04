"""Decode untrusted photo bytes into an upright RGB working copy.

Every failure is a `PhotoError` whose message is the reason shown to users.
The pixel limit is checked on the header, before any pixel is decoded, so a
decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from components.types import DecodedPhoto, PhotoError

EXIF_ORIENTATION_TAG = 0x0112
# Photo formats only, sniffed from the content (a PNG named .jpg is fine). Every
# other Pillow plugin stays off: less parser surface for untrusted bytes, and
# no EPS handed to Ghostscript. ("JPEG" also opens multi-picture MPO files.)
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_SUPPORTED = "JPEG, PNG, GIF, WebP, BMP or TIFF"
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
            with Image.open(io.BytesIO(data), formats=PHOTO_FORMATS) as im:
                return _decode_open_image(im, max_pixels=max_pixels, max_side=max_side, min_side=min_side)
        except (PhotoError, MemoryError):
            raise
        except UnidentifiedImageError:
            raise PhotoError(f"not an image file in a supported format ({_SUPPORTED})") from None
        except Image.DecompressionBombError as exc:
            raise PhotoError(_bomb_reason(str(exc), max_pixels)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise PhotoError(f"unreadable or truncated image: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile bytes is still just a bad file
            raise PhotoError(f"unreadable or corrupt image (decoder failed: {type(exc).__name__}: {exc})") from None


def _bomb_reason(message: str, max_pixels: int) -> str:
    """PIL's own cap fired on the header: say so with our limit, not PIL's."""
    found = re.search(r"\((\d+) pixels\)", message)
    declared = f"{int(found.group(1))} pixels" if found else "too many pixels"
    return f"refused: the header declares {declared}, over the limit of {max_pixels} (possible decompression bomb)"


def _decode_open_image(im: Image.Image, *, max_pixels: int, max_side: int, min_side: int) -> DecodedPhoto:
    width, height = im.size
    if width * height > max_pixels:
        raise PhotoError(f"refused: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}")
    if min(width, height) < min_side:
        raise PhotoError(f"too small: {width}x{height}, the short side must be at least {min_side} px")
    if max(width, height) * min_side > max_side * min(width, height):
        # Scaled to max_side, the short side would fall under min_side (down to 1 px, which dlib refuses).
        raise PhotoError(f"too elongated: {width}x{height}, the long side may be at most "
                         f"{max_side / min_side:g} times the short side")
    fmt = im.format or "unknown"
    exif_orientation = _exif_orientation(im)
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # animated GIF/WebP/APNG: first frame
    # JPEG can decode at 1/2, 1/4, 1/8 scale directly: huge photos cost little.
    if fmt in ("JPEG", "MPO") and max(width, height) > 2 * max_side:
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
        arr = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
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
