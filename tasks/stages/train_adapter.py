"""train-adapter: a face adapter (FACT or FeedFace) trained on a curated dataset of many people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from components import registry
from components.adapters.types import AdapterExample
from tasks.checkpoints import FileCheckpointStore
from tasks.config import AdapterTrainConfig, BaseModelConfig
from tasks.diffusion_models import pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.imaging import decode_png
from tasks.progress import training_progress
from tasks.records import OK, FaceRecord, from_table
from tasks.digests import digest
from tasks.storage import atomic_write_bytes, atomic_write_json
from tasks.workspace import Workspace


def dataset_records(dataset: str) -> list[FaceRecord]:
    """Ok rows with a crop, a mask and an embedding, from a dataset folder (OUT or OUT/faces) or one part."""
    path = Path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {dataset}")
    records = from_table(pq.read_table(path / "faces" if (path / "faces").is_dir() else path))
    usable = [r for r in records if r.status == OK and r.image and r.mask and r.embedding]
    if not usable:
        raise ValueError(f"dataset {dataset} has no usable face (status ok with image, mask and embedding)")
    return usable


def dataset_key(records: list[FaceRecord]) -> str:
    """What the adapter learns from: which photos, and whose they are."""
    return digest(sorted((r.sha256, r.identity or "") for r in records))


def adapter_examples(records: list[FaceRecord]) -> list[AdapterExample]:
    return [AdapterExample(image=decode_png(r.image), mask=decode_png(r.mask, "L"),
                           embedding=np.asarray(r.embedding, np.float32), identity=r.identity or r.sha256)
            for r in records]


def train_adapter(root: str, output: str, inputs: dict[str, str], train: AdapterTrainConfig, base: BaseModelConfig,
                  gpu: GpuConfig | None = None) -> None:
    """Train (or resume from checkpoints beside `output`) and write the weights to `output`."""
    from components.adapters.weights import weights_to_bytes

    target = Workspace(root).path(output)
    examples = adapter_examples(dataset_records(inputs["dataset"]))
    with gpu_slot(gpu):
        trainer = registry.create("train-adapter", train.backend, pipeline=pipeline_for(base), kind=train.backend,
                                  **train.component_options())
        with training_progress(train.steps, "train-adapter") as progress:
            weights = trainer.train(examples, checkpoints=FileCheckpointStore(target.parent / "checkpoints"),
                                    progress=progress)
    atomic_write_bytes(target, weights_to_bytes(weights))
    atomic_write_json(losses_file(target), weights.losses)


def losses_file(weights: Path) -> Path:
    return weights.with_name("losses.json")
