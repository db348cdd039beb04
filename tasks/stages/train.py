"""train: the face LoRA on the job's curated photos; resumes from the last checkpoint of the same key."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from components import registry
from components.types import TrainingExample
from tasks.checkpoints import FileCheckpointStore
from tasks.config import BaseModelConfig, TrainConfig
from tasks.diffusion_models import pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.imaging import decode_png
from tasks.portrait_rows import curated_ok
from tasks.progress import training_progress
from tasks.records import FaceRecord
from tasks.workspace import Workspace


def training_examples(records: list[FaceRecord]) -> list[TrainingExample]:
    """Caption = trigger word + the photo's attribute tags (FaceChain's captions)."""
    examples = []
    for r in records:
        tags = [t for t in r.tags if not t.startswith("age ") and t not in ("male", "female")]
        examples.append(TrainingExample(image=decode_png(r.image), bbox=np.asarray(r.crop_bbox),
                                        caption=", ".join([r.trigger_word or "a person", *tags])))
    return examples


def train_lora(root: str, output: str, inputs: dict[str, str], train: TrainConfig, base: BaseModelConfig,
               gpu: GpuConfig | None = None) -> None:
    target = Workspace(root).path(output)
    folder = target.parent
    examples = training_examples(curated_ok(root, inputs["curate"]))
    with gpu_slot(gpu):
        trainer = registry.create("train", train.backend, pipeline=pipeline_for(base), **train.component_options())
        with training_progress(train.steps, "train") as progress:
            weights = trainer.train(examples, checkpoints=FileCheckpointStore(folder / "checkpoints"),
                                    progress=progress)
    save_lora_file(weights, target)


def save_lora_file(weights, target: Path) -> None:
    """The UNet's LoRA and any text encoders' as one file at `target`, in the layout of the weights' family
    (diffusers' save_lora_weights: loadable by diffusers and ComfyUI); atomic: whole or absent."""
    from components.diffusion.family import family_named

    staging = target.parent / ".staging"
    family_named(weights.family).save_lora(staging, weights, weight_name=target.name)
    (staging / target.name).replace(target)
    shutil.rmtree(staging, ignore_errors=True)
