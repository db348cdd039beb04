"""ControlNets on the tiny model: test-model build, offline lookup, pose and inpainting pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.diffusion.controlled import LoraIdentity, generate_in_pose, inpaint, inpaint_pipeline, pose_pipeline
from components.diffusion.controlnet import (DEFAULT_CANNY, DEFAULT_OPENPOSE, ControlNetNotFound, check_controlnet,
                                             load_controlnet)
from components.diffusion.generate import PeftGenerator
from tests.diffusion.conftest import request

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64


@pytest.fixture(scope="module")
def controlnets(tiny_pipeline):
    return load_controlnet("tiny", unet=tiny_pipeline.unet, seed=1), load_controlnet("tiny", unet=tiny_pipeline.unet,
                                                                                       seed=2)


def _request(**changes):
    return request(**({"seeds": [3], "steps": 3, "width": SIZE, "height": SIZE, "batch_size": 1} | changes))


def _control(seed=0):
    """A control map with structure where the seed says (like a skeleton's limbs on black)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    for _ in range(3):
        x, y = rng.integers(0, SIZE - 16, 2)
        image[y:y + 16, x:x + 16] = rng.integers(64, 256, 3)
    return image


def test_tiny_controlnet_is_a_seeded_test_model(tiny_pipeline, controlnets):
    again = load_controlnet("tiny", unet=tiny_pipeline.unet, seed=1)
    first = dict(controlnets[0].named_parameters())
    assert all(torch.equal(p, first[name]) for name, p in again.named_parameters())
    assert not torch.equal(controlnets[0].controlnet_mid_block.weight, controlnets[1].controlnet_mid_block.weight)
    assert controlnets[0].is_test_model
    with pytest.raises(ValueError, match="pass unet"):
        load_controlnet("tiny")


def test_pose_conditioning_changes_the_image_and_scale_zero_is_no_controlnet(tiny_pipeline, controlnets):
    pipeline = pose_pipeline(tiny_pipeline, controlnets[0])
    assert pipeline.unet is tiny_pipeline.unet  # shared, not copied
    plain = PeftGenerator(tiny_pipeline).generate(_request(), None, None)[0]
    identity = LoraIdentity(None)
    off = generate_in_pose(identity, pipeline, _request(), _control(), 0.0)[0]
    on = generate_in_pose(identity, pipeline, _request(), _control(), 1.0)[0]
    other_pose = generate_in_pose(identity, pipeline, _request(), _control(1), 1.0)[0]
    assert np.abs(off.astype(int) - plain).max() <= 1
    assert np.abs(on.astype(int) - plain).mean() > 2
    assert np.abs(on.astype(int) - other_pose).mean() > 1


def test_pose_generation_carries_the_face_lora(tiny_pipeline, controlnets, trained):
    pipeline = pose_pipeline(tiny_pipeline, controlnets[0])
    without = generate_in_pose(LoraIdentity(None), pipeline, _request(), _control(), 1.0)[0]
    with_face = generate_in_pose(LoraIdentity(trained[0].state_dict), pipeline, _request(), _control(), 1.0)[0]
    assert not np.array_equal(without, with_face)
    assert tiny_pipeline.get_list_adapters() == {}


def test_inpainting_repaints_inside_the_mask_and_strength_zero_changes_nothing(tiny_pipeline, controlnets):
    pipeline = inpaint_pipeline(tiny_pipeline, list(controlnets))
    image = _control(5)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, 16:48] = 255
    controls, scales = [_control(6), _control(7)], [1.0, 0.2]
    unchanged = inpaint(LoraIdentity(None), pipeline, _request(), image, mask, controls, scales, 0.0)[0]
    assert np.array_equal(unchanged, image)
    painted = inpaint(LoraIdentity(None), pipeline, _request(), image, mask, controls, scales, 0.6)[0]
    assert np.abs(painted.astype(int) - image)[mask > 0].mean() > 10
    steered = inpaint(LoraIdentity(None), pipeline, _request(), image, mask, controls, [0.0, 0.0], 0.6)[0]
    assert not np.array_equal(painted, steered)
    with pytest.raises(ValueError, match="2 control images for 1 scales"):
        inpaint(LoraIdentity(None), pipeline, _request(), image, mask, controls, [1.0], 0.6)


@pytest.mark.parametrize("spec", [DEFAULT_OPENPOSE, DEFAULT_CANNY])
def test_missing_controlnet_is_refused_naming_it_and_how_to_get_it(spec, tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ControlNetNotFound, match=f"(?s)ControlNet '{spec}'.*huggingface-cli download {spec}"):
        check_controlnet(spec)


def test_controlnet_paths_are_checked(tmp_path):
    with pytest.raises(ControlNetNotFound, match="no such file or folder"):
        check_controlnet(str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match="no config.json"):
        check_controlnet(str(tmp_path))
    (tmp_path / "cn.ckpt").write_bytes(b"x")
    with pytest.raises(ValueError, match="pickle"):
        check_controlnet(str(tmp_path / "cn.ckpt"))


def test_controlnet_folder_round_trip(tiny_pipeline, controlnets, tmp_path):
    controlnets[0].save_pretrained(tmp_path / "cn", safe_serialization=True)
    loaded = load_controlnet(str(tmp_path / "cn"))
    assert loaded.is_test_model is False
    assert torch.equal(loaded.controlnet_mid_block.weight, controlnets[0].controlnet_mid_block.weight)
