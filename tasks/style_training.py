"""`train-style`: a style LoRA from pictures, written into a style folder as NAME.safetensors + NAME.yaml.

Checkpoints and the training record live in STYLES_DIR/.train-style/NAME/,
which the style library does not read. The LoRA is written before the YAML
that names it, each atomically, so the library never sees a style whose LoRA
is missing, and lists the new style as soon as the YAML lands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import task

from components.diffusion.style_training import default_trigger, trained_style_definition
from components.diffusion.styles import StyleError, parse_style
from components.validation import safe_name
from tasks.checkpoints import FileCheckpointStore
from tasks.config import BaseModelConfig, LoadConfig, StyleTrainConfig
from tasks.gpu import GpuConfig, gpu_slot
from tasks.storage import atomic_write_bytes, atomic_write_json, digest
from tasks.workspace import code_version

WORK_FOLDER = ".train-style"
RECORD = "record.json"


def check_style_name(name: str) -> str:
    """A new style's name: safe as a file name, and a valid style name ([a-z0-9_-], at most 40)."""
    safe_name(name, "style name", max_len=40)
    if name != name.lower() or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"invalid style name {name!r}: lower-case letters, digits, '_' and '-' only")
    return name


def training_key(pictures, name: str, config: StyleTrainConfig, base: BaseModelConfig, load: LoadConfig) -> str:
    """The pictures' content and given captions, the settings and the trainer's code."""
    inputs = sorted((p.sha256, p.given_caption) for p in pictures)
    return digest("train-style", name, inputs, config.model_dump(mode="json"), base.model_dump(mode="json"),
                  load.model_dump(mode="json"), code_version("train", "peft-lora"))


def train_style(images: list[str], name: str, out: str, config: StyleTrainConfig, base: BaseModelConfig,
                load: LoadConfig, captions: str | None = None, force: bool = False,
                gpu: GpuConfig | None = None) -> str:
    """Train (or resume, or reuse) the style LoRA; returns the path of NAME.yaml."""
    from tasks.style_data import style_pictures

    check_style_name(name)
    folder = Path(out).resolve()
    work = folder / WORK_FOLDER / name
    style_file, lora_file = folder / f"{name}.yaml", folder / f"{name}.safetensors"
    _check_not_taken(folder, name, work)
    pictures, skipped = style_pictures(images, load, captions)
    key = training_key(pictures, name, config, base, load)
    if not force and style_file.is_file() and lora_file.is_file() and _recorded_key(work) == key:
        return str(style_file)
    trigger = config.trigger or default_trigger(name)
    weights, rows = _train(pictures, config, base, load, trigger, work / "checkpoints" / key, gpu)
    atomic_write_bytes(lora_file, _lora_bytes(weights.state_dict))
    definition = trained_style_definition(name, trigger, lora_file.name, [r["caption"] for r in rows],
                                          config.fixed_caption, config.steps, base.spec)
    parse_style(definition, str(style_file))  # what we write must read back
    atomic_write_bytes(style_file, _yaml_bytes(definition))
    atomic_write_json(work / RECORD, {"key": key, "name": name, "trigger": trigger, "pictures": rows,
                                      "skipped": skipped, "steps": config.steps, "losses": weights.losses,
                                      "base_model": base.spec, "train": config.model_dump(mode="json")})
    return str(style_file)


def training_record(out: str, name: str) -> dict:
    return json.loads((Path(out) / WORK_FOLDER / name / RECORD).read_text())


def _train(pictures, config: StyleTrainConfig, base: BaseModelConfig, load: LoadConfig, trigger: str,
           checkpoints: Path, gpu: GpuConfig | None):
    from components.diffusion.lora import LoraTrainer
    from tasks.diffusion_models import pipeline_for
    from tasks.progress import training_progress
    from tasks.style_data import style_examples

    examples, rows = style_examples(pictures, load, config.resolution, trigger, config.fixed_caption,
                                    config.tag_faces)
    with gpu_slot(gpu):
        trainer = LoraTrainer(pipeline_for(base), crop="image", **config.component_options())
        with training_progress(config.steps, "train-style") as progress:
            weights = trainer.train(examples, checkpoints=FileCheckpointStore(checkpoints), progress=progress)
    return weights, rows


def _check_not_taken(folder: Path, name: str, work: Path) -> None:
    """Retraining our own style is fine; replacing a style someone wrote is not."""
    from tasks.styles import scan_style_library

    if not folder.is_dir():
        return
    ours = folder / f"{name}.yaml"
    for entry in scan_style_library(folder):
        if entry.name == name and not (entry.file == ours and (work / RECORD).is_file()):
            raise StyleError(f"a style named {name!r} already exists in {folder} ({entry.file.name}) and was not "
                             "made by train-style: choose another --name")


def _recorded_key(work: Path) -> str | None:
    try:
        return json.loads((work / RECORD).read_text()).get("key")
    except (OSError, ValueError):
        return None


def _lora_bytes(state_dict: dict) -> bytes:
    """diffusers' LoRA file layout (keys under "unet.", format metadata), as save_lora_weights writes it."""
    from safetensors.torch import save

    return save({f"unet.{k}": v.contiguous() for k, v in state_dict.items()}, metadata={"format": "pt"})


def _yaml_bytes(definition: dict) -> bytes:
    import yaml

    header = "# Written by `python -m flows train-style`; the LoRA is the file next to this one.\n"
    return (header + yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=110)).encode()


def _cache_key(context: Any, parameters: dict[str, Any]) -> str:
    from tasks.style_data import style_pictures

    load = parameters["load"]
    pictures, _ = style_pictures(parameters["images"], load, parameters.get("captions"))
    return training_key(pictures, parameters["name"], parameters["config"], parameters["base"], load) + \
        digest(str(Path(parameters["out"]).resolve()))[:8]


train_style_task = task(train_style, name="train-style", task_run_name="train-style", cache_key_fn=_cache_key,
                        persist_result=True)
