"""The source photo of a record, for the stages that work on it (orient, detect, align, crop).

`source_photo` / `upright_photo` decode it once per batch run and hand the
arrays on (tasks/batch_images.py); `decode_source` / `oriented_source`
decode it every time (benchmarks compare the two).
"""

from __future__ import annotations

import numpy as np

from components.orientation import rotate
from components.photo import decode_photo
from components.types import DecodedPhoto
from tasks.batch_images import BatchImages
from tasks.config import LoadConfig
from tasks.records import FaceRecord

SOURCE = "source"


def decode_source(record: FaceRecord, load: LoadConfig) -> DecodedPhoto:
    if record.data is None:
        raise ValueError("the source bytes are gone from this record (read past the crop stage?)")
    return decode_photo(record.data, max_pixels=load.max_pixels, max_side=load.max_side, min_side=load.min_side)


def oriented_source(record: FaceRecord, load: LoadConfig) -> tuple[np.ndarray, float]:
    """The working copy turned upright by the recorded rotation, and its scale to the original."""
    photo = decode_source(record, load)
    return rotate(photo.image, record.rotation or 0), photo.scale


def source_photo(record: FaceRecord, load: LoadConfig, images: BatchImages) -> DecodedPhoto:
    """The decoded working copy, decoded once per batch run."""
    return images.keep(record, SOURCE, lambda: decode_source(record, load))


def upright_photo(record: FaceRecord, load: LoadConfig, images: BatchImages) -> tuple[np.ndarray, float]:
    """`oriented_source`, made once per batch run and rotation (an upright photo is its working copy)."""
    photo = source_photo(record, load, images)
    rotation = record.rotation or 0
    if rotation == 0:
        return photo.image, photo.scale
    return images.keep(record, f"upright-{rotation}", lambda: rotate(photo.image, rotation)), photo.scale


def drop_source(record: FaceRecord, images: BatchImages) -> None:
    """After the crop: the source bytes leave the record, the full-size arrays leave memory."""
    record.data = None
    images.forget(record, keep=("crop",))
