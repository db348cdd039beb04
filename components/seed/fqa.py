"""quality: FQA face quality assessment, FaceChain's template-selection score."""

from __future__ import annotations

from components.seed.hub import CONFIGURATION
from components.seed.scores import BoxScoreQuality


class FqaQuality(BoxScoreQuality):
    """`damo/cv_manual_face-quality-assessment_fqa` (ONNX, run by modelscope on onnxruntime).

    FaceChain picks the curated photo with the highest FQA score as the
    template face. As a curation filter its threshold defaults to 0 (keep all):
    FaceChain never filtered with it.
    """

    MODEL_ID = "damo/cv_manual_face-quality-assessment_fqa"
    REVISION = "v2.0"
    TASK = "face-quality-assessment"
    FILES = (CONFIGURATION, "model.onnx")
    LICENCE = "Apache-2.0 (ModelScope model card)"
    PART = "face_quality"
    LABEL = "low face quality"
    DEFAULT_THRESHOLD = 0.0


class FqaTemplateSelector(FqaQuality):
    """FaceChain's template choice: every curated crop scored by FQA on its face box; the highest wins."""

    def scores(self, candidates) -> list[float]:
        return [self.score(c.image, c.landmarks68, c.face_width, c.detection_score, bbox=c.bbox).score
                for c in candidates]
