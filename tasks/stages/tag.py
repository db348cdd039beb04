"""tag: gender, age, the trigger word and attribute tags of the crop."""

from __future__ import annotations

import numpy as np

from tasks import models
from tasks.batch_images import BatchImages
from tasks.config import LoadConfig, TagConfig
from tasks.records import FaceRecord


def tag(record: FaceRecord, config: TagConfig, load: LoadConfig, images: BatchImages) -> None:
    with models.borrow("tag", config) as tagger:
        tags = tagger.tag(images.crop(record), np.asarray(record.crop_bbox), record.landmarks68_array())
    record.gender, record.age, record.trigger_word = tags.gender, tags.age, tags.trigger_word
    record.tags = [*tags.tags, *record.tags]
