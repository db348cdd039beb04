"""One template face replaced on the tiny model: prepare -> generate in pose -> replace -> paste back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.diffusion.controlled import LoraIdentity, generate_in_pose, inpaint_pipeline, pose_pipeline
from components.diffusion.controlnet import load_controlnet
from components.landmarks import Dlib68Landmarker
from components.pose import MediaPipePoseEstimator
from components.template import mask_in_template, ordered_faces, paste_back
from components.template_crop import prepare_face
from components.template_face import InpaintSettings, replace_face
from components.types import Rejected
from tests.diffusion.conftest import request

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 128
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture(scope="module")
def group(load_rgb):
    return load_rgb("bald_guys.jpg", 1024)  # 23 faces detectable at this size


@pytest.fixture(scope="module")
def prepared(group, detector):
    faces = ordered_faces(detector.detect(group))
    return prepare_face(group, faces, 17, size=SIZE, landmarker=Dlib68Landmarker(),
                        pose_estimator=MediaPipePoseEstimator())


@pytest.fixture(scope="module")
def pipelines(tiny_pipeline):
    openpose = load_controlnet("tiny", unet=tiny_pipeline.unet, seed=1)
    canny = load_controlnet("tiny", unet=tiny_pipeline.unet, seed=2)
    return pose_pipeline(tiny_pipeline, openpose), inpaint_pipeline(tiny_pipeline, [openpose, canny])


def _generated_face() -> np.ndarray:
    """Stands in for a fused generation (the tiny model draws no faces): a real face photo."""
    with Image.open(SAMPLES / "obama.jpg") as im:
        im = im.convert("RGB")
        im.thumbnail((SIZE * 2, SIZE * 2))
        return np.asarray(im).copy()


def _request(**changes):
    return request(**({"seeds": [9], "steps": 4, "width": SIZE, "height": SIZE, "batch_size": 1} | changes))


def test_prepared_face_has_pose_and_controls(prepared):
    assert prepared.image.shape == (SIZE, SIZE, 3) and prepared.mask.shape == (SIZE, SIZE)
    assert prepared.mask[SIZE // 2, SIZE // 2] == 255  # the face centre is in the mask
    assert (prepared.pose_map == 255).all(axis=2).sum() > 30  # the 68 face points, white
    assert prepared.canny[prepared.mask > 0].max() == 0


def test_generation_in_the_crop_pose(pipelines, prepared):
    images = generate_in_pose(LoraIdentity(None), pipelines[0], _request(seeds=[1, 2]), prepared.pose_map, 1.0)
    assert len(images) == 2 and images[0].shape == (SIZE, SIZE, 3)


def test_replaced_face_is_pasted_inside_the_mask_only(group, prepared, pipelines, detector):
    settings = InpaintSettings(strength=0.5, refine_strength=0.5)
    replaced = replace_face(prepared, _generated_face(), detector=detector, landmarker=Dlib68Landmarker(),
                            identity=LoraIdentity(None), pipeline=pipelines[1], request=_request(), settings=settings)
    out = paste_back(group, replaced.image, prepared.image, prepared.crop, replaced.mask)
    allowed = mask_in_template(replaced.mask, prepared.crop, group.shape[:2]) > 0
    diff = np.abs(out.astype(int) - group).max(axis=2)
    assert diff[~allowed].max() <= 2
    assert diff[allowed].mean() > 5


def test_strength_zero_leaves_the_template_unchanged_inside_the_mask_too(group, prepared, pipelines, detector):
    settings = InpaintSettings(strength=0.0, refine_strength=0.0)
    replaced = replace_face(prepared, _generated_face(), detector=detector, landmarker=Dlib68Landmarker(),
                            identity=LoraIdentity(None), pipeline=pipelines[1], request=_request(), settings=settings)
    assert np.array_equal(replaced.image, prepared.image)
    out = paste_back(group, replaced.image, prepared.image, prepared.crop, replaced.mask)
    assert np.abs(out.astype(int) - group).max() <= 2


def test_generated_image_without_a_face_is_rejected(prepared, pipelines, detector):
    blank = np.full((SIZE, SIZE, 3), 120, np.uint8)
    with pytest.raises(Rejected, match="no face detected in the generated image"):
        replace_face(prepared, blank, detector=detector, landmarker=Dlib68Landmarker(), identity=LoraIdentity(None),
                     pipeline=pipelines[1], request=_request(), settings=InpaintSettings())
