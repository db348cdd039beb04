"""Style LoRAs found on this machine: local files, or hub ids in the local HF / ModelScope caches.

Nothing is downloaded: a hub id is looked up in the Hugging Face cache
(HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub; layout
`models--owner--name/refs/<revision>` -> `snapshots/<commit>/<file>`) and in
the ModelScope cache (MODELSCOPE_CACHE, else ~/.cache/modelscope[/hub]; the
`models/owner--name/snapshots/<revision>/` layout of modelscope >= 1.40 and the
one-version `models/owner/name/` layouts before it). A LoRA that is not there
is an error before any work, saying how to fetch it on a connected machine.
The generation key holds each file's content, not its path (tasks/job_style.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.diffusion.lora_formats import check_lora_keys
from components.diffusion.styles import PICKLE_SUFFIXES, Style, StyleError, StyleLora
from components.validation import inside

DIFFUSERS_LORA_FILE = "pytorch_lora_weights.safetensors"
_COMMIT = re.compile(r"[0-9a-f]{40}")


class LoraNotFound(FileNotFoundError):
    """A style LoRA is not on this machine; the message says where it was looked for and how to get it."""


@dataclass(frozen=True)
class ResolvedLora:
    name: str  # adapter name in a generation request
    lora: StyleLora  # as the style or the command line declared it
    path: Path  # the weights file
    where: str  # "local file", "Hugging Face cache" or "ModelScope cache"
    note: str = ""  # e.g. a revision the cache layout cannot confirm

    @property
    def weight(self) -> float:
        return self.lora.weight


def hf_cache_dir() -> Path:
    """Read at call time (huggingface_hub reads its environment once, at import)."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def modelscope_cache_roots() -> list[Path]:
    if os.environ.get("MODELSCOPE_CACHE"):
        return [Path(os.environ["MODELSCOPE_CACHE"]).expanduser()]
    home = Path.home() / ".cache" / "modelscope"
    return [home / "hub", home]


def find_in_hf_cache(lora: StyleLora) -> Path | None:
    repo = hf_cache_dir() / f"models--{lora.source.replace('/', '--')}"
    revision = lora.revision or "main"
    commit = revision if _COMMIT.fullmatch(revision) else _read_ref(repo / "refs" / revision)
    if commit is None:
        return None
    return _pick_file(repo, repo / "snapshots" / commit, lora)


def find_in_modelscope_cache(lora: StyleLora) -> tuple[Path, str] | None:
    """(file, note); the note says when the layout keeps one version whose revision it does not record."""
    owner, name = lora.source.split("/", 1)
    for root in modelscope_cache_roots():
        repo = root / "models" / f"{owner}--{name}"
        snapshot = _modelscope_snapshot(repo / "snapshots", lora.revision)
        if snapshot is not None and (found := _pick_file(repo, snapshot, lora)) is not None:
            return found, ""
        for folder in _modelscope_flat_folders(root, owner, name):
            if (found := _pick_file(folder, folder, lora)) is not None:
                note = f"revision {lora.revision} not checked: this cache layout keeps one version" \
                    if lora.revision else ""
                return found, note
    return None


SD15_TARGETS = ("unet", "text_encoder")


def resolve_lora(lora: StyleLora, name: str, *, trust_pickle: bool = False, style: str | None = None,
                 targets: Sequence[str] = SD15_TARGETS) -> ResolvedLora:
    """The file behind `lora`, checked to be a LoRA format we load for a model with these parts (`targets`:
    the UNet and the text encoders of the base model's family); errors before any work."""
    owner = f" of style {style!r}" if style else ""
    if lora.is_hub:
        path, where, note = _find_hub_lora(lora, owner)
    else:
        path, where, note = Path(lora.source).expanduser(), "local file", ""
        if not path.is_file():
            raise LoraNotFound(f"style LoRA {lora.source!r}{owner}: no such file")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise StyleError(f"style LoRA {lora.label!r}{owner}: {path.name} is pickle-based (loading it can run "
                             "code); pass --trust-pickle to load it, or convert it to .safetensors")
    else:
        check_lora_keys(_safetensors_keys(path, lora.label), f"{lora.label!r}{owner}", targets)
    return ResolvedLora(name=name, lora=lora, path=path.absolute(), where=where, note=note)


def resolve_style_loras(style: Style, *, trust_pickle: bool = False,
                        targets: Sequence[str] = SD15_TARGETS) -> list[ResolvedLora]:
    """Every LoRA of the style, in order, named style_0, style_1, ...; the first missing one is the error."""
    return [resolve_lora(lora, f"style_{i}", trust_pickle=trust_pickle, style=style.name, targets=targets)
            for i, lora in enumerate(style.loras)]


