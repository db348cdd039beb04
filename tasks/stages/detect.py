"""detect: the faces of the upright photo; one dominant face is kept, else the photo is rejected.

The faces come from the orientation vote when its detector is this one
(same backend and options, tasks/batch_images.py); otherwise, or when the
stage runs on its own, they are detected here, by a `TurnedDetector` on the
source turned by the recorded rotation exactly as the vote did it (same
faces either way), by any other detector on the upright copy.
"""

from __future__ import annotations

from components.detection import select_face
from components.protocols import TurnedDetector
from components.types import Face
from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import DetectConfig, LoadConfig
from tasks.records import FaceRecord
from tasks.sources import source_photo, upright_photo


def detect(record: FaceRecord, config: DetectConfig, load: LoadConfig, images: BatchImages) -> None:
    scale = source_photo(record, load, images).scale
    faces = images.voted_faces(record, config)
    if faces is None:
        faces = detect_faces(record, config, load, images)
    record.set_face(select_face(faces, min_face_px=config.min_face_px, dominance=config.dominance,
                                pixel_scale=scale), scale)


def detect_faces(record: FaceRecord, config: DetectConfig, load: LoadConfig, images: BatchImages) -> list[Face]:
    with models.borrow("detect", config) as detector:
        if isinstance(detector, TurnedDetector):
            return detector.detect_rotated(source_photo(record, load, images).image, record.rotation or 0)
        return detector.detect(upright_photo(record, load, images)[0])
