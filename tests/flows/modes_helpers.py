"""Shared by the template / pose tests: an untrained face adapter (train-free without training),
a replaying pose generator (the tiny model draws no faces), a downscaled group photo."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def untrained_adapter(folder: Path):
    """A FACT adapter folder with freshly initialised weights for the tiny base (zero output)."""
    from components.adapters.types import AdapterWeights
    from components.adapters.weights import build_modules, default_config, export_state, weights_to_bytes
    from components.diffusion.tiny import build_tiny_pipeline
    from tasks.config import ADAPTER_FILE, TrainFreeConfig

    folder.mkdir(parents=True, exist_ok=True)
    unet = build_tiny_pipeline(0).unet
    config = default_config(unet, "fact", tokens=2)
    projection, adapter = build_modules(unet, config)
    (folder / ADAPTER_FILE).write_bytes(weights_to_bytes(AdapterWeights("fact", export_state(projection, adapter),
                                                                        config)))
    return TrainFreeConfig(adapter=str(folder))


def load_photo(name: str, max_side: int) -> np.ndarray:
    with Image.open(SAMPLES / name) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        return np.asarray(im).copy()


def group_photo(folder: Path, max_side: int = 800) -> Path:
    """bald_guys.jpg downscaled (faster to detect and paste into; its faces stay findable)."""
    path = folder / "group.jpg"
    Image.fromarray(load_photo("bald_guys.jpg", max_side)).save(path, quality=92)
    return path


class ReplayPoseGenerator:
    """Test double of the pose generator: each call (one face's, or the pose job's, generation)
    'generates' the next photo of `queue`, one per seed, so fusion, inpainting and ranking see
    real faces. Set `queue` before the job; registered as pose-generate backend "replay"."""

    queue: ClassVar[list[np.ndarray]] = []

    def __init__(self, pipeline=None) -> None:
        pass

    def generate(self, identity, request, pose_map, scale) -> list[np.ndarray]:
        photo = self.queue.pop(0)
        return [photo for _ in request.seeds]


def replay(monkeypatch, photos: list[np.ndarray]) -> None:
    from components import registry

    monkeypatch.setitem(registry.REGISTRY, "pose-generate",
                        {**registry.REGISTRY["pose-generate"], "replay": f"{__name__}:ReplayPoseGenerator"})
    monkeypatch.setattr(ReplayPoseGenerator, "queue", list(photos))
