"""`train-style`'s files in the style folder: NAME.safetensors + NAME.yaml, and its work folder.

The training itself is the `train-style` stage (tasks/stages/train_style.py);
its artefacts, checkpoints, run record and `record.json` (what the style was
trained on) live in STYLES_DIR/.train-style/NAME/, which the style library
does not read. The LoRA is published before the YAML that names it, each
atomically, so the library never sees a style whose LoRA is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.diffusion.style_training import trained_style_definition
from components.diffusion.styles import StyleError, parse_style
from components.validation import safe_name
from tasks.storage import atomic_write_bytes, atomic_write_json

WORK_FOLDER = ".train-style"
RECORD = "record.json"


def check_style_name(name: str) -> str:
    """A new style's name: safe as a file name, and a valid style name ([a-z0-9_-], at most 40)."""
    safe_name(name, "style name", max_len=40)
    if name != name.lower() or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"invalid style name {name!r}: lower-case letters, digits, '_' and '-' only")
    return name


def work_folder(folder: Path, name: str) -> Path:
    return folder / WORK_FOLDER / name


def training_record(out: str, name: str) -> dict:
    return json.loads((work_folder(Path(out), name) / RECORD).read_text())


def check_not_taken(folder: Path, name: str) -> None:
    """Retraining our own style is fine; replacing a style someone wrote is not."""
    from tasks.styles import scan_style_library

    if not folder.is_dir():
        return
    ours = folder / f"{name}.yaml"
    made_here = (work_folder(folder, name) / RECORD).is_file()
    for entry in scan_style_library(folder):
        if entry.name == name and not (entry.file == ours and made_here):
            raise StyleError(f"a style named {name!r} already exists in {folder} ({entry.file.name}) and was not "
                             "made by train-style: choose another --name")


def published_key(folder: Path, name: str) -> str | None:
    """The key of the LoRA the style folder holds now (None: none, or not whole)."""
    if not (folder / f"{name}.yaml").is_file() or not (folder / f"{name}.safetensors").is_file():
        return None
    try:
        return training_record(str(folder), name).get("key")
    except (OSError, ValueError):
        return None


def publish_style(folder: Path, name: str, lora: Path, record: dict) -> Path:
    """Copy the trained LoRA to NAME.safetensors, then write NAME.yaml and the work folder's record.json.

    `record`: key, trigger, pictures (rows with captions), steps, losses, base_model, train.
    """
    lora_file, style_file = folder / f"{name}.safetensors", folder / f"{name}.yaml"
    definition = trained_style_definition(name, record["trigger"], lora_file.name,
                                          [row["caption"] for row in record["pictures"]],
                                          record["train"]["fixed_caption"], record["steps"], record["base_model"])
    parse_style(definition, str(style_file))  # what we write must read back
    atomic_write_bytes(lora_file, lora.read_bytes())
    atomic_write_bytes(style_file, _yaml_bytes(definition))
    atomic_write_json(work_folder(folder, name) / RECORD, record)
    return style_file


def _yaml_bytes(definition: dict) -> bytes:
    import yaml

    header = "# Written by `python -m flows train-style`; the LoRA is the file next to this one.\n"
    return (header + yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=110)).encode()
