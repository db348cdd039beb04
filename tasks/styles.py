"""Reading the style library from YAML files (the file I/O side of components.diffusion.styles)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components.diffusion.styles import PICKLE_SUFFIXES, Style, StyleError, parse_style


def load_style_library(directory: str | Path) -> dict[str, Style]:
    """Every *.yaml style in `directory` by name; a style's name defaults to its file's stem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise StyleError(f"style library {str(directory)!r} is not a folder")
    styles: dict[str, Style] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise StyleError(f"style file {path}: not valid YAML: {error}") from None
        if isinstance(mapping, dict):
            mapping.setdefault("name", path.stem)
        style = _with_resolved_lora(parse_style(mapping, str(path)), path)
        if style.name in styles:
            raise StyleError(f"style {style.name!r} ({path}): name already used by another file")
        styles[style.name] = style
    return styles


def style_from_lora_file(path: str | Path, base: Style) -> Style:
    """`base`'s prompt and settings with a user-provided style LoRA file."""
    path = Path(path).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise StyleError(f"style LoRA {str(path)!r}: pickle-based file refused; convert it to .safetensors")
    if path.suffix.lower() != ".safetensors":
        raise StyleError(f"style LoRA {str(path)!r}: expected a .safetensors file")
    if not path.is_file():
        raise StyleError(f"style LoRA {str(path)!r}: no such file")
    name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-")[:40] or "custom"
    data = base.model_dump() | {
        "name": name,
        "description": f"{base.description} (with style LoRA {path.name})".strip(),
        "lora": str(path.resolve()),
    }
    return parse_style(data, str(path))


def _with_resolved_lora(style: Style, source: Path) -> Style:
    """A local LoRA path made absolute (relative to the style file) and checked to exist."""
    lora = style.lora
    if lora is None:
        return style
    candidate = Path(lora).expanduser()
    if not candidate.is_absolute():
        candidate = source.parent / candidate
    if candidate.is_file():
        return style.model_copy(update={"lora": str(candidate.resolve())})
    if _looks_like_local_path(lora):
        raise StyleError(f"style {style.name!r} ({source}): key 'lora': file {lora!r} not found")
    return style  # a hub id, resolved where LoRAs are fetched


def _looks_like_local_path(lora: str) -> bool:
    """Hub ids are "owner/name"; anything ending in .safetensors or path-shaped is a file."""
    return (
        lora.lower().endswith(".safetensors")
        or lora.startswith(("/", ".", "~"))
        or "\\" in lora
        or lora.count("/") > 1
    )
