"""detect: the faces of the upright photo; one dominant face is kept, else the photo is rejected."""

from __future__ import annotations

from components.detection import select_face
from tasks import models
from tasks.config import DetectConfig, LoadConfig
from tasks.sources import oriented_source
from tasks.records import FaceRecord


def detect(record: FaceRecord, config: DetectConfig, load: LoadConfig) -> None:
    image, scale = oriented_source(record, load)
    with models.borrow("detect", config) as detector:
        faces = detector.detect(image)
    record.set_face(select_face(faces, min_face_px=config.min_face_px, dominance=config.dominance,
                                pixel_scale=scale), scale)
