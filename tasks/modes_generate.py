"""Stages of the pose and template modes that run diffusion: generation in a pose (pose mode,
and each person in its template crop's pose) and the template face inpainting.

Identity: the person's face LoRA (trained mode) or the face adapter with the person's
embeddings (train-free, `train_free` given), the style LoRA as in infinite style.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import pyarrow as pa

from components.diffusion.styles import Style, build_prompt
from components.types import GenerationRequest, Rejected
from tasks.config import (BaseModelConfig, ControlNetConfig, FuseConfig, GenerateConfig, InpaintConfig,
                          PoseGenerateConfig, TrainFreeConfig)
from tasks.diffusion_models import device, pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.imaging import decode_png, encode_png
from tasks.modes import prepared_faces
from tasks.storage import digest, file_digest, read_parquet, write_parquet
from tasks.workspace import Workspace, stage_key

INPAINT_SCHEMA = pa.schema([
    ("index", pa.int32()), ("seed", pa.int64()), ("face", pa.int32()), ("style", pa.string()),
    ("prompt", pa.string()), ("negative_prompt", pa.string()), ("image", pa.binary()), ("mask", pa.binary()),
    ("reason", pa.string()),
])


def controlnet_specs(config: ControlNetConfig, base: BaseModelConfig) -> tuple[str, str]:
    """(openpose, canny); the tiny test base gets the tiny test ControlNets built from its UNet."""
    return ("tiny", "tiny") if base.spec == "tiny" else (config.openpose, config.canny)


def check_controlnets(config: ControlNetConfig, base: BaseModelConfig, *, canny: bool) -> None:
    """Refuse a missing ControlNet before any work, naming it and how to get it."""
    from components.diffusion.controlnet import check_controlnet

    openpose_spec, canny_spec = controlnet_specs(config, base)
    for spec in (openpose_spec, canny_spec) if canny else (openpose_spec,):
        check_controlnet(spec, allow_pickle=config.trust_pickle)


def pose_pipeline_for(config: ControlNetConfig, base: BaseModelConfig):
    return _pipelines(config, base, threading.get_ident())[0]


def inpaint_pipeline_for(config: ControlNetConfig, base: BaseModelConfig):
    return _pipelines(config, base, threading.get_ident())[1]


@functools.cache
def _pipelines(config: ControlNetConfig, base: BaseModelConfig, thread: int):
    """Per thread, like the base pipeline: both share its modules, which carry adapters while in use."""
    from components.diffusion.controlled import inpaint_pipeline, pose_pipeline
    from components.diffusion.controlnet import load_controlnet

    pipeline = pipeline_for(base)
    openpose_spec, canny_spec = controlnet_specs(config, base)
    dtype = pipeline.unet.dtype
    openpose = load_controlnet(openpose_spec, unet=pipeline.unet, seed=config.seed, allow_pickle=config.trust_pickle,
                               torch_dtype=dtype).to(pipeline.device)
    canny = load_controlnet(canny_spec, unet=pipeline.unet, seed=config.seed + 1, allow_pickle=config.trust_pickle,
                            torch_dtype=dtype).to(pipeline.device)
    return pose_pipeline(pipeline, openpose), inpaint_pipeline(pipeline, [openpose, canny])


def identity_for(root: str, part: str, lora: str | None, base: BaseModelConfig, style_lora: str | None,
                 train_free: TrainFreeConfig | None):
    """LoraIdentity (trained mode) or AdapterIdentity (train-free) of the person curated in `part`."""
    from pathlib import Path

    from safetensors.torch import load_file

    from components.diffusion.controlled import AdapterIdentity, LoraIdentity
    from tasks.portrait import curated_ok

    style = load_file(style_lora) if style_lora else None
    if train_free is None:
        if lora is None:
            raise ValueError("the trained mode needs the person's face LoRA")
        return LoraIdentity(load_file(Workspace(root).path(lora)), style, device())
    from components.adapters.infer import AdapterGenerator
    from components.adapters.weights import weights_from_bytes
    from tasks.adapter import ADAPTER_FILE

    weights = weights_from_bytes((Path(train_free.adapter) / ADAPTER_FILE).read_bytes())
    embeddings = np.asarray([r.embedding for r in curated_ok(root, part)], np.float32)
    return AdapterIdentity(AdapterGenerator(pipeline_for(base), weights), embeddings, scale=train_free.scale,
                           face_guidance=train_free.face_guidance, style_lora=style, device=device())


def person_prompt(root: str, part: str, style: Style) -> tuple[str, str]:
    from tasks.portrait import curated_ok

    return build_prompt(style, curated_ok(root, part)[0].trigger_word or "a person")


def make_request(config: GenerateConfig, style: Style, prompt: str, negative: str, seeds: list[int],
                 size: int, steps: int | None = None) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, negative_prompt=negative, seeds=seeds,
                             steps=steps or config.steps or style.steps, guidance=style.guidance, width=size,
                             height=size, sampler=style.sampler, face_weight=style.face_weight,
                             style_weight=style.style_weight, batch_size=config.batch_size)


def identity_key(lora: str | None, style_lora: str | None, train_free: TrainFreeConfig | None) -> str:
    """What the identity's weights are, for the stage keys: file contents, not only names."""
    from pathlib import Path

    from tasks.adapter import ADAPTER_FILE

    adapter = file_digest(Path(train_free.adapter) / ADAPTER_FILE) if train_free else ""
    return digest(lora or "", style_lora or "", adapter, train_free.model_dump() if train_free else None)[:12]


