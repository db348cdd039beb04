"""Uploaded photos checked before a job is queued: an image in a photo format, within the pixel limit, decodable."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from components.photo import PHOTO_FORMATS, decode_photo
from components.types import PhotoError
from tasks.config import LoadConfig
from web.errors import ApiError

SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024


def check_image(path: Path, filename: str, max_pixels: int) -> None:
    """415 if not an image, 413 for a decompression bomb (refused from the header), 422 if it cannot be decoded."""
    try:
        with Image.open(path, formats=PHOTO_FORMATS) as im:
            width, height = im.size
    except UnidentifiedImageError:
        raise ApiError(415, f"{filename!r} is not an image in a supported format "
                            f"({', '.join(PHOTO_FORMATS)})") from None
    except Image.DecompressionBombError:
        raise ApiError(413, f"{filename!r} refused: its header declares too many pixels "
                            "(possible decompression bomb)") from None
    except Exception as exc:  # noqa: BLE001 - hostile bytes: any decoder failure is a bad file
        raise ApiError(422, f"{filename!r} is not a readable image: {exc}") from None
    if width * height > max_pixels:
        raise ApiError(413, f"{filename!r} refused: {width}x{height} = {width * height} pixels is over the limit "
                            f"of {max_pixels} (possible decompression bomb)")
    load = LoadConfig()
    try:
        decode_photo(path.read_bytes(), max_pixels=max_pixels, max_side=load.max_side, min_side=load.min_side)
    except PhotoError as exc:
        raise ApiError(422, f"{filename!r}: {exc}") from None


def check_safetensors(path: Path, filename: str) -> None:
    """A LoRA upload must be a safetensors file: an 8-byte header length, then a JSON header."""
    import json

    with open(path, "rb") as f:
        head = f.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        ok = 2 <= size <= min(SAFETENSORS_MAX_HEADER, path.stat().st_size - 8)
        try:
            ok = ok and isinstance(json.loads(f.read(size)), dict)
        except (ValueError, UnicodeDecodeError):
            ok = False
    if not ok or not filename.lower().endswith(".safetensors"):
        raise ApiError(422, f"{filename!r} is not a .safetensors file (other weight formats are refused)")
