"""Portrait modes: seconds per image for infinite style, pose, fixed template and a 2-person
template, and each mode's ratio to infinite style.

    python bench/modes.py [--size 128] [--steps 8] [--images 4]

Each mode is its job's stage chain from the catalogue (`portrait_chain`), every stage function
run in this process through `InProcess` (the Plan's keys and values, no Prefect): everything
after curation (template detection and crops, the pose map, generation, fusion, inpainting,
paste-back, ranking), divided by the number of images. Curation is done once beforehand (a
temporary Prefect server) and not counted; identity is the train-free face adapter (untrained:
the same cost as a trained one, no training to count). The tiny test model draws no face, so
after each generation has run, real photos stand in for its output: fusion, inpainting and
ranking then do their real work on faces (otherwise template jobs would skip their inpainting).
A warm-up pass first (models loaded, kernels built), then `--repeats` measured passes over all
modes, interleaved, each in a fresh job folder; the fastest of each mode is reported (on a shared
machine a busy spell otherwise lands on whichever mode runs then). One table, saved under
bench/results/.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SAMPLES, host_line, print_table, private_prefect_home, save, start_server  # noqa: E402

PEOPLE = {"obama": ("obama.jpg", "obama2.jpg"), "biden": ("biden.jpg",)}
FACES = {"fixed template": (17,), "2-person template": (3, 17)}  # faces of bald_guys.jpg, left to right


def photo(name: str, side: int) -> np.ndarray:
    from PIL import Image

    with Image.open(SAMPLES / name) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        return np.asarray(im).copy()


class StandIn:
    """Runs the real generation, then hands on real photos (the tiny model draws no face)."""

    photos: list[np.ndarray] = [photo("obama3.jpg", 512), photo("biden.jpg", 512)]

    def stand_in(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [self.photos[i % len(self.photos)] for i in range(len(images))]


def stand_in_classes():
    from components.adapters.infer import AdapterGenerator
    from components.diffusion.controlled import ControlNetPoseGenerator

    class StyleStandIn(AdapterGenerator, StandIn):
        def generate(self, *args, **kwargs):
            return self.stand_in(super().generate(*args, **kwargs))

    class PoseStandIn(ControlNetPoseGenerator, StandIn):
        def generate(self, *args, **kwargs):
            return self.stand_in(super().generate(*args, **kwargs))

    return StyleStandIn, PoseStandIn


def register_stand_ins() -> None:
    from components import registry

    style, pose = stand_in_classes()
    globals().update(StyleStandIn=style, PoseStandIn=pose)
    registry.REGISTRY["generate"]["stand-in"] = f"{__name__}:StyleStandIn"
    registry.REGISTRY["pose-generate"]["stand-in"] = f"{__name__}:PoseStandIn"


def curate_people(root: Path, work: Path) -> dict[str, str]:
    """Each person's photos curated into `root` (once; not measured): {person: part path}."""
    from flows.config import CurationConfig
    from flows.curate import curate_flow

    parts = {}
    for person, names in PEOPLE.items():
        folder = work / "photos" / person
        folder.mkdir(parents=True)
        for name in names:
            shutil.copy(SAMPLES / name, folder / name)
        result = curate_flow([str(folder)], str(root), CurationConfig(single_identity=True, progress=False),
                             run_id=person)
        parts[person] = result["part"]
    return parts


def mode_config(mode: str, adapter, template: Path, size: int, steps: int, images: int, seed: int):
    from flows.portrait_config import PortraitConfig
    from tasks.config import (BaseModelConfig, GenerateConfig, InpaintConfig, PoseGenerateConfig, PoseMapConfig,
                              RankConfig, TemplateConfig, TemplateCropConfig, TrainFreeConfig)

    fields = dict(user="bench", style="studio_headshot", base=BaseModelConfig(spec="tiny"), mode="train-free",
                  train_free=TrainFreeConfig(backend="stand-in", adapter=adapter),
                  generate=GenerateConfig(num_images=images, batch_size=2, steps=steps, resolution=size, seed=seed),
                  pose_generate=PoseGenerateConfig(backend="stand-in"), rank=RankConfig(keep=images),
                  # one refine step at these few steps (0.1 x 8 rounds to none)
                  inpaint=InpaintConfig(refine_strength=max(0.1, 1.0 / steps)))
    if mode == "pose":
        fields |= dict(kind="pose", pose_map=PoseMapConfig(image=str(SAMPLES / "biden.jpg"), size=size))
    elif mode in FACES:
        fields |= dict(kind="template", template=TemplateConfig(image=str(template)),
                       persons={face: [person] for face, person in zip(FACES[mode], PEOPLE)},
                       template_crop=TemplateCropConfig(size=size))
    return PortraitConfig(**fields)


