"""align: least-squares roll correction of the eyes' line, then the face detected again."""

from __future__ import annotations

from tasks import models
from tasks.config import AlignConfig, LoadConfig
from tasks.sources import oriented_source
from tasks.records import FaceRecord


def align(record: FaceRecord, config: AlignConfig, load: LoadConfig) -> None:
    image, scale = oriented_source(record, load)
    with models.borrow("align", config) as aligner:
        alignment = aligner.align(image, record.face(scale))
    record.roll = alignment.roll
    record.set_aligned_face(alignment.face, scale)
