"""The style library as the web app shows it: name, description, size, and a preview image when one ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.styles import load_style_library

PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def style_list(styles_dir: str) -> list[dict[str, Any]]:
    return [{"name": name, "description": style.description, "width": style.width, "height": style.height,
             "steps": style.steps, "lora": style.lora is not None,
             "preview": f"/api/v1/styles/{name}/preview" if style_preview(styles_dir, name) else None}
            for name, style in sorted(load_style_library(styles_dir).items())]


def style_preview(styles_dir: str, name: str) -> Path | None:
    """`<styles_dir>/<name>.png` (or .jpg/.jpeg/.webp) beside the style file, for a known style only."""
    if name not in load_style_library(styles_dir):
        return None
    return next((p for s in PREVIEW_SUFFIXES if (p := Path(styles_dir) / f"{name}{s}").is_file()), None)
