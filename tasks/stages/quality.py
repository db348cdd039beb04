"""quality: a score in [0, 1] from measured properties; photos below the threshold are rejected."""

from __future__ import annotations

import numpy as np

from components.types import Rejected
from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import LoadConfig, StageConfig
from tasks.records import FaceRecord


def quality(record: FaceRecord, config: StageConfig, load: LoadConfig, images: BatchImages) -> None:
    with models.borrow("quality", config) as scorer:
        result = scorer.score(images.crop(record), record.landmarks68_array(), record.face_width,
                              record.detection_score, bbox=np.asarray(record.crop_bbox))
        weakest = scorer.weakest(result.parts)
    record.quality, record.quality_parts = result.score, dict(result.parts)
    if result.score < config.threshold:
        raise Rejected(f"quality {result.score:.2f} below {config.threshold:.2f} (weakest: {weakest})")
