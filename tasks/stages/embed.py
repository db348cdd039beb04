"""embed: the identity embedding of the face in the crop."""

from __future__ import annotations

import numpy as np

from tasks import models
from tasks.config import EmbedConfig, LoadConfig
from tasks.imaging import decode_png
from tasks.records import FaceRecord


def embed(record: FaceRecord, config: EmbedConfig, load: LoadConfig) -> None:
    with models.borrow("embed", config) as embedder:
        vector = embedder.embed(decode_png(record.image), np.asarray(record.crop_bbox))
    record.embedding = [float(v) for v in vector]
