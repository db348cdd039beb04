"""retouch: skin smoothing of the crop (strength 0: untouched)."""

from __future__ import annotations

from tasks import models
from tasks.config import LoadConfig, RetouchConfig
from tasks.imaging import decode_png, encode_png
from tasks.records import FaceRecord


def retouch(record: FaceRecord, config: RetouchConfig, load: LoadConfig) -> None:
    if config.strength > 0:
        with models.borrow("retouch", config) as retoucher:
            image = retoucher.retouch(decode_png(record.image), record.landmarks68_array())
        record.image = encode_png(image)
