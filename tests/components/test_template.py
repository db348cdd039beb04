"""Template geometry on a real group photo: face numbering, crops, masks, paste-back."""

from __future__ import annotations


import numpy as np
import pytest

from components.landmarks import Dlib68Landmarker
from components.template import (FaceNumberError, below_eye_line, canny_outside, choose_face, crop_square,
                                 face_region_mask, mask_in_template, ordered_faces, paste_back, similarity_matrix,
                                 square_around)
from components.fusion import face_mask



@pytest.fixture(scope="module")
def group(load_rgb) -> np.ndarray:
    return load_rgb("bald_guys.jpg", 1024)  # 23 faces detectable at this size


@pytest.fixture(scope="module")
def group_faces(group, detector):
    return ordered_faces(detector.detect(group))


@pytest.fixture(scope="module")
def landmarker():
    return Dlib68Landmarker()


def test_faces_are_numbered_by_left_edge(group_faces):
    assert len(group_faces) >= 20
    lefts = [f.bbox[0] for f in group_faces]
    assert lefts == sorted(lefts)
    # The detector's own order (largest first) is not the left-to-right order on this photo.
    assert [f.bbox[0] for f in sorted(group_faces, key=lambda f: -f.area)] != lefts


@pytest.mark.parametrize("number", [0, -1, 24, 99, True, "1", 1.0])
def test_face_number_out_of_range_is_refused(group_faces, number):
    with pytest.raises(FaceNumberError, match="face .* is not in the template: it has 23 face"):
        choose_face(group_faces, number)


def test_no_face_is_refused():
    with pytest.raises(FaceNumberError, match="no face found"):
        choose_face([], 1)


def test_square_crop_is_centred_and_padded_at_borders(group, group_faces):
    face = group_faces[0]  # on the photo's left edge: the square extends past it
    w, h = face.bbox[2] - face.bbox[0], face.bbox[3] - face.bbox[1]
    assert square_around(face.bbox, 128).side == pytest.approx(max(w, h) / 0.7)
    crop = square_around(face.bbox, 128, face_ratio=0.4)
    assert crop.left < 0
    image = crop_square(group, crop)
    assert image.shape == (128, 128, 3)
    centre = crop.to_crop(np.array([[(face.bbox[0] + face.bbox[2]) / 2, (face.bbox[1] + face.bbox[3]) / 2]]))
    assert np.allclose(centre, 64, atol=0.5)
    points = np.array([[3.0, 7.0], [100.5, 20.25]])
    assert np.allclose(crop.to_template(crop.to_crop(points)), points)
    # Left of the photo: the border column repeated.
    pad = int(-crop.left * crop.scale) - 1
    assert np.abs(image[:, :pad].astype(int) - image[:, pad:pad + 1]).max() <= 1


def test_face_mask_grows_below_the_eyes_only(group, group_faces, landmarker):
    crop = square_around(group_faces[16].bbox, 256)
    image = crop_square(group, crop)
    lm = landmarker.landmarks68(image, crop.to_crop(group_faces[16].bbox.reshape(2, 2)).reshape(-1))
    hull = face_mask(image.shape[:2], lm) > 0
    mask = face_region_mask(image.shape[:2], lm, dilate=0.0, dilate_below_eyes=0.1) > 0
    below = below_eye_line(image.shape[:2], lm)
    assert (mask >= hull).all()
    assert (mask & ~hull & below).sum() > 500  # grown around the cheeks and chin
    assert not (mask & ~hull & ~below).any()  # not into the forehead and hair
    edges = canny_outside(image, mask.astype(np.uint8) * 255)
    assert edges.shape == image.shape and edges[mask].max() == 0 and edges[~mask].max() == 255


def _fake_results(crops, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (c.size, c.size, 3), dtype=np.uint8) for c in crops]


def test_paste_back_changes_only_the_chosen_faces(group, group_faces, landmarker):
    chosen = [3, 17]  # two persons, pasted one after the other
    crops, masks, originals = [], [], []
    for number in chosen:
        face = group_faces[number - 1]
        crop = square_around(face.bbox, 256)
        image = crop_square(group, crop)
        lm = landmarker.landmarks68(image, crop.to_crop(face.bbox.reshape(2, 2)).reshape(-1))
        crops.append(crop)
        originals.append(image)
        masks.append(face_region_mask(image.shape[:2], lm))
    out = group
    for crop, result, original, mask in zip(crops, _fake_results(crops), originals, masks):
        out = paste_back(out, result, original, crop, mask)
    allowed = np.zeros(group.shape[:2], bool)
    for crop, mask in zip(crops, masks):
        allowed |= mask_in_template(mask, crop, group.shape[:2]) > 0
    diff = np.abs(out.astype(int) - group).max(axis=2)
    assert diff[~allowed].max() <= 2
    assert diff[allowed].mean() > 20  # the faces did change
    for number, face in enumerate(group_faces, start=1):
        if number in chosen:
            continue
        x0, y0, x1, y1 = face.bbox.astype(int)
        region = (slice(max(0, y0), y1), slice(max(0, x0), x1))
        if not allowed[region].any():
            assert np.array_equal(out[region], group[region]), f"face {number} changed"


def test_similarity_maps_landmarks_onto_the_template_face(group_faces):
    source = group_faces[0].landmarks
    angle = np.radians(10)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T * 1.7 + [40.0, -12.0]
    matrix = similarity_matrix(source, target)
    assert np.allclose(source @ matrix[:, :2].T + matrix[:, 2], target, atol=0.05)
