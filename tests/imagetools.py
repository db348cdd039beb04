"""Helpers that derive test images from the real photos (rotations, re-encodings)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def rotate_padded(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate content counter-clockwise by `degrees`, enlarging the canvas (white)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(image, m, (nw, nh), borderValue=(255, 255, 255))


def encode(image: np.ndarray | Image.Image, fmt: str = "JPEG", **params) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


# The pixel transform a camera stored, for each EXIF orientation value: applying
# it to the upright image gives what the file holds; readers must undo it.
EXIF_STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.transpose(a, (1, 0, 2)),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(np.transpose(a, (1, 0, 2)), 2),
    8: lambda a: np.rot90(a, -1),
}


def with_exif_orientation(upright: np.ndarray, orientation: int) -> bytes:
    """A JPEG whose pixels are stored turned, with the tag that says how."""
    stored = np.ascontiguousarray(EXIF_STORED[orientation](upright))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, with one tiny deflate stream of zeros.

    Built by hand so the test never holds the pixels: decoding it fully would
    need width*height bytes.
    """
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def downscaled_copies(source, folder, names, max_side: int = 1000):
    """JPEG copies of the photos `names` from `source` in `folder`, at most `max_side` px (fast to curate)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        with Image.open(source / name) as im:
            im = im.convert("RGB")
            im.thumbnail((max_side, max_side))
            im.save(folder / name, quality=92)
    return folder

