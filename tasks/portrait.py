"""The portrait stages as Prefect tasks: train -> generate -> select -> fuse -> rank.

Each reads artefacts by path, calls a component and writes one artefact named
by its key (inputs + configuration + code), so a re-run with an unchanged key
reuses it and Prefect shows the task as Cached.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from prefect import task

from components.diffusion.styles import Style, build_prompt
from components.ranking import top_k
from components.types import GenerationRequest, TrainingExample
from components import registry
from tasks import models
from tasks.checkpoints import FileCheckpointStore
from tasks.config import BaseModelConfig, FuseConfig, GenerateConfig, RankConfig, TrainConfig
from tasks.diffusion_models import device, pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.progress import training_progress
from tasks.imaging import decode_png, encode_png
from tasks.records import OK, FaceRecord, from_table
from tasks.storage import digest, read_parquet, write_parquet
from tasks.workspace import Workspace, code_version, input_key, stage_key

LORA_FILE = "pytorch_lora_weights.safetensors"

PORTRAIT_SCHEMA = pa.schema([
    ("index", pa.int32()),
    ("seed", pa.int64()),
    ("style", pa.string()),
    ("prompt", pa.string()),
    ("negative_prompt", pa.string()),
    ("generated", pa.binary()),  # PNG straight from the diffusion model
    ("image", pa.binary()),  # PNG after fusion; null when dropped
    ("faces", pa.int32()),
    ("score", pa.float64()),
    ("rank", pa.int32()),  # 1 = best; null when not kept
    ("reason", pa.string()),  # why the image was dropped; "" when kept
])


def curated_ok(root: str, part: str) -> list[FaceRecord]:
    records = from_table(read_parquet(Workspace(root).path(part)))
    return [r for r in records if r.status == OK]


def training_examples(records: list[FaceRecord]) -> list[TrainingExample]:
    """Caption = trigger word + the photo's attribute tags (FaceChain's captions)."""
    examples = []
    for r in records:
        tags = [t for t in r.tags if not t.startswith("age ") and t not in ("male", "female")]
        examples.append(TrainingExample(image=decode_png(r.image), bbox=np.asarray(r.crop_bbox),
                                        caption=", ".join([r.trigger_word or "a person", *tags])))
    return examples


def train_lora(part: str, root: str, config: TrainConfig, base: BaseModelConfig, force: bool = False,
               gpu: GpuConfig | None = None) -> str:
    """Train the face LoRA; resumes from the last checkpoint of the same key."""
    from diffusers import StableDiffusionPipeline

    from components.diffusion.lora import LoraTrainer

    workspace = Workspace(root)
    folder = workspace.root / "lora" / stage_key("train", [part], config, base)
    output = folder / LORA_FILE
    if force or not output.exists():
        examples = training_examples(curated_ok(root, part))
        with gpu_slot(gpu):
            trainer = LoraTrainer(pipeline_for(base), **config.component_options())
            with training_progress(config.steps, "train") as progress:
                weights = trainer.train(examples, checkpoints=FileCheckpointStore(folder / "checkpoints"),
                                        progress=progress)
        staging = folder / ".staging"
        StableDiffusionPipeline.save_lora_weights(str(staging), unet_lora_layers=weights.state_dict,
                                                  safe_serialization=True)
        (staging / LORA_FILE).replace(output)  # atomic: the LoRA exists whole or not at all
        shutil.rmtree(staging, ignore_errors=True)
    return workspace.relative(output)


def generate_images(lora: str, part: str, root: str, config: GenerateConfig, style: Style,
                    style_lora: str | None, base: BaseModelConfig, force: bool = False,
                    gpu: GpuConfig | None = None) -> str:
    from safetensors.torch import load_file

    workspace = Workspace(root)
    key = stage_key("generate", [lora, part], config, base, style) + digest(style_lora)[:8]
    output = workspace.stage_file("generate", key)
    if output.exists() and not force:
        return workspace.relative(output)
    records = curated_ok(root, part)
    prompt, negative = build_prompt(style, records[0].trigger_word or "a person")
    size = config.resolution
    seeds = [config.seed + i for i in range(config.num_images)]
    request = GenerationRequest(
        prompt=prompt, negative_prompt=negative, seeds=seeds, steps=config.steps or style.steps,
        guidance=style.guidance, width=size or style.width, height=size or style.height, sampler=style.sampler,
        face_weight=style.face_weight, style_weight=style.style_weight, batch_size=config.batch_size)
    style_weights = load_file(style_lora) if style_lora else None
    with gpu_slot(gpu):
        generator = registry.create("generate", config.backend, pipeline=pipeline_for(base), device=device())
        images = generator.generate(request, load_file(workspace.path(lora)), style_weights)
    rows = [dict(index=i, seed=s, style=style.name, prompt=prompt, negative_prompt=negative,
                 generated=encode_png(img), image=None, faces=None, score=None, rank=None, reason="")
            for i, (s, img) in enumerate(zip(seeds, images))]
    write_parquet(output, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
    return workspace.relative(output)


def select_template(part: str, root: str, force: bool = False) -> str:
    """The curated photo of highest quality is the template face."""
    workspace = Workspace(root)
    output = workspace.stage_file("select", stage_key("select", [part], None))
    if force or not output.exists():
        records = curated_ok(root, part)
        best = max(records, key=lambda r: (r.quality or 0.0, r.source))
        table = read_parquet(workspace.path(part))
        index = table.column("sha256").to_pylist().index(best.sha256)
        write_parquet(output, table.slice(index, 1))
    return workspace.relative(output)


def fuse_images(generated: str, template: str, root: str, config: FuseConfig, force: bool = False) -> str:
    workspace = Workspace(root)
    output = workspace.stage_file("fuse", stage_key("fuse", [generated, template], config))
    if force or not output.exists():
        rows = read_parquet(workspace.path(generated)).to_pylist()
        template_image = decode_png(from_table(read_parquet(workspace.path(template)))[0].image)
        with models.borrow("fuse", config, detector="detect:dlib-hog") as fuser:
            for row in rows:
                fused = fuser.fuse(template_image, decode_png(row["generated"]))
                row["image"] = encode_png(fused.image) if fused.image is not None else None
                row["reason"] = fused.reason
        write_parquet(output, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
    return workspace.relative(output)


def rank_images(fused: str, template: str, part: str, root: str, config: RankConfig, force: bool = False) -> str:
    """Score by identity similarity; keep the top `keep` of the images with one usable face."""
    workspace = Workspace(root)
    output = workspace.stage_file("rank", stage_key("rank", [fused, template, part], config))
    if output.exists() and not force:
        return workspace.relative(output)
    rows = read_parquet(workspace.path(fused)).to_pylist()
    template_record = from_table(read_parquet(workspace.path(template)))[0]
    users = np.asarray([r.embedding for r in curated_ok(root, part)], dtype=np.float32)
    candidates = [i for i, row in enumerate(rows) if row["image"] is not None]
    with models.borrow("rank", config, detector="detect:dlib-hog", embedder="embed:dlib-resnet") as ranker:
        scores = ranker.score([decode_png(rows[i]["image"]) for i in candidates],
                              np.asarray(template_record.embedding, dtype=np.float32), users)
    for i, score in zip(candidates, scores):
        rows[i].update(faces=score.faces, score=None if math.isnan(score.score) else score.score,
                       reason=score.reason)
    for place, j in enumerate(top_k(scores, config.keep), start=1):
        rows[candidates[j]]["rank"] = place
    for row in rows:
        if row["rank"] is None and not row["reason"]:
            row["reason"] = f"not in the top {config.keep}"
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["index"]))
    write_parquet(output, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
    return workspace.relative(output)


def _keyed(stage: str):
    """Prefect cache key of a portrait task: the artefact key the task itself computes."""

    def cache_key(context: Any, parameters: dict[str, Any]) -> str:
        # How a stage is scheduled (forced, which GPU slot) does not change its output.
        params = {k: _jsonable(v) for k, v in parameters.items() if k not in ("force", "gpu")}
        return digest(stage, params, code_version(stage, _backend(stage, parameters)))

    return cache_key


def _backend(stage: str, parameters: dict[str, Any]) -> str | None:
    """The backend of the stage's own config: its component's source is part of the code version."""
    from components.registry import REGISTRY

    for value in parameters.values():
        backend = getattr(value, "backend", None)
        if backend in REGISTRY.get(stage, {}):
            return backend
    return None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, str) and Path(value).suffix in (".parquet", ".safetensors"):
        return input_key(value) if Path(value).suffix == ".parquet" else value
    return value


PORTRAIT_STAGES = {
    "train": "face LoRA training (diffusers + peft), resumable from checkpoints",
    "generate": "images in the style, face + style LoRA adapters, one seed each",
    "select": "template face: the curated photo of highest quality",
    "fuse": "template face aligned, colour-matched and blended onto each image",
    "rank": "one usable face per image, identity similarity, top K kept",
}

train_task = task(train_lora, name="train", task_run_name="train", cache_key_fn=_keyed("train"), persist_result=True)
generate_task = task(generate_images, name="generate", task_run_name="generate", cache_key_fn=_keyed("generate"),
                     persist_result=True)
select_task = task(select_template, name="select", task_run_name="select", cache_key_fn=_keyed("select"),
                   persist_result=True)
fuse_task = task(fuse_images, name="fuse", task_run_name="fuse", cache_key_fn=_keyed("fuse"), persist_result=True)
rank_task = task(rank_images, name="rank", task_run_name="rank", cache_key_fn=_keyed("rank"), persist_result=True)