def generate_pose(pose: str, lora: str | None, part: str, root: str, config: GenerateConfig,
                  pose_config: PoseGenerateConfig, controlnets: ControlNetConfig, style: Style,
                  style_lora: str | None, base: BaseModelConfig, train_free: TrainFreeConfig | None = None,
                  force: bool = False, gpu: GpuConfig | None = None) -> str:
    """Pose mode: the person in the pose map's pose, in the style (portrait rows, as `generate`)."""
    workspace = Workspace(root)
    key = stage_key("generate-pose", [pose, part], config, pose_config, controlnets, base, style)
    output = workspace.stage_file("generate-pose", key + identity_key(lora, style_lora, train_free))
    if output.exists() and not force:
        return workspace.relative(output)
    pose_map = decode_png(read_parquet(workspace.path(pose)).column("pose_map")[0].as_py())
    size = config.resolution or style.width
    _write_generated(output, root, part, lora, pose_map, size, config, pose_config, controlnets, style, style_lora,
                     base, train_free, gpu)
    return workspace.relative(output)


def generate_template_face(crops: str, face: int, lora: str | None, part: str, root: str, config: GenerateConfig,
                           pose_config: PoseGenerateConfig, controlnets: ControlNetConfig, style: Style,
                           style_lora: str | None, base: BaseModelConfig, train_free: TrainFreeConfig | None = None,
                           force: bool = False, gpu: GpuConfig | None = None) -> str:
    """Template modes: face `face`'s person generated in its crop's pose (crop size)."""
    workspace = Workspace(root)
    key = stage_key("generate-face", [crops, part], config, pose_config, controlnets, base, style)
    output = workspace.stage_file("generate-face", f"{key}{identity_key(lora, style_lora, train_free)}-{face}")
    if output.exists() and not force:
        return workspace.relative(output)
    prepared = prepared_faces(root, crops)[face]
    _write_generated(output, root, part, lora, prepared.pose_map, prepared.crop.size, config, pose_config,
                     controlnets, style, style_lora, base, train_free, gpu)
    return workspace.relative(output)


