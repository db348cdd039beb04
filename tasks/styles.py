"""Reading the style library from a folder: our YAML styles and FaceChain's JSON styles side by side.

Each file is hostile input: a broken one is reported with its error and does
not hide the others. A local LoRA (or preview) path is taken relative to the
style file and must stay inside the style folder, symlinks included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.diffusion.facechain_styles import facechain_style, style_name_from_stem
from components.diffusion.styles import Style, StyleError, StyleLora, parse_lora_spec, parse_style
from components.validation import inside

YAML_SUFFIXES, JSON_SUFFIXES = (".yaml", ".yml"), (".json",)
MAX_STYLE_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class StyleEntry:
    """One file of the library: its style, or why it has none."""

    file: Path
    name: str  # the style's name; the file's stem when the file is broken
    style: Style | None
    error: str | None = None


def scan_style_library(directory: str | Path) -> list[StyleEntry]:
    """Every style file of `directory` (not its sub-folders), in file-name order; never raises per file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise StyleError(f"style library {str(directory)!r} is not a folder")
    entries: list[StyleEntry] = []
    taken: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in (*YAML_SUFFIXES, *JSON_SUFFIXES) or path.name.startswith("."):
            continue
        try:
            style = read_style_file(path, directory)
        except StyleError as error:
            entries.append(StyleEntry(path, _name_from_file(path), None, str(error)))
            continue
        if style.name in taken:
            entries.append(StyleEntry(path, style.name, None, f"style {style.name!r} ({path}): name already used "
                                                              f"by {taken[style.name].name}"))
            continue
        taken[style.name] = path
        entries.append(StyleEntry(path, style.name, style))
    return entries


def load_style_library(directory: str | Path) -> dict[str, Style]:
    """The usable styles by name (broken files are left out: `find_style` and listings report them)."""
    return {entry.name: entry.style for entry in scan_style_library(directory) if entry.style is not None}


def find_style(directory: str | Path, name: str) -> Style:
    """The named style; else its file's error, or the names available."""
    entries = scan_style_library(directory)
    for entry in entries:
        if entry.name == name:
            if entry.style is None:
                raise StyleError(entry.error)
            return entry.style
    usable = sorted(e.name for e in entries if e.style is not None)
    broken = sorted(e.file.name for e in entries if e.style is None)
    raise StyleError(f"unknown style {name!r}; available: {', '.join(usable) or 'none'}"
                     + (f" (broken files: {', '.join(broken)})" if broken else ""))


def read_style_file(path: Path, directory: Path) -> Style:
    """One YAML (ours) or JSON (FaceChain's) style file, its paths resolved inside `directory`."""
    mapping = _read_mapping(path)
    if path.suffix.lower() in JSON_SUFFIXES:
        style = facechain_style(mapping, path.stem, str(path))
        return _with_local_paths(style, path, directory, facechain=True)
    if isinstance(mapping, dict):
        mapping.setdefault("name", path.stem)
    return _with_local_paths(parse_style(mapping, str(path)), path, directory)


def style_with_loras(base: Style, specs: list[str], *, trust_pickle: bool = False) -> Style:
    """`base` plus command-line LoRAs (`SOURCE[,weight=W][,revision=R][,file=F]`, weight default style_weight)."""
    loras = [_checked_cli_lora(parse_lora_spec(spec, base.style_weight), trust_pickle) for spec in specs]
    return base.model_copy(update={"loras": (*base.loras, *loras)})


def _checked_cli_lora(lora: StyleLora, trust_pickle: bool) -> StyleLora:
    """A local file from the command line: made absolute, present, not a pickle unless trusted."""
    if lora.is_hub:
        return lora
    path = Path(lora.source).expanduser()
    if lora.is_pickle and not trust_pickle:
        raise StyleError(f"style LoRA {lora.source!r}: pickle-based file refused; pass --trust-pickle to load it, "
                         "or convert it to .safetensors")
    if not path.is_file():
        raise StyleError(f"style LoRA {lora.source!r}: no such file")
    return lora.model_copy(update={"source": str(path.resolve())})


def _name_from_file(path: Path) -> str:
    """A broken file's style name, as a readable one would get it (FaceChain styles: from the file name)."""
    if path.suffix.lower() in JSON_SUFFIXES:
        try:
            return style_name_from_stem(path.stem)
        except StyleError:
            pass
    return path.stem


def _read_mapping(path: Path):
    if not path.is_file():  # a pipe would block the read forever
        raise StyleError(f"style file {path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StyleError(f"style file {path}: cannot be read: {error}") from None
    if len(data) > MAX_STYLE_FILE_BYTES:
        raise StyleError(f"style file {path}: larger than {MAX_STYLE_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
        if path.suffix.lower() in JSON_SUFFIXES:
            return json.loads(text)
        return yaml.safe_load(text)
    except UnicodeDecodeError:
        raise StyleError(f"style file {path}: not UTF-8 text") from None
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        kind = "JSON" if path.suffix.lower() in JSON_SUFFIXES else "YAML"
        raise StyleError(f"style file {path}: not valid {kind}: {error}") from None


def _with_local_paths(style: Style, source: Path, directory: Path, facechain: bool = False) -> Style:
    """Local LoRA paths made absolute inside the style folder; the preview, when present, likewise."""
    loras = []
    for index, lora in enumerate(style.loras):
        if lora.is_hub:
            loras.append(lora)
            continue
        try:
            path = inside(directory, source.parent / Path(lora.source).expanduser())
        except ValueError as error:
            raise StyleError(f"style {style.name!r} ({source}): key 'loras.{index}.source': {error}") from None
        loras.append(lora.model_copy(update={"source": str(path)}))
    preview = _preview(style.preview, _preview_places(source, directory, facechain))
    return style.model_copy(update={"loras": tuple(loras), "preview": preview})


def _preview(preview: str | None, places: list[tuple[Path, Path]]) -> str | None:
    """The preview image, taken relative to each (base, allowed root) in turn, if it exists; else None."""
    if not preview:
        return None
    for base, root in places:
        try:
            path = inside(root, base / preview)
        except ValueError:
            continue
        if path.is_file():
            return str(path)
    return None


def _preview_places(source: Path, directory: Path, facechain: bool) -> list[tuple[Path, Path]]:
    """Next to the style file; for FaceChain's `img`, also its repository (styles/<base>/X.json -> style_image/)."""
    places = [(source.parent, directory)]
    if facechain:
        repository = directory.resolve().parent.parent
        places.append((repository, repository / "style_image"))
    return places


def resolve_job_style(directory: str | Path, name: str, lora_specs: list[str] | tuple[str, ...] = (), *,
                      trust_pickle: bool = False, targets: tuple[str, ...] = ("unet", "text_encoder")):
    """The job's style plus its `--style-lora` values, every LoRA found on this machine: a `JobStyle`.

    Unknown or broken style, a LoRA missing from the local caches, a pickle without
    --trust-pickle, a file in neither LoRA format or for parts the base model lacks
    (`targets`, e.g. an SDXL LoRA on SD 1.5): all raised here, before any work.
    """
    from tasks.job_style import job_style

    style = style_with_loras(find_style(directory, name), list(lora_specs), trust_pickle=trust_pickle)
    return job_style(style, trust_pickle=trust_pickle, targets=targets)
