"""generate (template jobs, per face): the face's person in the pose of the template crop (body
skeleton and face points, OpenPose ControlNet), crop-sized; identity from LoRA or adapter."""

from __future__ import annotations

from components.diffusion.styles import Style
from tasks.config import BaseModelConfig, ControlNetConfig, GenerateConfig, PoseGenerateConfig, TrainFreeConfig
from tasks.controlled import generate_posed
from tasks.gpu import GpuConfig
from tasks.template_rows import prepared_faces


def generate_face(root: str, output: str, inputs: dict[str, str], generate: GenerateConfig, base: BaseModelConfig,
                  style: Style, pose_generate: PoseGenerateConfig, controlnets: ControlNetConfig, face: int,
                  train_free: TrainFreeConfig | None = None, gpu: GpuConfig | None = None) -> None:
    prepared = prepared_faces(root, inputs["template-crop"])[face]
    generate_posed(root, output, inputs, prepared.pose_map, prepared.crop.size, generate, base, style, pose_generate,
                   controlnets, train_free, gpu)
