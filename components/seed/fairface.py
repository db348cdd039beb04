"""tag: FairFace (ResNet-34) gender and age bin -> the paper's Table 1 trigger word."""

from __future__ import annotations

import numpy as np

from components.seed.faces import run_on_face, with_given_face
from components.seed.hub import CONFIGURATION, SeedBackend
from components.tagging import attribute_tags, trigger_word
from components.types import Tags

GENDERS = ("male", "female")  # modelscope's order: ['Male', 'Female']
AGE_BINS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
# A bin's middle stands for its age: every bin falls on one side of Table 1's 20 and 40.
AGE_OF_BIN = {"0-2": 1, "3-9": 6, "10-19": 15, "20-29": 25, "30-39": 35, "40-49": 45, "50-59": 55,
              "60-69": 65, "70+": 75}


class FairFaceTagger(SeedBackend):
    """`damo/cv_resnet34_face-attribute-recognition_fairface` on the given face, plus landmark tags.

    The face is aligned by modelscope's own preprocessing from the five points
    of our 68 landmarks (FaceChain gets them from DamoFD). FaceChain sums the
    scores over a person's photos; here each photo gets a trigger word and the
    task side takes the majority, as for the embedded tagger.
    """

    MODEL_ID = "damo/cv_resnet34_face-attribute-recognition_fairface"
    REVISION = "v2.0.2"
    TASK = "face-attribute-recognition"
    FILES = (CONFIGURATION, "pytorch_model.pt")
    LICENCE = "Apache-2.0 (ModelScope model card); FairFace weights trained on the CC BY 4.0 FairFace data"

    def __init__(self, *, model_id: str | None = None, revision: str | None = None, model_dir: str | None = None,
                 trust_pickle: bool = False, device: str = "gpu") -> None:
        self._pipe = self._load(model_id=model_id, revision=revision, model_dir=model_dir,
                                trust_pickle=trust_pickle, use_det=False, device=device)
        self._given = with_given_face(self._pipe)

    def tag(self, image: np.ndarray, bbox: np.ndarray, landmarks68: np.ndarray) -> Tags:
        result = run_on_face(self._pipe, self._given, image, bbox, landmarks68)
        if result.get("scores") is None:
            raise ValueError("FairFace returned no attributes for the face")
        gender_scores, age_scores = result["scores"]
        gender = GENDERS[int(np.argmax(gender_scores))]
        age_bin = AGE_BINS[int(np.argmax(age_scores))]
        age = AGE_OF_BIN[age_bin]
        tags = [gender, f"age {age_bin}"] + attribute_tags(np.asarray(landmarks68, dtype=np.float64))
        return Tags(gender=gender, age=age, trigger_word=trigger_word(gender, age), tags=tags)