def locate_lora(lora: StyleLora) -> tuple[Path | None, str]:
    """(file or None, where or why not), for listings: never raises for an absent LoRA."""
    if not lora.is_hub:
        path = Path(lora.source)
        return (path, "local file") if path.is_file() else (None, "no such file")
    try:
        path, where, note = _find_hub_lora(lora, "")
    except (LoraNotFound, StyleError) as error:
        missing = isinstance(error, LoraNotFound)
        return None, "not in the local Hugging Face or ModelScope cache" if missing else str(error)
    return path, where + (f" ({note})" if note else "")


def load_lora_state_dict(path: str | Path, label: str, *, trust_pickle: bool = False) -> dict:
    """The tensors of a LoRA file (safetensors; a pickle only when trusted, weights only)."""
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise StyleError(f"style LoRA {label!r}: pickle-based file refused without --trust-pickle")
        import torch

        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state_dict, dict) or not all(torch.is_tensor(v) for v in state_dict.values()):
            raise StyleError(f"style LoRA {label!r}: the pickle holds no plain dict of tensors")
        return state_dict
    from safetensors.torch import load_file

    return load_file(str(path))


def fetch_commands(lora: StyleLora) -> str:
    file = f" {lora.file}" if lora.file else ""
    revision = f" --revision {lora.revision}" if lora.revision else ""
    return (f"  hf download {lora.source}{file}{revision}    (huggingface_hub < 1.0: huggingface-cli download ...)\n"
            f"  modelscope download {lora.source}{file}{revision}    (modelscope < 1.40: --model {lora.source})")


def _find_hub_lora(lora: StyleLora, owner: str) -> tuple[Path, str, str]:
    if (found := find_in_hf_cache(lora)) is not None:
        return found, "Hugging Face cache", ""
    if (located := find_in_modelscope_cache(lora)) is not None:
        return located[0], "ModelScope cache", located[1]
    searched = "\n  ".join(str(p) for p in [hf_cache_dir(), *modelscope_cache_roots()])
    raise LoraNotFound(
        f"style LoRA {lora.source!r}{owner} (revision {lora.revision or 'default'}, file "
        f"{lora.file or 'the repository’s only .safetensors'}) is not in a local model cache, and this machine "
        f"downloads nothing.\nSearched:\n  {searched}\nOn a connected machine run one of\n{fetch_commands(lora)}\n"
        "then copy the cache folder (~/.cache/huggingface or ~/.cache/modelscope) here, or set HF_HOME / "
        "MODELSCOPE_CACHE to where it is.")


def _read_ref(ref: Path) -> str | None:
    try:
        commit = ref.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return commit if _COMMIT.fullmatch(commit) else None


def _modelscope_snapshot(snapshots: Path, revision: str | None) -> Path | None:
    if revision:
        return snapshots / revision if (snapshots / revision).is_dir() else None
    for default in ("master", "main"):
        if (snapshots / default).is_dir():
            return snapshots / default
    found = sorted(p for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    return found[0] if len(found) == 1 else None


def _modelscope_flat_folders(root: Path, owner: str, name: str) -> list[Path]:
    """Layouts of modelscope <= 1.37: '.' in a name was stored as '___'."""
    names = dict.fromkeys([name, name.replace(".", "___")])
    bases = [root / "models", root, root / "hub"]
    return [base / owner / n for base in bases for n in names if (base / owner / n).is_dir()]


def _pick_file(repo: Path, folder: Path, lora: StyleLora) -> Path | None:
    """The named file, else the diffusers LoRA file, else the folder's only .safetensors; inside `repo`."""
    if not folder.is_dir():
        return None
    if lora.file:
        candidate = folder / lora.file
    elif (folder / DIFFUSERS_LORA_FILE).is_file():
        candidate = folder / DIFFUSERS_LORA_FILE
    else:
        weights = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".safetensors" and p.is_file())
        if len(weights) > 1:
            raise StyleError(f"style LoRA {lora.source!r}: {folder} holds several .safetensors files "
                             f"({', '.join(p.name for p in weights[:5])}); name one with file:")
        if not weights:
            return None
        candidate = weights[0]
    if not candidate.is_file():
        return None
    try:  # HF snapshots link into ../../blobs: inside the repository folder, never beyond it
        inside(repo, candidate)
    except ValueError as error:
        raise StyleError(f"style LoRA {lora.label!r}: {error}") from None
    return candidate


def _safetensors_keys(path: Path, label: str) -> list[str]:
    from safetensors import safe_open

    try:  # numpy: reading the header this way needs no torch (`status` resolves the style too)
        with safe_open(str(path), framework="numpy") as weights:
            return list(weights.keys())
    except Exception as error:  # a truncated or foreign file: safetensors raises its own error types
        raise StyleError(f"style LoRA {label!r}: {path} is not a readable .safetensors file ({error})") from None
