"""What `python -m flows styles` shows: each style, where it comes from, its LoRAs and whether they are here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tasks.lora_sources import locate_lora
from tasks.styles import scan_style_library


@dataclass(frozen=True)
class LoraListing:
    label: str  # path, or owner/name[@revision][:file]
    weight: float
    present: bool
    where: str  # the cache or "local file", or why it is missing
    path: str | None = None


@dataclass(frozen=True)
class StyleListing:
    name: str
    file: str
    description: str = ""
    loras: list[LoraListing] = field(default_factory=list)
    preview: str | None = None
    error: str | None = None  # a broken file: why


def style_listing(directory: str | Path) -> list[StyleListing]:
    """Every style file of the library, broken ones included with their error, sorted by name."""
    listings = []
    for entry in scan_style_library(directory):
        if entry.style is None:
            listings.append(StyleListing(name=entry.name, file=str(entry.file), error=entry.error))
            continue
        loras = []
        for lora in entry.style.loras:
            path, where = locate_lora(lora)
            loras.append(LoraListing(label=lora.label, weight=lora.weight, present=path is not None, where=where,
                                     path=None if path is None else str(path)))
        listings.append(StyleListing(name=entry.name, file=str(entry.file), description=entry.style.description,
                                     loras=loras, preview=entry.style.preview))
    return sorted(listings, key=lambda item: (item.name, item.file))


def listing_lines(listings: list[StyleListing]) -> list[str]:
    """Human-readable lines: the style, then one indented line per LoRA and for the preview."""
    lines = []
    for item in listings:
        if item.error:
            lines += [f"{item.name}  BROKEN ({item.file})", f"    error: {item.error}"]
            continue
        lines.append(f"{item.name}  {item.description}".rstrip())
        lines.append(f"    file: {item.file}")
        for lora in item.loras:
            state = "present" if lora.present else "MISSING"
            lines.append(f"    lora: {lora.label} x{lora.weight:g}  {state} - {lora.where}"
                         + (f" ({lora.path})" if lora.path and lora.where != "local file" else ""))
        if not item.loras:
            lines.append("    lora: none (prompt-only style)")
        if item.preview:
            lines.append(f"    preview: {item.preview}")
    return lines
