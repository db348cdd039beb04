"""The face adapter through diffusers' own (ControlNet) pipelines: same images as AdapterGenerator's loop."""

from __future__ import annotations

import numpy as np
import pytest

from components.adapters.infer import AdapterGenerator
from components.diffusion.controlled import AdapterIdentity, generate_in_pose, pose_pipeline
from components.diffusion.controlnet import load_controlnet
from components.types import GenerationRequest
from tests.adapters.conftest import hook_count

SEEDS, STEPS, SIZE, S = [5, 6], 2, 32, 4.0


def _request() -> GenerationRequest:
    return GenerationRequest(prompt="a photo of a person", negative_prompt="", seeds=SEEDS, steps=STEPS,
                             guidance=7.0, width=SIZE, height=SIZE, sampler="ddim", face_weight=1.0,
                             style_weight=1.0, batch_size=2)


@pytest.mark.parametrize("kind", ["fact", "feedface"])
def test_adapter_identity_equals_the_adapter_generator(tiny_pipeline, examples, trained, kind):
    generator = AdapterGenerator(tiny_pipeline, trained(kind)[0])
    faces = np.stack([e.embedding for e in examples if e.identity == "person0"])
    hooks = hook_count(tiny_pipeline.unet)
    reference = generator.generate("a photo of a person", "", faces, seeds=SEEDS, steps=STEPS, face_guidance=S,
                                   scale=1.0, width=SIZE, height=SIZE)
    identity = AdapterIdentity(generator, faces, scale=1.0, face_guidance=S)
    images = identity.generate(tiny_pipeline, _request())
    assert hook_count(tiny_pipeline.unet) == hooks
    for a, b in zip(reference, images):
        assert np.abs(a.astype(int) - b).max() <= 2
    # In a pose pipeline the adapter still acts: scale 0 (no face) differs from scale 1.
    pipeline = pose_pipeline(tiny_pipeline, load_controlnet("tiny", unet=tiny_pipeline.unet, seed=1))
    pose = np.zeros((SIZE, SIZE, 3), np.uint8)
    pose[8:24, 12:20] = 255
    with_face = generate_in_pose(identity, pipeline, _request(), pose, 1.0)
    no_face = generate_in_pose(AdapterIdentity(generator, faces, scale=0.0, face_guidance=S), pipeline,
                               _request(), pose, 1.0)
    assert any(not np.array_equal(a, b) for a, b in zip(with_face, no_face))
    assert hook_count(tiny_pipeline.unet) == hooks
