"""Find a seed model offline and build its `modelscope` pipeline, as FaceChain does.

A model is a folder in ModelScope's layout (`configuration.json` + weights):
either the `model_dir` option, or the snapshot of `model_id` in the ModelScope
cache (`MODELSCOPE_CACHE`, else `~/.cache/modelscope/hub`). The folder is
found, and its files checked, before `modelscope` is even imported, so a
missing model is refused in milliseconds with the command that fetches it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from components.diffusion.base_model import modelscope_candidates

CONFIGURATION = "configuration.json"
# modelscope writes "Revision:<rev>,CreatedAt:<time>" here when it downloads a snapshot.
REVISION_FILE = ".mv"


class SeedModelNotFound(RuntimeError):
    """The model is not on this machine; the message names its id and how to fetch it."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a backend's model comes from and what its folder must hold."""

    model_id: str
    revision: str | None
    files: tuple[str, ...]  # what the folder must hold (configuration.json for a modelscope pipeline)

    def fetch_hint(self) -> str:
        revision = f" --revision {self.revision}" if self.revision else ""
        return f"modelscope download --model {self.model_id}{revision}"


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")


def check_spec(spec: ModelSpec) -> None:
    """An id or revision from a config is hostile input: it becomes a path in the cache."""
    if not isinstance(spec.model_id, str) or not _HUB_ID.fullmatch(spec.model_id) or ".." in spec.model_id:
        raise ValueError(f"model id must look like owner/name, got {spec.model_id!r}")
    if spec.revision is not None and (not isinstance(spec.revision, str) or not _REVISION.fullmatch(spec.revision)
                                      or ".." in spec.revision):
        raise ValueError(f"revision must be a plain tag or commit, got {spec.revision!r}")


def resolve_model_dir(spec: ModelSpec, model_dir: str | os.PathLike | None = None) -> Path:
    """The local folder of the model, or SeedModelNotFound (no network, no import of modelscope)."""
    check_spec(spec)
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
        missing = _missing_files(folder, spec.files)
        if missing:
            raise SeedModelNotFound(
                f"model folder {str(folder)!r} for {spec.model_id} lacks {', '.join(missing)}; "
                f"get the model on a connected machine with `{spec.fetch_hint()}` and pass its folder")
        return folder
    candidates = modelscope_candidates(spec.model_id)
    for folder in candidates:
        if not _missing_files(folder, spec.files):
            _check_revision(folder, spec)
            return folder
    searched = "\n  ".join(str(c) for c in candidates[:4])
    raise SeedModelNotFound(
        f"model {spec.model_id} is not in the local ModelScope cache and this machine cannot download it.\n"
        f"Searched (first of {len(candidates)}):\n  {searched}\n"
        f"To get it: on a connected machine run `{spec.fetch_hint()}` and copy the cache folder "
        "here (or set MODELSCOPE_CACHE), or pass model_dir=FOLDER.")


def is_present(spec: ModelSpec, model_dir: str | os.PathLike | None = None) -> bool:
    try:
        resolve_model_dir(spec, model_dir)
    except SeedModelNotFound:
        return False
    return True


def check_pickle_rule(trust_pickle: bool) -> None:
    """modelscope reads these `.pt` files with a bare `torch.load`: allowed only while that means weights_only.

    torch >= 2.6 defaults to weights_only=True (plain state_dicts load, code
    objects are refused); TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD turns that off,
    and then only --trust-pickle may load them.
    """
    if trust_pickle:
        return
    import torch

    major, minor = (int(p) for p in torch.__version__.split(".")[:2])
    forced_off = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0").lower() in ("1", "y", "yes", "true")
    if (major, minor) < (2, 6) or forced_off:
        raise ValueError(
            "this model's .pt weights would be unpickled with arbitrary code allowed (torch < 2.6 or "
            "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set); pass trust_pickle=True (--trust-pickle) only for files you trust")


def build_pipeline(task: str, folder: Path, **kwargs: Any):
    """`modelscope.pipelines.pipeline(task, model=folder)`, FaceChain's call, offline."""
    from components.seed.torchvision_cpu import import_torchvision

    import_torchvision()  # modelscope's pipeline modules import torchvision
    from modelscope.pipelines import pipeline

    return pipeline(task, model=str(folder), **kwargs)


class SeedBackend:
    """What every seed backend declares: its model, pipeline task, licence, and where it is."""

    MODEL_ID: ClassVar[str]
    REVISION: ClassVar[str | None]
    TASK: ClassVar[str]
    FILES: ClassVar[tuple[str, ...]]
    LICENCE: ClassVar[str]

    @classmethod
    def spec(cls, model_id: str | None = None, revision: str | None = None) -> ModelSpec:
        return ModelSpec(model_id or cls.MODEL_ID, revision if revision is not None else cls.REVISION, cls.FILES)

    @classmethod
    def present(cls, model_dir: str | os.PathLike | None = None) -> bool:
        """Whether the model is on this machine (the `flows backends` column)."""
        return is_present(cls.spec(), model_dir)

    def _load(self, *, model_id: str | None, revision: str | None, model_dir, trust_pickle: bool,
              **pipeline_kwargs: Any):
        """Resolve the folder (fast refusal), apply the pickle rule, build the pipeline once."""
        spec = self.spec(model_id, revision)
        self.folder = resolve_model_dir(spec, model_dir)
        if any(name.endswith((".pt", ".pth", ".bin", ".ckpt")) for name in spec.files):
            check_pickle_rule(trust_pickle)
        return build_pipeline(self.TASK, self.folder, **pipeline_kwargs)


def _missing_files(folder: Path, files: tuple[str, ...]) -> list[str]:
    return [name for name in files if not (folder / name).is_file()]


def _check_revision(folder: Path, spec: ModelSpec) -> None:
    marker = folder / REVISION_FILE
    if spec.revision is None or not marker.is_file():
        return
    text = marker.read_text(errors="replace").strip()
    cached = text.split(",")[0].removeprefix("Revision:").strip()
    if cached and cached != spec.revision:
        raise SeedModelNotFound(
            f"model {spec.model_id} is cached at revision {cached!r}, not {spec.revision!r} ({folder}); "
            f"run `{spec.fetch_hint()}` on a connected machine, or pass revision={cached!r}")
