"""Least-squares roll correction and the face-centred crop."""

from __future__ import annotations

import numpy as np
import pytest

from components.alignment import CANONICAL_5, LeastSquaresAligner, roll_angle, rotation_about, apply_affine
from components.crop import FaceCentredCropper
from tests.imagetools import rotate_padded


def test_template_has_zero_roll_and_rotations_are_recovered_exactly():
    assert roll_angle(CANONICAL_5) == pytest.approx(0.0, abs=1e-9)
    for degrees in (-30, -5, 7, 25):
        turned = apply_affine(rotation_about(np.zeros(2), np.radians(-degrees)), CANONICAL_5 * 40 + 300)
        assert np.degrees(roll_angle(turned)) == pytest.approx(degrees, abs=1e-6)


@pytest.fixture(scope="module")
def aligner(detector):
    return LeastSquaresAligner(detector=detector)


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
@pytest.mark.parametrize("degrees", [5, -5, 12, -12, 20, -20, 30, -30])
def test_synthetic_roll_is_recovered_within_2_degrees(detector, aligner, load_rgb, name, degrees):
    image = load_rgb(name)
    baseline = aligner.align(image, detector.detect(image)[0]).roll
    turned = rotate_padded(image, degrees)
    alignment = aligner.align(turned, detector.detect(turned)[0])
    assert alignment.roll == pytest.approx(baseline + degrees, abs=2.0)
    # the face found again in the levelled frame is level
    assert abs(np.degrees(roll_angle(alignment.face.landmarks))) < 2.0


@pytest.mark.parametrize("fraction", [0.35, 0.4, 0.45])
def test_crop_centres_the_face_at_the_asked_fraction(detector, aligner, load_rgb, fraction):
    image = load_rgb("biden.jpg")
    alignment = aligner.align(image, detector.detect(image)[0])
    crop = FaceCentredCropper(size=512, face_fraction=fraction).crop(image, alignment)
    x0, y0, x1, y1 = crop.bbox
    assert crop.image.shape == (512, 512, 3)
    assert (x0 + x1) / 2 == pytest.approx(256, abs=2)
    assert (x1 - x0) / 512 == pytest.approx(fraction, abs=0.01)
    # detecting again in the crop finds the face where the crop says it is
    found = detector.detect(crop.image)[0]
    assert np.abs(found.bbox - crop.bbox).max() < 0.15 * (x1 - x0)


def test_area_outside_the_photo_is_white(detector, aligner, load_rgb):
    image = load_rgb("obama_partial_face.jpg")
    alignment = aligner.align(image, detector.detect(image)[0])
    crop = FaceCentredCropper().crop(image, alignment)
    assert crop.outside_fraction > 0.05
    assert (crop.image[:, -3:] == 255).all() or (crop.image[:, :3] == 255).all()


def test_crop_options_are_validated():
    with pytest.raises(ValueError, match="face_fraction"):
        FaceCentredCropper(face_fraction=0.5)
    with pytest.raises(ValueError, match="multiple of 8"):
        FaceCentredCropper(size=500)
