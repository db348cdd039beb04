"""GrabCutHeadSegmenter: follows the real head outline, not the landmark prior."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from components import registry
from components.protocols import Segmenter
from components.segmentation import GrabCutHeadSegmenter, landmark_prior
from components.types import Segmentation
from tests.crops import real_crop

# ---------------------------------------------------------------- helpers


def synthetic_landmarks(cx: float, eye_y: float, fw: float) -> np.ndarray:
    """A plausible frontal 68-point layout (iBUG order) with jaw width `fw`."""
    pts = []
    for i in range(17):  # jaw: half ellipse from left ear level down to the chin
        t = np.pi - i * np.pi / 16
        pts.append((cx + 0.5 * fw * np.cos(t), eye_y + 0.86 * fw * np.sin(t)))
    for side in (-1, 1):  # brows, outer->inner on the left, inner->outer on the right
        xs = np.linspace(-0.4, -0.08, 5) if side < 0 else np.linspace(0.08, 0.4, 5)
        pts += [(cx + x * fw, eye_y - (0.13 + 0.04 * np.cos(x * 4)) * fw) for x in xs]
    pts += [(cx, eye_y + y * fw) for y in np.linspace(0.02, 0.24, 4)]  # nose bridge
    pts += [(cx + x * fw, eye_y + 0.3 * fw) for x in np.linspace(-0.1, 0.1, 5)]  # nostrils
    for ex in (-0.2, 0.2):  # eyes, 6 points each
        for t in np.linspace(np.pi, -np.pi, 6, endpoint=False):
            pts.append((cx + (ex + 0.09 * np.cos(t)) * fw, eye_y - 0.03 * fw * np.sin(t)))
    for n, (ax, ay) in ((12, (0.2, 0.07)), (8, (0.13, 0.03))):  # outer and inner lips
        for t in np.linspace(np.pi, -np.pi, n, endpoint=False):
            pts.append((cx + ax * fw * np.cos(t), eye_y + 0.5 * fw - ay * fw * np.sin(t)))
    return np.array(pts, dtype=np.float64)


def synthetic_head(seed: int = 0):
    """Skin face + big one-sided dark hair blob on green; returns image, truth, landmarks."""
    s, cx, eye_y, fw = 512, 256.0, 220.0, 200.0
    face = np.zeros((s, s), np.uint8)
    cv2.ellipse(face, (256, 262), (110, 142), 0, 0, 360, 1, -1)
    hair = np.zeros((s, s), np.uint8)
    cv2.ellipse(hair, (256, 190), (122, 108), 0, 0, 360, 1, -1)  # cap over the top
    cv2.ellipse(hair, (345, 255), (62, 125), -15, 0, 360, 1, -1)  # long lobe on one side
    lobe = np.array([[300, 300], [395, 300], [360, 375], [315, 360]], np.int32)
    cv2.fillConvexPoly(hair, lobe, 1)
    hair[face > 0] = 0
    rng = np.random.default_rng(seed)
    image = np.empty((s, s, 3), np.float32)
    image[:] = (40, 120, 70)
    image[hair > 0] = (70, 45, 30)
    image[face > 0] = (225, 180, 150)
    image += rng.normal(0, 6, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    truth = (face | hair).astype(bool)
    return image, truth, synthetic_landmarks(cx, eye_y, fw)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def hull_mask(shape, points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask.astype(bool)


# ---------------------------------------------------------------- tests


def test_registry_creates_a_segmenter():
    seg = registry.create("segment", "grabcut", work_size=128)
    assert isinstance(seg, GrabCutHeadSegmenter)
    assert isinstance(seg, Segmenter)


@pytest.mark.parametrize(
    "options", [{"work_size": 16}, {"work_size": 160.5}, {"iterations": 0}, {"feather": -1}]
)
def test_bad_options_raise(options):
    with pytest.raises(ValueError):
        GrabCutHeadSegmenter(**options)


def test_bad_inputs_raise():
    seg = GrabCutHeadSegmenter()
    with pytest.raises(ValueError):
        seg.segment(np.zeros((64, 64), np.uint8), np.zeros((68, 2)))
    with pytest.raises(ValueError):
        seg.segment(np.zeros((64, 64, 3), np.uint8), np.zeros((5, 2)))


def test_synthetic_head_follows_the_real_outline():
    image, truth, lm = synthetic_head()
    result = GrabCutHeadSegmenter(feather=0).segment(image, lm)
    assert isinstance(result, Segmentation)
    assert result.mask.shape == truth.shape and result.mask.dtype == np.uint8
    assert set(np.unique(result.mask)) <= {0, 255}
    got = result.mask > 0
    prior = landmark_prior(image, lm)
    prior_head = np.isin(prior, (cv2.GC_FGD, cv2.GC_PR_FGD))
    got_iou, prior_iou = iou(got, truth), iou(prior_head, truth)
    print(f"synthetic IoU {got_iou:.3f} (landmark prior alone {prior_iou:.3f})")
    assert got_iou >= 0.85
    assert got_iou >= prior_iou + 0.1
    # The hair lobe beyond the prior's "probably head" ellipse was found by colour.
    lobe_tip = truth & ~prior_head
    assert lobe_tip.sum() > 500 and got[lobe_tip].mean() > 0.8


def test_background_is_white_and_head_untouched():
    image, _, lm = synthetic_head(seed=1)
    result = GrabCutHeadSegmenter().segment(image, lm)
    assert (result.image[result.mask == 0] == 255).all()
    inside = result.mask == 255
    assert np.array_equal(result.image[inside], image[inside])


@pytest.mark.parametrize("name", ["obama.jpg", "obama_partial_face.jpg"])
def test_real_crop_follows_head_and_skips_padding(load_rgb, name):
    real = real_crop(load_rgb, name)
    crop, lm, outside = real.image, real.landmarks, real.outside
    seg = GrabCutHeadSegmenter(feather=0)
    seg.segment(crop, lm)  # warm-up
    start = time.perf_counter()
    result = seg.segment(crop, lm)
    print(f"segment() {1000 * (time.perf_counter() - start):.1f} ms on a 512 crop of {name}")
    head = result.mask > 0

    # Whole landmark hull, except where it reaches past the photo edge.
    assert head[hull_mask(head.shape, lm[:27]) & ~outside].all()
    assert not head[outside].any()
    # Hair: 0.35..0.5 face widths above the brows is head, 0.85..1.0 is room above it.
    fw = float(np.linalg.norm(lm[16] - lm[0]))
    brow, cx = lm[17:27, 1].min(), lm[27:31, 0].mean()
    cols = slice(int(cx - 0.15 * fw), int(cx + 0.15 * fw))
    assert head[int(brow - 0.5 * fw) : int(brow - 0.35 * fw), cols].mean() > 0.95
    assert head[max(0, int(brow - 1.0 * fw)) : int(brow - 0.85 * fw), cols].mean() < 0.05
    # One piece, and not the landmark prior's ellipse.
    assert cv2.connectedComponents(head.astype(np.uint8))[0] == 2
    prior_head = np.isin(landmark_prior(crop, lm), (cv2.GC_FGD, cv2.GC_PR_FGD))
    assert iou(head, prior_head) < 0.9
