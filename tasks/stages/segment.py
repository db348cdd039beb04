"""segment: the head mask (face + hair) of the crop; the background becomes white."""

from __future__ import annotations

from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import LoadConfig, SegmentConfig
from tasks.imaging import encode_png
from tasks.records import FaceRecord


def segment(record: FaceRecord, config: SegmentConfig, load: LoadConfig, images: BatchImages) -> None:
    with models.borrow("segment", config) as segmenter:
        result = segmenter.segment(images.crop(record), record.landmarks68_array())
    images.set_crop(record, result.image)
    record.mask = encode_png(result.mask)
