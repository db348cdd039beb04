"""PNG encoding of the images that travel inside Parquet."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# Level 1: ~12 ms for a 512² crop vs ~60 ms at the default level, files ~15% larger.
PNG_LEVEL = 1


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def decode_png(data: bytes, mode: str = "RGB") -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode)).copy()
