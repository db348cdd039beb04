"""Style training's parts: whole-image crops, captions, and the trainer resuming in image mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.diffusion.augment import image_crop
from components.diffusion.lora import LoraTrainer
from components.diffusion.style_training import common_words, style_caption, trained_style_definition
from components.diffusion.styles import parse_style
from components.types import Tags, TrainingExample
from tests.checkpoints import MemoryCheckpoints

IMAGE_OPTIONS = dict(rank=4, alpha=4, learning_rate=5e-3, steps=4, resolution=32, seed=3, checkpoint_every=2,
                     crop="image")


def _pictures() -> list[TrainingExample]:
    rng = np.random.default_rng(1)
    out = []
    for index in range(2):
        image = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)  # wider than tall, no face anywhere
        out.append(TrainingExample(image=image, bbox=np.array([0.0, 0.0, 56, 40]), caption=f"ink_style, {index}"))
    return out


def test_image_crop_takes_a_square_of_the_short_side_where_told():
    image = np.zeros((40, 100, 3), np.uint8)
    image[:, 60:] = 255
    assert image_crop(image, 1.0, (0.0, 0.0), False, 40).max() == 0  # the left square: all black
    right = image_crop(image, 1.0, (1.0, 0.0), False, 40)
    assert right.min() == 255 and right.shape == (40, 40, 3)
    assert image_crop(image, 0.5, (1.0, 1.0), True, 16).shape == (16, 16, 3)
    with pytest.raises(ValueError):
        image_crop(image, 0.0, (0, 0), False, 16)


def test_captions_prefer_the_users_then_the_tagger_then_the_fixed_one():
    face = Tags(gender="female", age=30, trigger_word="a beautiful woman", tags=["female", "age 30", "smiling"])
    assert style_caption("ink_style", "brush strokes", face, "a picture") == ("ink_style, brush strokes", "file")
    assert style_caption("ink_style", None, face, "a picture") == ("ink_style, a beautiful woman, smiling", "tagger")
    assert style_caption("ink_style", "  ", None, "a picture") == ("ink_style, a picture", "fixed")
    captions = ["ink_style, brush, a girl", "ink_style, brush, paper", "ink_style, a picture"]
    assert common_words(captions, "ink_style", "a picture") == ["brush"]
    definition = trained_style_definition("ink", "ink_style", "ink.safetensors", captions, "a picture", 10, "tiny")
    style = parse_style(definition, "ink.yaml")
    assert "ink_style, brush" in style.prompt and style.loras[0].source == "ink.safetensors"


def test_image_mode_trains_resumes_identically_and_refuses_face_mode_checkpoints(tiny_pipeline):
    store = MemoryCheckpoints()
    weights = LoraTrainer(tiny_pipeline, **IMAGE_OPTIONS).train(_pictures(), store)
    assert sorted(store.saved) == [2, 4] and any(v.abs().sum() > 0 for k, v in weights.state_dict.items()
                                                 if ".lora.up." in k)
    resumed = LoraTrainer(tiny_pipeline, **IMAGE_OPTIONS).train(_pictures(), MemoryCheckpoints((2, store.saved[2])))
    assert resumed.losses == weights.losses
    for key, tensor in weights.state_dict.items():
        assert torch.allclose(resumed.state_dict[key], tensor, atol=1e-6, rtol=0), key
    face_mode = dict(IMAGE_OPTIONS, crop="face")
    with pytest.raises(ValueError, match="settings"):
        LoraTrainer(tiny_pipeline, **face_mode).train(_pictures(), MemoryCheckpoints((2, store.saved[2])))
    with pytest.raises(ValueError, match="crop"):
        LoraTrainer(tiny_pipeline, crop="tiles")
