"""align: least-squares roll correction of the eyes' line, then the face detected again."""

from __future__ import annotations

from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import AlignConfig, LoadConfig
from tasks.records import FaceRecord
from tasks.sources import upright_photo


def align(record: FaceRecord, config: AlignConfig, load: LoadConfig, images: BatchImages) -> None:
    image, scale = upright_photo(record, load, images)
    with models.borrow("align", config) as aligner:
        alignment = aligner.align(image, record.face(scale))
    record.roll = alignment.roll
    record.set_aligned_face(alignment.face, scale)
