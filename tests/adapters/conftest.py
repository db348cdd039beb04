"""Tiny random SD pipeline, a synthetic two-person dataset and short adapter runs (CPU, offline)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # effective when this is the first hub import

import numpy as np
import pytest

from components.adapters.types import AdapterExample
from tests.checkpoints import MemoryCheckpoints

# Settings of the shared training runs: batch 4 and lr 3e-3 give a clear loss
# decrease in 30 steps on the tiny model (measured); plain_fraction=0 keeps
# FeedFace's logged loss one quantity (plain steps are exercised elsewhere).
TRAIN_STEPS = 30
TRAIN_OPTIONS = dict(
    steps=TRAIN_STEPS, lr=3e-3, resolution=32, seed=3, batch_size=4, plain_fraction=0.0, checkpoint_every=10
)


def synthetic_examples(per_person: int = 3) -> list[AdapterExample]:
    """Two identities x `per_person` photos: a coloured face oval on white, its mask, an embedding
    per identity (plus a little per-photo jitter, as real embeddings of one person vary)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    examples = []
    for person, (tone, eye) in enumerate([((205, 160, 130), 40), ((110, 75, 55), 230)]):
        identity_embedding = rng.normal(size=128).astype(np.float32)
        identity_embedding /= np.linalg.norm(identity_embedding) * 2
        for k in range(per_person):
            cy, cx = 24 + rng.integers(-3, 4), 24 + rng.integers(-3, 4)
            face = ((yy - cy) / 14.0) ** 2 + ((xx - cx) / 11.0) ** 2 <= 1
            image = np.full((48, 48, 3), 255, np.uint8)
            noise = rng.integers(-15, 16, (48, 48, 3))
            image[face] = np.clip(np.array(tone) + noise[face], 0, 255)
            image[cy - 4 : cy - 1, cx - 6 : cx - 3] = image[cy - 4 : cy - 1, cx + 3 : cx + 6] = eye
            mask = (face * 255).astype(np.uint8)
            embedding = identity_embedding + rng.normal(scale=0.01, size=128).astype(np.float32)
            examples.append(AdapterExample(image=image, mask=mask, embedding=embedding, identity=f"person{person}"))
    return examples


@pytest.fixture(scope="module", autouse=True)
def one_thread_per_module(one_torch_thread):
    """Every adapter test module on one torch thread (tests/conftest.py: one_torch_thread)."""


@pytest.fixture(scope="session")
def tiny_pipeline():
    from components.diffusion.tiny import build_tiny_pipeline

    return build_tiny_pipeline(seed=0)


@pytest.fixture(scope="session")
def examples():
    return synthetic_examples()


@pytest.fixture(scope="session")
def trained(tiny_pipeline, examples):
    """kind -> (AdapterWeights, checkpoint store, progress calls) of one TRAIN_STEPS run."""
    from components.adapters.train import AdapterTrainer

    runs = {}

    def run(kind: str):
        if kind not in runs:
            store, calls = MemoryCheckpoints(), []
            weights = AdapterTrainer(tiny_pipeline, kind, **TRAIN_OPTIONS).train(
                examples, store, lambda step, total, loss: calls.append((step, total, loss))
            )
            runs[kind] = (weights, store, calls)
        return runs[kind]

    return run


def unet_inputs(batch: int = 2, size: int = 8, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, 4, size, size, generator=g)
    timesteps = torch.tensor([10, 500, 900, 250][:batch])
    text = torch.randn(batch, 77, 32, generator=g)
    return sample, timesteps, text


def hook_count(module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
