"""Which encoding should crops travel in between stages? Encode + decode time and size, measured.

    python bench/encoding.py

Uses the curated crops of the sample photos (512², white background) and
prints ms per image and KiB per image for each candidate, in one run.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SAMPLES, print_table  # noqa: E402


def crops() -> list[np.ndarray]:
    """Real 512² face crops: the curation flow's own output on the sample photos."""
    import pandas as pd

    from flows.config import CurationConfig
    from flows.settings import apply_defaults

    apply_defaults()
    from flows.curate import curate_flow

    with tempfile.TemporaryDirectory() as out:
        curate_flow(inputs=[str(SAMPLES)], out=out, config=CurationConfig(progress=False))
        data = pd.read_parquet(Path(out) / "faces")
        return [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in data.image.dropna()]


def pil_codec(fmt: str, **params):
    def encode(a: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(a).save(buffer, format=fmt, **params)
        return buffer.getvalue()

    def decode(b: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))

    return encode, decode


def chosen_codec():
    from tasks.imaging import decode_png, encode_png

    return encode_png, decode_png


CODECS = {
    "PNG level 1, RLE, OpenCV (chosen)": chosen_codec(),
    "PNG level 1, PIL": pil_codec("PNG", compress_level=1),
    "PNG level 6 (PIL default)": pil_codec("PNG", compress_level=6),
    "WebP lossless, method 0": pil_codec("WEBP", lossless=True, method=0),
    "JPEG q95 (lossy)": pil_codec("JPEG", quality=95),
    "raw uint8 pixels": (lambda a: a.tobytes(), lambda b: np.frombuffer(b, np.uint8).reshape(512, 512, 3)),
}


def measure(images: list[np.ndarray], repeat: int = 5) -> list[tuple[str, str]]:
    rows = []
    for name, (encode, decode) in CODECS.items():
        t = time.perf_counter()
        for _ in range(repeat):
            blobs = [encode(a) for a in images]
        enc = (time.perf_counter() - t) / repeat / len(images)
        t = time.perf_counter()
        for _ in range(repeat):
            back = [decode(b) for b in blobs]
        dec = (time.perf_counter() - t) / repeat / len(images)
        lossless = all(np.array_equal(a, b) for a, b in zip(images, back))
        size = np.mean([len(b) for b in blobs]) / 1024
        rows.append((name, f"encode {enc * 1000:5.1f} ms  decode {dec * 1000:5.1f} ms  {size:6.0f} KiB  "
                           f"{'lossless' if lossless else 'LOSSY'}"))
    return rows


if __name__ == "__main__":
    images = crops()
    print_table(f"intermediate encoding of {len(images)} real 512² crops", measure(images))
