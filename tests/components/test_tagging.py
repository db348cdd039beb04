"""Trigger words (paper Table 1), majority rule, attribute tags, gender on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from components.embedding import SAME_PERSON_DISTANCE
from components.tagging import attribute_tags, majority_trigger_word, trigger_word


@pytest.mark.parametrize("gender, age, word", [
    ("male", 8, "a boy"), ("female", 19, "a girl"),
    ("male", 20, "a handsome man"), ("female", 40, "a beautiful woman"),
    ("male", 41, "a mature man"), ("female", 70, "a mature woman"),
])
def test_trigger_word_table(gender, age, word):
    assert trigger_word(gender, age) == word


def test_majority_over_photos():
    assert majority_trigger_word(["a mature man", "a handsome man", "a mature man"]) == "a mature man"
    assert majority_trigger_word(["a handsome man", "a mature man"]) == "a handsome man"  # tie: first seen


def _frontal_landmarks() -> np.ndarray:
    """A symmetric synthetic 68-point face: open eyes, closed neutral mouth."""
    lm = np.zeros((68, 2))
    lm[0:17] = np.column_stack([np.linspace(100, 300, 17), 200 + 80 * np.sin(np.linspace(0, np.pi, 17))])
    lm[30] = (200, 230)
    for start, cx in ((36, 150), (42, 250)):
        lm[start:start + 6] = [(cx - 20, 180), (cx - 8, 172), (cx + 8, 172), (cx + 20, 180), (cx + 8, 188), (cx - 8, 188)]
    lm[48], lm[54] = (170, 270), (230, 270)
    lm[62], lm[66] = (200, 268), (200, 272)
    return lm


def test_attribute_tags_follow_the_geometry():
    lm = _frontal_landmarks()
    assert attribute_tags(lm) == ["facing the camera"]
    closed = lm.copy()
    for start in (36, 42):
        closed[start + 1:start + 3, 1] = 179
        closed[start + 4:start + 6, 1] = 181
    assert "eyes closed" in attribute_tags(closed)
    turned = lm.copy()
    turned[30, 0] = 250
    assert "head turned left" in attribute_tags(turned)
    smiling = lm.copy()
    smiling[48, 0], smiling[54, 0] = 140, 260
    smiling[66, 1] = 300
    assert {"smiling", "mouth open"} <= set(attribute_tags(smiling))


def test_gender_and_trigger_on_real_crops(detector, load_rgb):
    from components.tagging import AgeGenderTagger
    from components.landmarks import Dlib68Landmarker

    tagger, landmarker = AgeGenderTagger(), Dlib68Landmarker()
    for name in ("obama.jpg", "biden.jpg"):
        image = load_rgb(name)
        face = detector.detect(image)[0]
        tags = tagger.tag(image, face.bbox, landmarker.landmarks68(image, face.bbox))
        assert tags.gender == "male"
        assert tags.trigger_word.endswith("man")
        assert tags.trigger_word == trigger_word(tags.gender, tags.age)


def test_same_person_embeddings_are_closer(detector, embedder, load_rgb):
    vectors = {}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        image = load_rgb(name)
        vectors[name] = embedder.embed(image, detector.detect(image)[0].bbox)
    same = [np.linalg.norm(vectors[a] - vectors[b]) for a, b in
            (("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "obama3.jpg"))]
    other = [np.linalg.norm(vectors[o] - vectors["biden.jpg"]) for o in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    assert max(same) < SAME_PERSON_DISTANCE <= min(other)
