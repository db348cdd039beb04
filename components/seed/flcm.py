"""quality: FLCM facial-landmark confidence, FaceChain's curation filter (keeps scores >= 0.855)."""

from __future__ import annotations

from components.seed.hub import CONFIGURATION
from components.seed.scores import BoxScoreQuality

# FaceChain's preprocessing drops a photo when `scores[0] < 1 - 0.145`.
FACECHAIN_THRESHOLD = 0.855


class FlcmQuality(BoxScoreQuality):
    """`damo/cv_manual_facial-landmark-confidence_flcm` on the face box of the curated crop.

    FaceChain runs it on the segmented crop with DamoFD's box; we give the box
    from our detect stage. The score is 1 - the model's landmark-error
    probability.
    """

    MODEL_ID = "damo/cv_manual_facial-landmark-confidence_flcm"
    REVISION = "v2.5"
    TASK = "face-2d-keypoints"
    FILES = (CONFIGURATION, "pytorch_model.pt")
    LICENCE = "Apache-2.0 (ModelScope model card)"
    PART = "landmark_confidence"
    LABEL = "facial landmarks are unreliable"
    DEFAULT_THRESHOLD = FACECHAIN_THRESHOLD
