"""What one batch's stages hand each other in memory: arrays made once, within one task run.

All the curation stages of a batch run in one task (tasks/curation.py
`run_chain`), each still writing its own Parquet artefact. Without this
hand-off every stage decoded what it needed from its input record: the
source photo in orient, detect, align and crop, the crop's PNG in segment,
retouch, tag, quality and embed (bench/handoff.py: ~45-53 core-ms per photo
of repeated decodes), and detect ran the detector the orientation vote had
just run. Here the first stage that needs an array makes it and the next
ones reuse it; the vote's faces are handed to detect when its detector is
detect's own (`voted_faces`). A stage run on its own (a re-run starting
from its input artefact) gets an empty `BatchImages` and makes what it
needs: same bytes either way.

This module imports no component (only what every stage imports anyway):
it is part of every curation stage's code version (tasks/codeversion.py),
and an edit to, say, the detector must not change the key of `segment`.
One object per task run, dropped with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from components.types import Face, UprightFaces
from tasks.config import StageConfig, YuNetDetectorOptions
from tasks.imaging import decode_png, encode_png
from tasks.records import FaceRecord

T = TypeVar("T")
CROP, VOTE = "crop", "vote"
# Options of the vote's own detector that must equal the detect stage's for its faces to be reused.
SHARED_DETECTOR_OPTIONS = tuple(name for name in YuNetDetectorOptions.model_fields if name != "backend")
VOTE_DETECTS_AS = {"yunet-vote": "yunet"}


class BatchImages:
    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, str], Any] = {}
        self.made: Counter[str] = Counter()  # values made, by kind (what the tests and benchmarks count)

    def keep(self, record: FaceRecord, kind: str, make: Callable[[], T]) -> T:
        """The record's `kind` value, made by `make` the first time it is asked for."""
        key = _key(record, kind)
        if key not in self._kept:
            self._kept[key] = make()
            self.made[kind] += 1
        return self._kept[key]

    def put(self, record: FaceRecord, kind: str, value: Any) -> None:
        self._kept[_key(record, kind)] = value

    def forget(self, record: FaceRecord, keep: tuple[str, ...] = ()) -> None:
        """Drop the record's values but those of `keep` (after the crop: the full-size photos are the largest)."""
        for key in [k for k in self._kept if k[:2] == _key(record, "")[:2] and k[2] not in keep]:
            del self._kept[key]

    def clear(self) -> None:
        self._kept.clear()

    def crop(self, record: FaceRecord) -> np.ndarray:
        return self.keep(record, CROP, lambda: decode_png(record.image))

    def set_crop(self, record: FaceRecord, image: np.ndarray) -> None:
        """A stage's new crop: PNG bytes for its artefact, the array for the next stage."""
        record.image = encode_png(image)
        self.put(record, CROP, image)

    def remember_vote(self, record: FaceRecord, orient_config: StageConfig, found: UprightFaces) -> None:
        self.put(record, VOTE, (orient_config, found))

    def voted_faces(self, record: FaceRecord, detect_config: StageConfig) -> list[Face] | None:
        """The orientation vote's faces when its detector is the one `detect_config` asks for, else None."""
        remembered = self._kept.get(_key(record, VOTE))
        if remembered is None:
            return None
        orient_config, found = remembered
        if found.orientation.rotation != (record.rotation or 0):
            return None
        if not vote_detects_like(orient_config, detect_config):
            return None
        return found.faces


def vote_detects_like(orient_config: StageConfig, detect_config: StageConfig) -> bool:
    """The vote's detector is the detect stage's: same backend family and the same detector options."""
    if VOTE_DETECTS_AS.get(orient_config.backend) != detect_config.backend:
        return False
    vote, detect = orient_config.component_options(), detect_config.component_options()
    return all(vote.get(name) == detect.get(name) for name in SHARED_DETECTOR_OPTIONS)


def _key(record: FaceRecord, kind: str) -> tuple[str, str, str]:
    return record.source, record.sha256, kind
