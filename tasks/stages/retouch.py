"""retouch: skin smoothing of the crop (strength 0: untouched)."""

from __future__ import annotations

from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import LoadConfig, RetouchConfig
from tasks.records import FaceRecord


def retouch(record: FaceRecord, config: RetouchConfig, load: LoadConfig, images: BatchImages) -> None:
    if config.strength > 0:
        with models.borrow("retouch", config) as retoucher:
            images.set_crop(record, retoucher.retouch(images.crop(record), record.landmarks68_array()))
