"""embed: the identity embedding of the face in the crop."""

from __future__ import annotations

import numpy as np

from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import EmbedConfig, LoadConfig
from tasks.records import FaceRecord


def embed(record: FaceRecord, config: EmbedConfig, load: LoadConfig, images: BatchImages) -> None:
    with models.borrow("embed", config) as embedder:
        vector = embedder.embed(images.crop(record), np.asarray(record.crop_bbox))
    record.embedding = [float(v) for v in vector]
