"""Tiny random SD pipeline and a short LoRA run shared by the diffusion tests (CPU, offline)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # effective when this is the first hub import

import numpy as np
import pytest

from components.types import GenerationRequest, TrainingExample
from tests.checkpoints import MemoryCheckpoints
from tests.conftest import torch_threads

TRAIN_STEPS = 6
TRAIN_THREADS = 1  # intra-op threads of the shared LoRA run and of its resumption (identical weights)
TRAIN_OPTIONS = dict(
    rank=4, alpha=8, learning_rate=5e-3, steps=TRAIN_STEPS, resolution=32, seed=7, checkpoint_every=2
)


def synthetic_examples() -> list[TrainingExample]:
    rng = np.random.default_rng(0)
    examples = []
    for index, (tone, caption) in enumerate([((205, 160, 130), "sks person, smiling"), ((180, 130, 100), "sks person")]):
        image = np.full((48, 48, 3), 255, np.uint8)
        image[12:36, 14:34] = tone
        image[12:36, 14:34] = np.clip(image[12:36, 14:34] + rng.integers(-20, 20, (24, 20, 3)), 0, 255)
        image[18:21, 18:21] = image[18:21, 27:30] = 40 + 20 * index  # eyes
        examples.append(TrainingExample(image=image, bbox=np.array([14.0, 12.0, 34.0, 36.0]), caption=caption))
    return examples


def request(**changes) -> GenerationRequest:
    fields = dict(
        prompt="portrait of sks person, studio light",
        negative_prompt="blurry",
        seeds=[11, 12],
        steps=2,
        guidance=5.0,
        width=32,
        height=32,
        sampler="ddim",
        face_weight=1.0,
        style_weight=1.0,
        batch_size=2,
    )
    return GenerationRequest(**(fields | changes))


def render(pipeline, seed: int = 3, prompt: str = "a photo of sks person", steps: int = 2) -> np.ndarray:
    import torch

    out = pipeline(
        prompt,
        num_inference_steps=steps,
        width=32,
        height=32,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    )
    return out.images[0]


@pytest.fixture(scope="session")
def tiny_pipeline():
    from components.diffusion.tiny import build_tiny_pipeline

    return build_tiny_pipeline(seed=0)


@pytest.fixture(scope="session")
def examples():
    return synthetic_examples()


@pytest.fixture(scope="session")
def trained(tiny_pipeline, examples):
    """(LoraWeights, checkpoint store, progress calls, image before, image after) of one 6-step run."""
    from components.diffusion.lora import LoraTrainer

    before = render(tiny_pipeline)
    store, calls = MemoryCheckpoints(), []
    # A fixed thread count (the session fixture is built in whichever module asks first, some of them
    # at one thread): CPU reductions round differently with the thread count, and test_lora resumes
    # this run expecting identical weights (TRAIN_THREADS there too).
    with torch_threads(TRAIN_THREADS):
        weights = LoraTrainer(tiny_pipeline, **TRAIN_OPTIONS).train(
            examples, store, lambda step, total, loss: calls.append((step, total, loss))
        )
    return weights, store, calls, before, render(tiny_pipeline)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory):
    """saved_model(pipeline, name) -> a folder holding the pipeline as diffusers safetensors (saved once)."""
    folders = {}

    def save(pipeline, name: str):
        if name not in folders:
            folders[name] = tmp_path_factory.mktemp(name)
            pipeline.save_pretrained(folders[name], safe_serialization=True)
        return folders[name]

    return save


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point HOME and the ModelScope cache at empty folders and force offline hub access."""
    import huggingface_hub.constants

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def tiny_sdxl():
    from components.diffusion.tiny import build_tiny_sdxl_pipeline

    return build_tiny_sdxl_pipeline(seed=0)

