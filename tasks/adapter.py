"""Train-free portraits: train a face adapter on a curated dataset, generate with it.

The adapter folder holds adapter.safetensors (weights + JSON config as
metadata), adapter.json (what it was trained with) and checkpoints/<key>/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task

from components.adapters.types import AdapterExample
from components.diffusion.styles import Style, build_prompt
from tasks.checkpoints import FileCheckpointStore
from tasks.config import AdapterTrainConfig, BaseModelConfig, GenerateConfig, TrainFreeConfig
from tasks.diffusion_models import pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.progress import training_progress
from tasks.imaging import decode_png, encode_png
from tasks.portrait import PORTRAIT_SCHEMA, curated_ok
from tasks.records import OK, FaceRecord, from_table
from tasks.storage import atomic_write_bytes, atomic_write_json, digest, file_digest, write_parquet
from tasks.workspace import Workspace, code_version, stage_key

ADAPTER_FILE, ADAPTER_INFO = "adapter.safetensors", "adapter.json"


def dataset_records(dataset: str) -> list[FaceRecord]:
    """Ok rows with a crop, a mask and an embedding, from a dataset folder or one part file."""
    path = Path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {dataset}")
    records = from_table(pq.read_table(path / "faces" if (path / "faces").is_dir() else path))
    usable = [r for r in records if r.status == OK and r.image and r.mask and r.embedding]
    if not usable:
        raise ValueError(f"dataset {dataset} has no usable face (status ok with image, mask and embedding)")
    return usable


def adapter_examples(records: list[FaceRecord]) -> list[AdapterExample]:
    return [AdapterExample(image=decode_png(r.image), mask=decode_png(r.mask, "L"),
                           embedding=np.asarray(r.embedding, np.float32), identity=r.identity or r.sha256)
            for r in records]


def dataset_key(records: list[FaceRecord]) -> str:
    return digest(sorted((r.sha256, r.identity or "") for r in records))


def train_adapter(dataset: str, out: str, config: AdapterTrainConfig, base: BaseModelConfig,
                  force: bool = False, gpu: GpuConfig | None = None) -> str:
    """Train (or resume) the adapter; returns the path of adapter.safetensors."""
    from components.adapters.train import AdapterTrainer
    from components.adapters.weights import weights_to_bytes

    records = dataset_records(dataset)
    key = stage_key("train-adapter", [dataset_key(records)], config, base)
    folder = Path(out)
    output, info = folder / ADAPTER_FILE, folder / ADAPTER_INFO
    if not force and output.exists() and info.exists() and _info_key(info) == key:
        return str(output)
    examples = adapter_examples(records)
    with gpu_slot(gpu):
        trainer = AdapterTrainer(pipeline_for(base), config.backend, **config.component_options())
        with training_progress(config.steps, "train-adapter") as progress:
            weights = trainer.train(examples, checkpoints=FileCheckpointStore(folder / "checkpoints" / key),
                                    progress=progress)
    atomic_write_bytes(output, weights_to_bytes(weights))
    atomic_write_json(info, {"key": key, "kind": config.backend, "dataset": dataset, "photos": len(records),
                             "identities": len({e.identity for e in examples}), "train": config.model_dump(),
                             "base_model": base.spec, "losses": weights.losses})
    return str(output)


def generate_train_free(part: str, root: str, config: GenerateConfig, style: Style, style_lora: str | None,
                        base: BaseModelConfig, train_free: TrainFreeConfig, force: bool = False,
                        gpu: GpuConfig | None = None) -> str:
    """The portrait job's generate stage, with the face adapter instead of a face LoRA."""
    from components.adapters.infer import AdapterGenerator
    from components.adapters.weights import weights_from_bytes

    adapter = Path(train_free.adapter) / ADAPTER_FILE
    if not adapter.is_file():
        raise FileNotFoundError(f"no trained adapter at {adapter}: run `python -m flows train-adapter` first")
    workspace = Workspace(root)
    key = stage_key("generate", [part], config, base, style, train_free) + file_digest(adapter)[:8]
    key += digest(style_lora)[:8]
    output = workspace.stage_file("generate", key)
    if output.exists() and not force:
        return workspace.relative(output)
    records = curated_ok(root, part)
    prompt, negative = build_prompt(style, records[0].trigger_word or "a person")
    seeds = [config.seed + i for i in range(config.num_images)]
    embeddings = np.asarray([r.embedding for r in records], np.float32)  # several photos: concatenated tokens
    with gpu_slot(gpu):
        pipeline = pipeline_for(base)
        with _style_lora(pipeline, legacy_style_loras(style_lora, style.style_weight)):
            images = AdapterGenerator(pipeline, weights_from_bytes(adapter.read_bytes())).generate(
                prompt, negative, embeddings, seeds=seeds, steps=config.steps or style.steps,
                face_guidance=train_free.face_guidance, scale=train_free.scale,
                width=config.resolution or style.width, height=config.resolution or style.height)
    rows = [dict(index=i, seed=s, style=style.name, prompt=prompt, negative_prompt=negative,
                 generated=encode_png(img), image=None, faces=None, score=None, rank=None, reason="")
            for i, (s, img) in enumerate(zip(seeds, images))]
    write_parquet(output, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
    return workspace.relative(output)


class _style_lora:
    """Style LoRAs as named adapters at their weights for the duration of a generation (none: no-op).

    `loras`: (name, state dict, weight) triples, e.g. from `tasks.lora_sources.named_loras`.
    """

    def __init__(self, pipeline, loras: list[tuple[str, dict, float]]) -> None:
        self.pipeline, self.loras, self.names = pipeline, loras, []

    def __enter__(self):
        from components.diffusion.generate import attach_loras

        self.names = attach_loras(self.pipeline, self.loras)
        return self

    def __exit__(self, *exc) -> None:
        from components.diffusion.generate import detach_loras

        detach_loras(self.pipeline, self.names)


def legacy_style_loras(path: str | None, weight: float) -> list[tuple[str, dict, float]]:
    """The single `--style-lora FILE` of the first CLI, as a one-item list for `_style_lora`."""
    if not path:
        return []
    from safetensors.torch import load_file

    return [("style", load_file(path), weight)]


def _info_key(info: Path) -> str | None:
    import json

    try:
        return json.loads(info.read_text()).get("key")
    except (OSError, ValueError):
        return None


def content_fingerprint(path: Path) -> str:
    """What a path holds: a file's hash, or a folder's parquet parts (named by their content keys)."""
    if path.is_file():
        return file_digest(path)
    if path.is_dir():
        return digest(sorted(p.relative_to(path).as_posix() for p in path.rglob("*.parquet")))
    return "missing"


def _cache_key(stage: str):
    """Parameters + the content behind the paths they name (a retrained adapter, a grown dataset)."""

    def key(context: Any, parameters: dict[str, Any]) -> str:
        kept = {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
                for k, v in parameters.items() if k not in ("force", "gpu")}
        contents = []
        if "dataset" in parameters:
            contents.append(content_fingerprint(Path(parameters["dataset"])))
        if "train_free" in parameters:
            contents.append(content_fingerprint(Path(parameters["train_free"].adapter) / ADAPTER_FILE))
        return digest(stage, kept, contents, code_version(stage, None))

    return key


train_adapter_task = task(train_adapter, name="train-adapter", task_run_name="train-adapter",
                          cache_key_fn=_cache_key("train-adapter"), persist_result=True)
generate_train_free_task = task(generate_train_free, name="generate", task_run_name="generate-train-free",
                                cache_key_fn=_cache_key("generate-train-free"), persist_result=True)
