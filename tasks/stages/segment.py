"""segment: the head mask (face + hair) of the crop; the background becomes white."""

from __future__ import annotations

from tasks import models
from tasks.config import LoadConfig, SegmentConfig
from tasks.imaging import decode_png, encode_png
from tasks.records import FaceRecord


def segment(record: FaceRecord, config: SegmentConfig, load: LoadConfig) -> None:
    with models.borrow("segment", config) as segmenter:
        result = segmenter.segment(decode_png(record.image), record.landmarks68_array())
    record.image, record.mask = encode_png(result.image), encode_png(result.mask)
