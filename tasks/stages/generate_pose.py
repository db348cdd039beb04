"""generate (pose mode): the person in the pose map's pose, in the style (OpenPose ControlNet);
identity from the face LoRA (trained) or the face adapter (train-free)."""

from __future__ import annotations

from components.diffusion.styles import Style
from tasks.config import BaseModelConfig, ControlNetConfig, GenerateConfig, PoseGenerateConfig, TrainFreeConfig
from tasks.controlled import generate_posed
from tasks.gpu import GpuConfig
from tasks.template_rows import pose_map_image


def generate_in_pose(root: str, output: str, inputs: dict[str, str], generate: GenerateConfig, base: BaseModelConfig,
                     style: Style, pose_generate: PoseGenerateConfig, controlnets: ControlNetConfig,
                     train_free: TrainFreeConfig | None = None, gpu: GpuConfig | None = None) -> None:
    generate_posed(root, output, inputs, pose_map_image(root, inputs["pose-map"]), generate.resolution or style.width,
                   generate, base, style, pose_generate, controlnets, train_free, gpu)
