"""Portrait modes: seconds per image for infinite style, pose, fixed template and a 2-person template,
and each mode's ratio to infinite style.

    python bench/modes.py [--size 128] [--steps 8]

The tiny test model on CPU, the components called directly (no Prefect, no training: the
identity is an untrained face adapter, the same cost as a trained one). A template image
counts its generation in the crop's pose, the inpainting and refine passes, and the
paste-back; the 2-person template does that per face. The face detector's and the
fusion's costs are included where the mode runs them; curation and training are not
(they are the same for every mode). One run, one table, saved under bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SAMPLES, print_table, save  # noqa: E402

GROUP = Path(__file__).resolve().parents[1] / "tests" / "data" / "group.jpg"


def load(path: Path, max_side: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        return np.asarray(im).copy()


def untrained_adapter_identity(pipeline, embedding: np.ndarray):
    from components.adapters.infer import AdapterGenerator
    from components.adapters.types import AdapterWeights
    from components.adapters.weights import build_modules, default_config, export_state
    from components.diffusion.controlled import AdapterIdentity

    config = default_config(pipeline.unet, "fact", tokens=4)
    projection, adapter = build_modules(pipeline.unet, config)
    generator = AdapterGenerator(pipeline, AdapterWeights("fact", export_state(projection, adapter), config))
    return AdapterIdentity(generator, embedding[None], scale=0.5, face_guidance=4.0)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(size: int, steps: int) -> list[tuple[str, str]]:
    from components.detection import DlibHogDetector
    from components.diffusion.controlled import generate_in_pose, inpaint_pipeline, pose_pipeline
    from components.diffusion.controlnet import load_controlnet
    from components.diffusion.tiny import build_tiny_pipeline
    from components.embedding import DlibResnetEmbedder
    from components.landmarks import Dlib68Landmarker
    from components.openpose import draw_body
    from components.pose import MediaPipePoseEstimator
    from components.template import ordered_faces, paste_back
    from components.template_face import InpaintSettings, prepare_face, replace_face
    from components.types import GenerationRequest

    base = build_tiny_pipeline(0)
    openpose, canny = (load_controlnet("tiny", unet=base.unet, seed=s) for s in (1, 2))
    posed, inpainting = pose_pipeline(base, openpose), inpaint_pipeline(base, [openpose, canny])
    detector, landmarker, estimator = DlibHogDetector(upsample=1), Dlib68Landmarker(), MediaPipePoseEstimator()
    person = load(SAMPLES / "obama.jpg", 512)
    identity = untrained_adapter_identity(base, DlibResnetEmbedder().embed(person, detector.detect(person)[0].bbox))
    request = GenerationRequest(prompt="portrait of a man", negative_prompt="", seeds=[0], steps=steps,
                                guidance=5.0, width=size, height=size, sampler="ddim", face_weight=1.0,
                                style_weight=1.0)
    group = load(GROUP, 1024)
    faces = ordered_faces(detector.detect(group))
    pose_photo = load(SAMPLES / "biden.jpg", 1024)
    generated_face = load(SAMPLES / "obama2.jpg", size * 2)  # the tiny model draws no face: a real one stands in

    def infinite_style():
        identity.generate(base, request)

    def pose_mode():
        pose = estimator.estimate(pose_photo)
        scale = size / max(pose_photo.shape[:2])
        pose_map = draw_body(pose.scaled(np.array([[scale, 0, 0], [0, scale, 0]])), (size, size))
        generate_in_pose(identity, posed, request, pose_map, 1.0)

    def template(numbers):
        out = group
        for number in numbers:
            prepared = prepare_face(group, faces, number, size=size, landmarker=landmarker, pose_estimator=estimator)
            generate_in_pose(identity, posed, request, prepared.pose_map, 1.0)
            replaced = replace_face(prepared, generated_face, detector=detector, landmarker=landmarker,
                                    identity=identity, pipeline=inpainting, request=request,
                                    settings=InpaintSettings(refine_strength=max(0.1, 1.0 / steps)))
            out = paste_back(out, replaced.image, prepared.image, prepared.crop, replaced.mask)

    modes = {"infinite style": infinite_style, "pose": pose_mode, "fixed template": lambda: template([17]),
             "2-person template": lambda: template([3, 17])}
    for run in modes.values():  # warm-up: first calls build kernels and caches
        run()
    seconds = {name: timed(run) for name, run in modes.items()}
    reference = seconds["infinite style"]
    rows = [(name, f"{s:.2f} s/image   ({s / reference:.2f}x infinite style)") for name, s in seconds.items()]
    rows.append(("setting", f"tiny test model, CPU, {size}², {steps} steps, face adapter identity, "
                            "ControlNets tiny (openpose + canny)"))
    return rows


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    text = print_table("Portrait modes (seconds per image)", measure(args.size, args.steps))
    print(f"saved {save(text, 'modes-cpu-vm.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
