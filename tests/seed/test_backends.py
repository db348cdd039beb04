"""Each seed backend loaded through modelscope from a random-weight folder, run on real photos.

Random weights say nothing about accuracy: these tests check that the real
architecture loads through FaceChain's call, runs on our faces, and that its
output maps onto our records with the right shapes, ranges and types.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from components import registry
from components.protocols import Orienter, QualityScorer, Ranker, Segmenter, Tagger
from components.orientation import rotate
from components.tagging import trigger_word
from components.types import Orientation, Quality, Rejected, Tags


def test_fairface_tags_real_faces_with_a_table_1_trigger_word(seed_model, face_photos):
    from components.seed.fairface import AGE_BINS, AGE_OF_BIN

    tagger = registry.create("tag", "fairface", model_dir=str(seed_model("fairface")))
    assert isinstance(tagger, Tagger)
    for photo in face_photos.values():
        tags = tagger.tag(photo.image, photo.bbox, photo.landmarks68)
        assert isinstance(tags, Tags)
        assert tags.gender in ("male", "female")
        assert tags.age in AGE_OF_BIN.values()
        assert tags.trigger_word == trigger_word(tags.gender, tags.age)
        assert tags.tags[0] == tags.gender and tags.tags[1] in {f"age {b}" for b in AGE_BINS}


def test_fairface_age_bins_fall_on_one_side_of_table_1_boundaries():
    from components.seed.fairface import AGE_OF_BIN

    words = {b: trigger_word("female", a) for b, a in AGE_OF_BIN.items()}
    assert [words[b] for b in ("0-2", "3-9", "10-19")] == ["a girl"] * 3
    assert [words[b] for b in ("20-29", "30-39")] == ["a beautiful woman"] * 2
    assert {words[b] for b in ("40-49", "50-59", "60-69", "70+")} == {"a mature woman"}


def test_flcm_scores_the_given_face_box_in_unit_range_with_facechain_threshold(seed_model, face_photos):
    scorer = registry.create("quality", "flcm", model_dir=str(seed_model("flcm")))
    assert isinstance(scorer, QualityScorer)
    assert scorer.threshold == 0.855
    photo = face_photos["obama.jpg"]
    quality = scorer.score(photo.image, photo.landmarks68, photo.width, photo.score, bbox=photo.bbox)
    assert isinstance(quality, Quality)
    assert 0.0 <= quality.score <= 1.0 and quality.parts == {"landmark_confidence": quality.score}
    assert scorer.weakest(quality.parts) == "landmark_confidence"
    assert "0.855" in scorer.reason(quality)
    with pytest.raises(ValueError, match="bbox"):
        scorer.score(photo.image, photo.landmarks68, photo.width, photo.score)


def test_fqa_wiring_with_standin_onnx_scores_each_face(seed_model, face_photos):
    """The real FQA graph is a hub-only ONNX file: a stand-in with its inputs and outputs."""
    scorer = registry.create("quality", "fqa", model_dir=str(seed_model("fqa")))
    assert isinstance(scorer, QualityScorer)
    scores = []
    for photo in face_photos.values():
        quality = scorer.score(photo.image, photo.landmarks68, photo.width, photo.score, bbox=photo.bbox)
        assert 0.0 <= quality.score <= 1.0 and set(quality.parts) == {"face_quality"}
        scores.append(quality.score)
    assert len(set(np.round(scores, 6))) == len(scores), "different faces must reach the model"


def test_rot_bgr_wiring_with_standin_onnx(seed_model, face_photos):
    """The real rot_bgr graph is a hub-only ONNX file: a stand-in with its inputs and outputs."""
    orienter = registry.create("orient", "rot-bgr", model_dir=str(seed_model("rot_bgr")))
    assert isinstance(orienter, Orienter)
    result = orienter.orient(face_photos["obama.jpg"].image)
    assert isinstance(result, Orientation)
    assert set(result.scores) == {0, 90, 180, 270}
    assert math.isclose(sum(result.scores.values()), 1.0, rel_tol=1e-6)
    assert result.rotation == max(result.scores, key=result.scores.get)


@pytest.mark.parametrize("cls", [1, 2, 3])
def test_rot_bgr_class_maps_to_the_rotation_facechain_applies(cls, face_photos):
    """FaceChain turns class 1 with transpose+flip(1), 2 with flip(-1), 3 with transpose+flip(0)."""
    from components.seed.rot_bgr import ROTATION_OF_CLASS

    image = face_photos["obama.jpg"].image
    facechain_fix = {1: lambda im: np.flip(cv2.transpose(im), 1), 2: lambda im: cv2.flip(im, -1),
                     3: lambda im: np.flip(cv2.transpose(im), 0)}[cls]
    assert np.array_equal(rotate(image, ROTATION_OF_CLASS[cls]), facechain_fix(image))


def test_rts_ranks_real_photos_by_its_own_512d_embeddings(seed_model, face_photos, detector, landmarker, load_rgb):
    ranker = registry.create("rank", "rts", detector=detector, landmarker=landmarker, model_dir=str(seed_model("rts")),
                             template_weight=1.0)
    assert isinstance(ranker, Ranker)
    obama = face_photos["obama.jpg"].image
    embedding, ood = ranker.embed_face(obama, detector.detect(obama)[0])
    assert embedding.shape == (512,) and embedding.dtype == np.float32
    assert math.isclose(float(np.linalg.norm(embedding)), 1.0, rel_tol=1e-4)
    assert math.isfinite(ood) and ood > 0  # exp of the model's log-variance head
    dogs = load_rgb("dogs.jpg", max_side=640)
    scores = ranker.score([obama, face_photos["biden.jpg"].image, dogs], np.zeros(128), np.zeros((0, 128)),
                          template_image=obama)
    assert math.isclose(scores[0].score, 1.0, abs_tol=1e-5)  # the template's own face
    assert -1.0 <= scores[1].score <= 1.0 and scores[1].faces == 1 and scores[1].reason == ""
    assert math.isnan(scores[2].score) and scores[2].reason == "no face detected"
    with pytest.raises(ValueError, match="template_image"):
        ranker.score([obama], np.zeros(128), np.zeros((0, 128)))


def test_rts_ood_filter_drops_faces_under_the_threshold(seed_model, face_photos, detector, landmarker):
    ranker = registry.create("rank", "rts", detector=detector, landmarker=landmarker, model_dir=str(seed_model("rts")),
                             min_ood_score=1e9)
    obama = face_photos["obama.jpg"].image
    [score] = ranker.score([obama], np.zeros(128), np.zeros((0, 128)), template_image=obama)
    assert math.isnan(score.score) and score.reason.startswith("RTS OOD score")


@pytest.mark.slow
def test_m2fp_head_mask_on_a_real_crop_background_white(seed_model, face_photos):
    segmenter = registry.create("segment", "m2fp", model_dir=str(seed_model("m2fp")), min_score=0.1)
    assert isinstance(segmenter, Segmenter)
    photo = face_photos["obama.jpg"]
    x0, y0, x1, y1 = photo.bbox
    side = int(2.5 * max(x1 - x0, y1 - y0))
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    crop = photo.image[max(0, cy - side // 2):cy + side // 2, max(0, cx - side // 2):cx + side // 2]
    crop = cv2.resize(np.ascontiguousarray(crop), (512, 512))
    result = segmenter.segment(crop, np.zeros((68, 2)))
    assert result.mask.shape == (512, 512) and result.mask.dtype == np.uint8
    assert set(np.unique(result.mask)) <= {0, 255} and (result.mask == 255).any()
    assert result.image.shape == crop.shape and result.image.dtype == np.uint8
    assert (result.image[result.mask == 0] == 255).all()
    assert np.array_equal(result.image[result.mask == 255], crop[result.mask == 255])


def _instance(size, box):
    mask = np.zeros((size, size), np.float64)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1.0
    return mask


def test_m2fp_head_rule_face_plus_hair_inside_the_person():
    from components.seed.m2fp import head_mask

    face, hair, human = _instance(100, (40, 40, 60, 70)), _instance(100, (35, 25, 65, 45)), _instance(100, (20, 20, 80, 100))
    mask = head_mask([face, hair, human, _instance(100, (0, 0, 10, 10))], ["Face", "Hair", "Human", "Hat"],
                     [0.9, 0.9, 0.95, 0.99], 0.8)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    head = mask == 255
    assert head[face > 0].all() and head[hair > 0].all()  # both parts kept
    assert not head[:20].any() and not head[:, :20].any()  # clipped to the person, the hat ignored


def test_m2fp_head_rule_keeps_facechain_score_threshold():
    from components.seed.m2fp import FACECHAIN_MIN_SCORE, head_mask

    face, human = _instance(50, (10, 10, 30, 30)), _instance(50, (0, 0, 50, 50))
    assert FACECHAIN_MIN_SCORE == 0.8
    with pytest.raises(Rejected, match="no face"):
        head_mask([face, human], ["Face", "Human"], [0.7, 0.9], FACECHAIN_MIN_SCORE)
    with pytest.raises(Rejected, match="no person"):
        head_mask([face], ["Face"], [0.9], FACECHAIN_MIN_SCORE)
