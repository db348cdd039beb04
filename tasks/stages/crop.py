"""crop: the square face crop of the levelled photo (white outside it), and its 68 landmarks."""

from __future__ import annotations

import numpy as np

from components.alignment import levelling_matrix
from components.types import Alignment
from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import CropConfig, LoadConfig
from tasks.records import FaceRecord
from tasks.sources import drop_source, upright_photo


def crop(record: FaceRecord, config: CropConfig, load: LoadConfig, images: BatchImages) -> None:
    image, scale = upright_photo(record, load, images)
    alignment = Alignment(roll=record.roll, face=record.aligned_face(scale),
                          matrix=levelling_matrix(image.shape, np.radians(record.roll)),
                          size=(image.shape[1], image.shape[0]))
    with models.borrow("crop", config) as cropper:
        cropped = cropper.crop(image, alignment)
    images.set_crop(record, cropped.image)
    record.crop_bbox = cropped.bbox.tolist()
    record.crop_landmarks = cropped.landmarks.tolist()
    with models.borrow_named("landmarks", config.landmarks) as landmarker:
        record.landmarks68 = landmarker.landmarks68(cropped.image, cropped.bbox).tolist()
    record.outside_fraction = cropped.outside_fraction
    if face_cut_by_border(np.asarray(record.bbox) * scale, image.shape):
        record.tags = [*record.tags, "cut by the photo border"]
    drop_source(record, images)  # the crop replaces the source from here on


def face_cut_by_border(bbox: np.ndarray, shape: tuple[int, ...], margin: float = 0.02) -> bool:
    """The face box reaches the photo's edge (the crop's white padding alone says nothing)."""
    height, width = shape[:2]
    x0, y0, x1, y1 = bbox
    pad = margin * (x1 - x0)
    return x0 < pad or y0 < pad or x1 > width - pad or y1 > height - pad
