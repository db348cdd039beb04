"""Artefact keys: a stage's inputs' keys + its configuration + the content of the files it names + its code.

Cheap to compute without running anything (no Prefect, torch or dlib), so a
job can be planned, and `status` can tell which artefacts are current, before
any model is loaded.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tasks.catalog import CURATION, Stage
from tasks.codeversion import PROJECT_ROOT, code_version
from tasks.digests import digest

# The module that runs a curation stage's function over a batch: part of every curation stage's code.
CURATION_RUNNER = "tasks.curation"


class FileFingerprints:
    """sha256 of files by content, remembered by (size, mtime) so a large file is read once.

    `known` is what an earlier run recorded (path -> [size, mtime_ns, sha256]):
    planning a re-run or `status` does not hash a 4 GB checkpoint again.
    """

    def __init__(self, known: dict[str, list] | None = None) -> None:
        self.known: dict[str, list] = dict(known or {})

    def of(self, path: str | Path) -> str:
        path = Path(path).expanduser().resolve()
        if path.is_dir():
            return self._folder(path)
        if not path.is_file():
            return "missing"
        info = path.stat()
        remembered = self.known.get(str(path))
        if remembered and remembered[:2] == [info.st_size, info.st_mtime_ns]:
            return remembered[2]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        self.known[str(path)] = [info.st_size, info.st_mtime_ns, h.hexdigest()]
        return h.hexdigest()

    def _folder(self, folder: Path) -> str:
        """A model folder by its files' names, sizes and times: hashing gigabytes on every plan costs too much."""
        entries = []
        for dirpath, _, names in os.walk(folder):
            for name in sorted(names):
                info = (Path(dirpath) / name).stat()
                entries.append((str(Path(dirpath, name).relative_to(folder)), info.st_size, info.st_mtime_ns))
        return digest(sorted(entries))


def content_files(value: Any) -> list[str]:
    """Files whose content a configuration value stands for (a style LoRA, a base model file, an adapter)."""
    files = getattr(value, "content_files", None)
    return list(files()) if callable(files) else []


def stage_code_version(stage: Stage, values: dict[str, Any], root: Path = PROJECT_ROOT) -> str:
    """The stage's module, its component's and those it uses, and all they import (files under `root`)."""
    from components.registry import dependencies, module_of

    modules = [stage.module]
    if stage.group == CURATION:
        modules.append(CURATION_RUNNER)
    backend = getattr(values.get(stage.backend_from or stage.config_name), "backend", None)
    uses = list(stage.uses)
    if stage.registry and backend:
        modules.append(module_of(stage.registry, backend))
        uses += dependencies(stage.registry, backend).values()
    modules += [module_of(*spec.split(":", 1)) for spec in uses]
    return code_version(modules, root)


def stage_key(stage: Stage, input_keys: list[str], values: dict[str, Any],
              fingerprints: FileFingerprints | None = None) -> str:
    """The key of `stage` given its inputs' keys and the job's configuration values."""
    fingerprints = fingerprints or FileFingerprints()
    keyed = {}
    files = {}
    for name in (stage.config_name, *stage.params):
        value = values.get(name)
        keyed[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        contents = [fingerprints.of(p) for p in content_files(value)]
        if contents:
            files[name] = contents
    return digest(stage.name, list(input_keys), keyed, files, stage_code_version(stage, values))


def part_name(batch_keys: list[str], single_identity: bool, identity_threshold: float) -> str:
    """The dataset part a run's batches become (known before it is written, so a run can claim it)."""
    key = digest("assemble", batch_keys, single_identity, identity_threshold, code_version(["tasks.assemble"]))
    return f"part-{key}.parquet"
