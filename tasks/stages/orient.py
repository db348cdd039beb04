"""orient: decode the photo, read its EXIF orientation, turn it upright by a face-detector vote.

A vote that detects while it votes (`UprightFinder`, the YuNet vote) hands
its winning detection to the detect stage of the same batch run.
"""

from __future__ import annotations

from components.protocols import UprightFinder
from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import LoadConfig, OrientConfig
from tasks.records import FaceRecord
from tasks.sources import source_photo


def orient(record: FaceRecord, config: OrientConfig, load: LoadConfig, images: BatchImages) -> None:
    photo = source_photo(record, load, images)
    record.format, record.exif_orientation = photo.format, photo.exif_orientation
    record.width, record.height = photo.original_size
    with models.borrow("orient", config) as orienter:
        if isinstance(orienter, UprightFinder):
            found = orienter.find(photo.image)
            images.remember_vote(record, config, found)
            orientation = found.orientation
        else:
            orientation = orienter.orient(photo.image)
    record.rotation = orientation.rotation
