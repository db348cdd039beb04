"""orient: decode the photo, read its EXIF orientation, turn it upright by a face-detector vote."""

from __future__ import annotations

from tasks import models
from tasks.config import LoadConfig, OrientConfig
from tasks.sources import decode_source
from tasks.records import FaceRecord


def orient(record: FaceRecord, config: OrientConfig, load: LoadConfig) -> None:
    photo = decode_source(record, load)
    record.format, record.exif_orientation = photo.format, photo.exif_orientation
    record.width, record.height = photo.original_size
    with models.borrow("orient", config) as orienter:
        record.rotation = orienter.orient(photo.image).rotation
