"""The record of one run: what it was given, what each stage did, what it produced.

Kept as JSON next to the artefacts so `status` and `rerun` work from the job
directory alone, after a crash too (it is rewritten atomically after every
stage).
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tasks.storage import atomic_write_json

# reused: an artefact taken from another job (a person's face LoRA), not computed by this one
StageState = Literal["done", "cached", "reused", "failed", "not run", "running"]


class StageStatus(BaseModel):
    state: StageState = "not run"
    keys: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)  # artefact paths, relative to the job root
    error: str | None = None


class RunRecord(BaseModel):
    run_id: str
    kind: Literal["curate", "portrait", "adapter"]
    inputs: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    batches: list[str] = Field(default_factory=list)
    part: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)  # photos by status (curation)
    reasons: dict[str, int] = Field(default_factory=dict)  # photos by reason, when not ok
    stages: dict[str, StageStatus] = Field(default_factory=dict)
    # artefacts a portrait chain is given from outside it: the people's curated parts, reused LoRAs
    given: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fingerprints: dict[str, list] = Field(default_factory=dict)  # file -> [size, mtime_ns, sha256]
    state: Literal["running", "completed", "failed"] = "running"
    error: str | None = None
    updated: str = ""

    def mark(self, stage: str, state: StageState, keys: list[str] | None = None, error: str | None = None,
             outputs: list[str] | None = None) -> None:
        self.stages[stage] = StageStatus(state=state, keys=keys or [], outputs=outputs or [], error=error)


def runs_dir(root: str | Path) -> Path:
    return Path(root) / "runs"


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def save_run(root: str | Path, record: RunRecord) -> None:
    record.updated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write_json(runs_dir(root) / f"{record.run_id}.json", record.model_dump(mode="json"))


def load_run(root: str | Path, run_id: str) -> RunRecord:
    path = runs_dir(root) / f"{run_id}.json"
    if not path.is_file():
        known = sorted(p.stem for p in runs_dir(root).glob("*.json"))
        raise FileNotFoundError(f"no run {run_id!r} in {root}; runs there: {', '.join(known) or 'none'}")
    return RunRecord.model_validate_json(path.read_text())


def latest_run(root: str | Path) -> RunRecord:
    paths = sorted(runs_dir(root).glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise FileNotFoundError(f"{root} holds no run record (runs/*.json): is it a job directory?")
    return RunRecord.model_validate_json(paths[-1].read_text())
