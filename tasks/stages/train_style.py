"""train-style: a style LoRA from pictures (no face needed); resumes from the checkpoints beside it.

Reads the pictures' manifest (tasks/style_data.py), captions each picture,
trains with the face LoRA's trainer on random squares of whole pictures,
and writes the captions and losses (`training_file`) and then the LoRA, the
artefact, in diffusers' layout (with the text encoders' LoRAs when trained).
"""

from __future__ import annotations

import json
from pathlib import Path

from components import registry
from tasks.checkpoints import FileCheckpointStore
from tasks.config import BaseModelConfig, LoadConfig, StyleTrainConfig
from tasks.diffusion_models import pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.progress import training_progress
from tasks.stages.train import save_lora_file
from tasks.storage import atomic_write_json
from tasks.style_data import manifest_pictures, style_examples
from tasks.workspace import Workspace


def train_style_lora(root: str, output: str, inputs: dict[str, str], train: StyleTrainConfig, base: BaseModelConfig,
                     load: LoadConfig, gpu: GpuConfig | None = None) -> None:
    if not train.trigger:
        raise ValueError("train-style needs its trigger token set (the flow derives it from the style's name)")
    workspace = Workspace(root)
    target = workspace.path(output)
    pictures = manifest_pictures(json.loads(workspace.path(inputs["pictures"]).read_text()), load)
    examples, rows = style_examples(pictures, load, train.resolution, train.trigger, train.fixed_caption,
                                    train.tag_faces)
    with gpu_slot(gpu):
        trainer = registry.create("train", train.backend, pipeline=pipeline_for(base), crop="image",
                                  **train.component_options())
        with training_progress(train.steps, "train-style") as progress:
            weights = trainer.train(examples, checkpoints=FileCheckpointStore(target.parent / "checkpoints"),
                                    progress=progress)
    atomic_write_json(training_file(target), {"pictures": rows, "losses": weights.losses})
    save_lora_file(weights, target)  # last: the artefact means the stage is done


def training_file(lora: Path) -> Path:
    """Captions (with where each came from) and losses, next to the LoRA."""
    return lora.with_name("training.json")

