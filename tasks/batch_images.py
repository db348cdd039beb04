"""Pixels of one batch decoded once and shared by the stages that run on it in the same process.

Today every curation stage decodes what it needs from its input record: the
source photo in orient, detect, align and crop (4 decodes of a <= 2048 px
JPEG), the crop's PNG in segment, retouch, tag, quality and embed (bench/handoff.py:
~53 core-ms per photo of repeated decodes, against ~8 of Parquet reads). When
one task runs several stages on a batch, the stage functions take a
`BatchImages` instead of decoding:
the first stage that needs an image decodes it, the others reuse it. Each
stage still writes its own Parquet artefact with the same bytes as before, so
re-running a single stage from its input artefact gives the same result.

One object per batch run, dropped with it: nothing outlives the task.
"""

from __future__ import annotations

import numpy as np

from components.orientation import rotate
from components.types import DecodedPhoto, UprightFaces
from tasks.config import LoadConfig, StageConfig
from tasks.imaging import decode_png, encode_png
from tasks.records import FaceRecord
from tasks.sources import decode_source

# Options of the vote's own detector that must equal the detect stage's for its faces to be reused.
SHARED_DETECTOR_OPTIONS = ("max_side", "proposal_score", "score_threshold", "window", "window_px", "max_faces")
VOTE_DETECTS_AS = {"yunet-vote": "yunet"}


class BatchImages:
    def __init__(self, load: LoadConfig) -> None:
        self.load = load
        self._sources: dict[str, DecodedPhoto] = {}
        self._oriented: dict[tuple[str, int], np.ndarray] = {}
        self._faces: dict[str, tuple[StageConfig, UprightFaces]] = {}
        self._crops: dict[str, np.ndarray] = {}
        self.decodes = 0  # source and PNG decodes made (what the benchmark counts)

    def source(self, record: FaceRecord) -> DecodedPhoto:
        if record.sha256 not in self._sources:
            self._sources[record.sha256] = decode_source(record, self.load)
            self.decodes += 1
        return self._sources[record.sha256]

    def oriented(self, record: FaceRecord) -> tuple[np.ndarray, float]:
        """The working copy turned upright by the recorded rotation, and its scale to the original."""
        photo = self.source(record)
        key = (record.sha256, record.rotation or 0)
        if key not in self._oriented:
            self._oriented[key] = rotate(photo.image, key[1])
        return self._oriented[key], photo.scale

    def remember_vote(self, record: FaceRecord, orient_config: StageConfig, found: UprightFaces) -> None:
        self._faces[record.sha256] = (orient_config, found)

    def voted_faces(self, record: FaceRecord, detect_config: StageConfig):
        """The orientation vote's faces when its detector is the one `detect_config` asks for, else None."""
        remembered = self._faces.get(record.sha256)
        if remembered is None:
            return None
        orient_config, found = remembered
        if found.orientation.rotation != (record.rotation or 0):
            return None
        if not vote_detects_like(orient_config, detect_config):
            return None
        return found.faces

    def crop(self, record: FaceRecord) -> np.ndarray:
        if record.sha256 not in self._crops:
            self._crops[record.sha256] = decode_png(record.image)
            self.decodes += 1
        return self._crops[record.sha256]

    def set_crop(self, record: FaceRecord, image: np.ndarray) -> None:
        """A stage's new crop: PNG bytes for its artefact, the array for the next stage."""
        record.image = encode_png(image)
        self._crops[record.sha256] = image

    def forget_source(self, record: FaceRecord) -> None:
        """After the crop: the full-size copies are the batch's largest arrays."""
        self._sources.pop(record.sha256, None)
        self._faces.pop(record.sha256, None)
        for key in [k for k in self._oriented if k[0] == record.sha256]:
            del self._oriented[key]


def vote_detects_like(orient_config: StageConfig, detect_config: StageConfig) -> bool:
    """The vote's detector is the detect stage's: same backend family and the same detector options."""
    if VOTE_DETECTS_AS.get(orient_config.backend) != detect_config.backend:
        return False
    vote, detect = orient_config.component_options(), detect_config.component_options()
    return all(vote.get(name) == detect.get(name) for name in SHARED_DETECTOR_OPTIONS)