def _write_generated(output, root, part, lora, pose_map, size, config, pose_config, controlnets, style, style_lora,
                     base, train_free, gpu) -> None:
    import cv2

    from components.diffusion.controlled import generate_in_pose
    from tasks.portrait import PORTRAIT_SCHEMA

    if pose_map.shape[:2] != (size, size):
        pose_map = cv2.resize(pose_map, (size, size), interpolation=cv2.INTER_NEAREST)
    prompt, negative = person_prompt(root, part, style)
    seeds = [config.seed + i for i in range(config.num_images)]
    with gpu_slot(gpu):
        identity = identity_for(root, part, lora, base, style_lora, train_free)
        images = generate_in_pose(identity, pose_pipeline_for(controlnets, base),
                                  make_request(config, style, prompt, negative, seeds, size), pose_map,
                                  pose_config.pose_scale)
    rows = [dict(index=i, seed=s, style=style.name, prompt=prompt, negative_prompt=negative,
                 generated=encode_png(img), image=None, faces=None, score=None, rank=None, reason="")
            for i, (s, img) in enumerate(zip(seeds, images))]
    write_parquet(output, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))


def inpaint_template_face(crops: str, face: int, fused: str, lora: str | None, part: str, select: str, root: str,
                          config: InpaintConfig, generate: GenerateConfig, controlnets: ControlNetConfig,
                          style: Style, style_lora: str | None, base: BaseModelConfig, fuse: FuseConfig,
                          train_free: TrainFreeConfig | None = None, force: bool = False,
                          gpu: GpuConfig | None = None) -> str:
    """Each fused generation of face `face`'s person aligned onto the template face, inpainted,
    refined and fused again with the person's selected photo: crop-sized rows for `paste`.

    Reads detection, crops, training and generation from their artefacts: a new strength
    re-runs this stage (and paste, rank) only."""
    from components.landmarks import Dlib68Landmarker
    from components.template_face import InpaintSettings, replace_face
    from tasks import models
    from tasks.records import from_table

    workspace = Workspace(root)
    key = stage_key("inpaint", [crops, fused, part, select], config, generate, controlnets, base, style, fuse)
    output = workspace.stage_file("inpaint", f"{key}{identity_key(lora, style_lora, train_free)}-{face}")
    if output.exists() and not force:
        return workspace.relative(output)
    prepared = prepared_faces(root, crops)[face]
    person_photo = decode_png(from_table(read_parquet(workspace.path(select)))[0].image)
    settings = InpaintSettings(strength=config.strength, scales=(config.pose_scale, config.canny_scale),
                               refine_strength=config.refine_strength,
                               refine_scales=(config.refine_pose_scale, config.refine_canny_scale), init=config.init)
    rows = []
    with gpu_slot(gpu), models.borrow("detect", _detect_config()) as detector, \
            models.borrow("fuse", fuse, detector="detect:dlib-hog") as fuser:
        identity = identity_for(root, part, lora, base, style_lora, train_free)
        pipeline = inpaint_pipeline_for(controlnets, base)
        for row in read_parquet(workspace.path(fused)).to_pylist():
            out = dict(index=row["index"], seed=row["seed"], face=face, style=row["style"], prompt=row["prompt"],
                       negative_prompt=row["negative_prompt"], image=None, mask=None, reason=row["reason"])
            if row["image"] is not None:
                request = make_request(generate, style, row["prompt"], row["negative_prompt"], [row["seed"]],
                                       prepared.crop.size, config.steps)
                try:
                    replaced = replace_face(prepared, decode_png(row["image"]), detector=detector,
                                            landmarker=Dlib68Landmarker(), identity=identity, pipeline=pipeline,
                                            request=request, settings=settings)
                except Rejected as error:
                    out["reason"] = str(error)
                else:
                    again = fuser.fuse(person_photo, replaced.image)  # FaceChain fuses once more at the end
                    image = again.image if again.image is not None else replaced.image
                    out.update(image=encode_png(image), mask=encode_png(replaced.mask), reason="")
            rows.append(out)
    write_parquet(output, pa.Table.from_pylist(rows, schema=INPAINT_SCHEMA))
    return workspace.relative(output)


def _detect_config():
    from tasks.config import DetectConfig

    return DetectConfig()
