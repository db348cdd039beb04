"""MeasuredQuality: each measured part reacts to the property it names."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest

from components import registry
from components.protocols import QualityScorer
from components.quality import PARTS, MeasuredQuality, combine
from components.types import Quality
from tests.crops import real_crop


@pytest.fixture(scope="module")
def obama(load_rgb):
    crop = real_crop(load_rgb, "obama.jpg")
    return crop.image, crop.landmarks, crop.face_width, crop.score


def check_ranges(q: Quality) -> None:
    assert set(q.parts) == set(PARTS)
    assert all(0.0 <= v <= 1.0 for v in q.parts.values()), q.parts
    assert 0.0 <= q.score <= 1.0


def test_registry_creates_a_scorer():
    scorer = registry.create("quality", "measured", threshold=0.4)
    assert isinstance(scorer, MeasuredQuality) and isinstance(scorer, QualityScorer)
    assert scorer.threshold == 0.4
    assert MeasuredQuality().threshold == 0.3 and MeasuredQuality().min_face_px == 100.0


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": 1.5},
        {"min_face_px": 0},
        {"min_face_px": 300},  # above good_face_px
        {"sharpness_scale": -1},
        {"weights": {"beauty": 1.0}},
        {"weights": {"sharpness": -1.0}},
        {"weights": {k: 0.0 for k in PARTS}},
    ],
)
def test_bad_options_raise(options):
    with pytest.raises(ValueError):
        MeasuredQuality(**options)


def test_good_photo_scores_high(obama):
    crop, lm, width, det = obama
    scorer = MeasuredQuality()
    scorer.score(crop, lm, width, det)
    start = time.perf_counter()
    q = scorer.score(crop, lm, width, det)
    print(f"score() {1000 * (time.perf_counter() - start):.1f} ms; {q}")
    check_ranges(q)
    assert q.score > 0.8 and q.score >= scorer.threshold
    assert q.parts["frontalness"] > 0.85 and q.parts["sharpness"] > 0.9


def test_blur_lowers_sharpness_and_score(obama):
    crop, lm, width, det = obama
    scorer = MeasuredQuality()
    sharp = scorer.score(crop, lm, width, det)
    blurred = scorer.score(cv2.GaussianBlur(crop, (0, 0), 2.5), lm, width, det)
    check_ranges(blurred)
    assert blurred.parts["sharpness"] < sharp.parts["sharpness"] - 0.3
    assert blurred.score < sharp.score - 0.1
    assert scorer.weakest(blurred.parts) == "sharpness"


def test_smaller_face_lowers_score(obama):
    crop, lm, _, det = obama
    scorer = MeasuredQuality()
    big, medium, tiny = (scorer.score(crop, lm, w, det) for w in (250.0, 140.0, 60.0))
    assert big.parts["face_size"] == 1.0
    assert big.score > medium.score > tiny.score
    assert tiny.parts["face_size"] == 0.0
    assert tiny.score < scorer.threshold  # below min_face_px is a rejection on its own
    assert scorer.weakest(tiny.parts) == "face_size"
    assert "small" in scorer.reason(tiny)


def test_dark_image_lowers_exposure(obama):
    crop, lm, width, det = obama
    scorer = MeasuredQuality()
    normal = scorer.score(crop, lm, width, det)
    dark = scorer.score((crop.astype(np.float32) * 0.2).astype(np.uint8), lm, width, det)
    check_ranges(dark)
    assert normal.parts["exposure"] > 0.9
    assert dark.parts["exposure"] < 0.5
    assert dark.score < normal.score


def test_turned_face_lowers_frontalness(obama):
    crop, lm, width, det = obama
    turned = lm.copy()
    turned[27:36, 0] += 0.2 * (lm[45, 0] - lm[36, 0])  # nose shifted towards one eye
    scorer = MeasuredQuality()
    assert scorer.score(crop, turned, width, det).parts["frontalness"] < (
        scorer.score(crop, lm, width, det).parts["frontalness"] - 0.2
    )


def test_detection_part(obama):
    crop, lm, width, _ = obama
    scorer = MeasuredQuality()
    low, high = scorer.score(crop, lm, width, 0.1), scorer.score(crop, lm, width, 2.0)
    assert low.parts["detection"] < high.parts["detection"]
    assert math.isclose(high.parts["detection"], 1 - math.exp(-2.0))
    for bad in (-1.0, float("nan")):
        assert scorer.score(crop, lm, width, bad).parts["detection"] == 0.0


def test_geometric_mean_formula():
    weights = {k: 1.0 for k in PARTS}
    assert combine({k: 0.5 for k in PARTS}, weights) == pytest.approx(0.5)
    # One bad part drags the score well below the arithmetic mean.
    parts = {k: 1.0 for k in PARTS} | {"sharpness": 0.01}
    assert combine(parts, weights) == pytest.approx(0.01 ** (1 / 5))
    assert combine(parts, weights) < 0.7 < sum(parts.values()) / 5
    # A zero-weight part is ignored.
    assert combine(parts, weights | {"sharpness": 0.0}) == pytest.approx(1.0)


def test_weakest_ignores_unweighted_parts():
    scorer = MeasuredQuality(weights={"detection": 0.0})
    parts = {"sharpness": 0.9, "face_size": 0.8, "frontalness": 0.7, "exposure": 0.95,
             "detection": 0.1}
    assert scorer.weakest(parts) == "frontalness"
    assert MeasuredQuality().weakest(parts) == "detection"


def test_bad_inputs_raise(obama):
    crop, lm, width, det = obama
    scorer = MeasuredQuality()
    with pytest.raises(ValueError):
        scorer.score(crop[..., 0], lm, width, det)
    with pytest.raises(ValueError):
        scorer.score(crop, lm[:5], width, det)
