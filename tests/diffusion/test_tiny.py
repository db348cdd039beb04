import numpy as np
import torch

from components.diffusion.test_models import TEST_MODEL_LABEL
from components.diffusion.tiny import build_tiny_pipeline
from tests.diffusion.conftest import render


def test_same_seed_same_images_different_seed_different(tiny_pipeline):
    rng_state = torch.get_rng_state()
    again = build_tiny_pipeline(seed=0)
    other = build_tiny_pipeline(seed=1)
    assert torch.equal(torch.get_rng_state(), rng_state)  # global RNG untouched
    image = render(tiny_pipeline)
    assert image.shape == (32, 32, 3)
    assert np.array_equal(image, render(again))
    assert not np.array_equal(image, render(other))
    assert not np.array_equal(image, render(tiny_pipeline, seed=4))


def test_is_marked_as_test_model(tiny_pipeline):
    assert tiny_pipeline.is_test_model is True
    assert "not a real portrait model" in TEST_MODEL_LABEL


def test_any_unicode_prompt_tokenizes_without_unknown_tokens(tiny_pipeline):
    tokenizer = tiny_pipeline.tokenizer
    text = "Portrait de Zoë — 写真, 😀 {trigger} <lora:x> naïve ÅÄÖ"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    body = ids[1:-1]
    assert len(body) == len(text.lower().replace(" ", "").encode("utf-8"))  # one token per byte
    assert tokenizer.unk_token_id not in body
    assert render(tiny_pipeline, prompt=text, steps=1).shape == (32, 32, 3)