def run_mode(mode: str, config, base: Path, parts: dict[str, str], root: Path) -> dict[str, float]:
    """The mode's chain in a fresh job folder holding the curated parts; seconds per stage run."""
    from flows.execute import Artefact, InProcess, Plan, portrait_chain
    from flows.portrait_config import chain_people, portrait_values, resolve_style
    from tasks.catalog import face_instance

    shutil.copytree(base / "faces", root / "faces")
    artefacts = {person: Artefact(key=Path(part).stem, path=part) for person, part in parts.items()}
    if config.kind == "template":
        given = {face_instance("curate", f): artefacts[p[0]] for f, p in config.persons.items()}
        usable = {f: 1 for f in config.persons}
    else:
        given, usable = {"curate": artefacts["obama"]}, {None: 1}
    runner = InProcess(Plan(root, portrait_values(config, resolve_style(config))))
    portrait_chain(runner, given, config.mode, config.kind, *chain_people(config, usable))
    return runner.seconds


def measure(size: int, steps: int, images: int, repeats: int) -> list[tuple[str, str]]:
    from tests.flows.modes_helpers import untrained_adapter

    work = Path(tempfile.mkdtemp(prefix="bench-modes-"))
    try:
        register_stand_ins()
        adapter = untrained_adapter(work / "adapter").adapter
        template = work / "group.jpg"
        from PIL import Image

        Image.fromarray(photo("bald_guys.jpg", 1024)).save(template, quality=92)
        base = work / "base"
        parts = curate_people(base, work)
        modes = ("infinite style", "pose", *FACES)
        for mode in modes:  # warm-up: models loaded, kernels built
            run_mode(mode, mode_config(mode, adapter, template, size, steps, images, 1), base, parts,
                     work / "warm" / mode)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for round_ in range(repeats):  # interleaved, so a busy spell of the machine spreads over every mode
            for mode in modes:
                config = mode_config(mode, adapter, template, size, steps, images, 42)
                runs[mode].append(run_mode(mode, config, base, parts, work / f"measured{round_}" / mode))
        seconds = {mode: min(found, key=lambda stages: sum(stages.values())) for mode, found in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reference = sum(seconds["infinite style"].values()) / images
    rows = []
    for mode, stages in seconds.items():
        per_image = sum(stages.values()) / images
        split = ", ".join(f"{name} {s:.1f}" for name, s in stages.items())
        rows.append((mode, f"{per_image:.2f} s/image   ({per_image / reference:.2f}x infinite style)   [{split}]"))
    rows.append(("setting", f"tiny test model, CPU, {size}², {steps} steps, {images} images, best of {repeats} runs, "
                            "face adapter identity, tiny ControlNets (openpose + canny), template bald_guys.jpg at "
                            "1024 px (faces 17; 3 and 17)"))
    rows.append(("host", host_line()))
    return rows


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="measured runs per mode; the fastest is reported")
    args = parser.parse_args()
    from flows.settings import apply_defaults

    torch.manual_seed(0)
    apply_defaults()  # the CLI's settings: a 90 s server start-up timeout on this loaded machine
    private_prefect_home("bench-modes")
    start_server()
    text = print_table("Portrait modes (seconds per image, stage seconds per job in brackets)",
                       measure(args.size, args.steps, args.images, args.repeats))
    print(f"saved {save(text, 'modes-cpu-vm.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
