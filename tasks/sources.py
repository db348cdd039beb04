"""The source photo of a record, decoded for the stages that work on it (orient, detect, align, crop)."""

from __future__ import annotations

import numpy as np

from components.orientation import rotate
from components.photo import decode_photo
from components.types import DecodedPhoto
from tasks.config import LoadConfig
from tasks.records import FaceRecord


def decode_source(record: FaceRecord, load: LoadConfig) -> DecodedPhoto:
    if record.data is None:
        raise ValueError("the source bytes are gone from this record (read past the crop stage?)")
    return decode_photo(record.data, max_pixels=load.max_pixels, max_side=load.max_side, min_side=load.min_side)


def oriented_source(record: FaceRecord, load: LoadConfig) -> tuple[np.ndarray, float]:
    """The working copy turned upright by the recorded rotation, and its scale to the original."""
    photo = decode_source(record, load)
    return rotate(photo.image, record.rotation or 0), photo.scale
