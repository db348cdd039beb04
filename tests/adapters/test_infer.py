import numpy as np
import pytest
import torch

from components.adapters.infer import AdapterGenerator
from components.adapters.types import AdapterWeights
from components.adapters.weights import build_modules, export_state
from tests.adapters.conftest import hook_count

GEN = dict(prompt="a photo of a person", negative="", seeds=[5, 6], steps=2, face_guidance=4.0, width=32, height=32)


def _faces(examples, identity="person0"):
    return np.stack([e.embedding for e in examples if e.identity == identity])


@pytest.mark.parametrize("kind", ["fact", "feedface"])
def test_trained_adapter_changes_the_image_only_at_nonzero_scale(tiny_pipeline, examples, trained, kind):
    weights = trained(kind)[0]
    hooks = hook_count(tiny_pipeline.unet)
    generator = AdapterGenerator(tiny_pipeline, weights)
    faces = _faces(examples)
    with_face = generator.generate(**GEN, face_embeddings=faces, scale=1.0)
    assert len(with_face) == 2 and with_face[0].shape == (32, 32, 3) and with_face[0].dtype == np.uint8
    assert hook_count(tiny_pipeline.unet) == hooks  # detached afterwards
    off = generator.generate(**GEN, face_embeddings=faces, scale=0.0)
    assert any(not np.array_equal(a, b) for a, b in zip(with_face, off))
    # At scale 0 the trained adapter is the untrained one (zero-initialised outputs): same images.
    projection, adapter = build_modules(tiny_pipeline.unet, weights.config)
    fresh = AdapterWeights(kind, export_state(projection, adapter), weights.config)
    untrained = AdapterGenerator(tiny_pipeline, fresh).generate(**GEN, face_embeddings=faces, scale=1.0)
    assert all(np.array_equal(a, b) for a, b in zip(off, untrained))
    # ... and that is ordinary text CFG with guidance 1 + s: the plain pipeline's images.
    plain = tiny_pipeline(
        GEN["prompt"],
        num_inference_steps=2,
        guidance_scale=1.0 + GEN["face_guidance"],
        width=32,
        height=32,
        num_images_per_prompt=2,
        generator=[torch.Generator().manual_seed(s) for s in GEN["seeds"]],
        output_type="np",
    ).images
    for a, b in zip(off, plain):
        assert np.abs(a.astype(int) - (np.clip(b, 0, 1) * 255).round().astype(int)).max() <= 1


def test_several_photos_give_concatenated_tokens_and_other_faces_other_images(tiny_pipeline, examples, trained):
    weights = trained("fact")[0]
    generator = AdapterGenerator(tiny_pipeline, weights)
    faces = _faces(examples)
    cond, uncond = generator.face_tokens(faces)
    tokens = weights.config["tokens"]
    assert cond.shape == uncond.shape == (1, len(faces) * tokens, weights.config["face_dim"])
    single, _ = generator.face_tokens(faces[1:2])
    assert torch.allclose(cond[:, tokens : 2 * tokens], single)
    a = generator.generate(**GEN, face_embeddings=faces, scale=1.0)
    b = generator.generate(**GEN, face_embeddings=_faces(examples, "person1"), scale=1.0)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))
    again = generator.generate(**GEN, face_embeddings=faces, scale=1.0)
    assert all(np.array_equal(x, y) for x, y in zip(a, again))  # seeded


def test_separate_text_guidance_uses_a_third_branch(tiny_pipeline, examples, trained):
    generator = AdapterGenerator(tiny_pipeline, trained("fact")[0])
    faces = _faces(examples)
    joint = generator.generate(**GEN, face_embeddings=faces, scale=1.0)  # guidance_text None = 1 + s
    same = generator.generate(**GEN, face_embeddings=faces, scale=1.0, guidance_text=5.0)
    other = generator.generate(**GEN, face_embeddings=faces, scale=1.0, guidance_text=2.0)
    assert all(np.array_equal(x, y) for x, y in zip(joint, same))
    assert any(not np.array_equal(x, y) for x, y in zip(joint, other))


def test_generation_argument_errors(tiny_pipeline, examples, trained):
    weights = trained("fact")[0]
    generator = AdapterGenerator(tiny_pipeline, weights)
    faces = _faces(examples)
    for bad in (dict(width=30), dict(steps=0), dict(seeds=[])):
        with pytest.raises(ValueError):
            generator.generate(**(GEN | bad), face_embeddings=faces)
    with pytest.raises(ValueError):
        generator.generate(**GEN, face_embeddings=np.zeros((2, 64)))
    with pytest.raises(ValueError):
        AdapterGenerator(tiny_pipeline, AdapterWeights("feedface", weights.state_dict, weights.config))
