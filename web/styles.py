"""The style library as the web app shows it: name, description, size, and a preview image when one ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.styles import load_style_library

PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def style_list(styles_dir: str) -> list[dict[str, Any]]:
    return [{"name": name, "description": style.description, "width": style.width, "height": style.height,
             "steps": style.steps, "lora": bool(style.loras),
             "preview": f"/api/v1/styles/{name}/preview" if _preview_of(styles_dir, name, style) else None}
            for name, style in sorted(load_style_library(styles_dir).items())]


def style_preview(styles_dir: str, name: str) -> Path | None:
    """The style's own `preview` (checked by the library to lie inside the style folder), else
    `<styles_dir>/<name>.png` (or .jpg/.jpeg/.webp) beside the style file; for a known style only."""
    style = load_style_library(styles_dir).get(name)
    return _preview_of(styles_dir, name, style) if style is not None else None


def _preview_of(styles_dir: str, name: str, style) -> Path | None:
    if style.preview and Path(style.preview).suffix.lower() in PREVIEW_SUFFIXES and Path(style.preview).is_file():
        return Path(style.preview)
    return next((p for s in PREVIEW_SUFFIXES if (p := Path(styles_dir) / f"{name}{s}").is_file()), None)
