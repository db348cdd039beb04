"""Job folders: OUT/<user>/<job>/ with the web app's own record, job.json, beside what the flow writes.

A job id or user from a request becomes a path only after it matched the
pattern of the ids this module makes, and the folder is looked up under the
caller's own folder: another user's job is simply not found.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from components.validation import safe_name
from tasks.storage import atomic_write_json

JOB_ID = re.compile(r"j\d{8}-\d{6}-[0-9a-f]{8}")
META = "job.json"
UPLOADS = "uploads"


class Photo(BaseModel):
    filename: str  # as uploaded (display only)
    stored: str  # the file in uploads/


class Submission(BaseModel):
    """One flow run of the job: the first run, a re-run of a stage, a new style, a resume."""

    flow_run_id: str
    kind: str  # "job" | "rerun" | "style" | "resume"
    created: str
    stage: str | None = None
    sets: dict[str, Any] = Field(default_factory=dict)


class JobMeta(BaseModel):
    job: str
    user: str
    created: str
    photos: list[Photo]
    options: dict[str, Any]  # what the user asked for, as typed values
    files: dict[str, str] = Field(default_factory=dict)  # file options (template, pose...) -> stored file
    parameters: dict[str, Any]  # the portrait flow's parameters (photos, out, config)
    submissions: list[Submission] = Field(default_factory=list)
    deleting: bool = False


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_job_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("j%Y%m%d-%H%M%S-") + secrets.token_hex(4)


class JobFolders:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def user_dir(self, user: str) -> Path:
        return self.root / safe_name(user, "user")

    def folder(self, user: str, job: str) -> Path | None:
        """The caller's job folder, or None (a malformed id, another user's job, a deleted one)."""
        if not isinstance(job, str) or JOB_ID.fullmatch(job) is None:
            return None
        path = self.user_dir(user) / job
        return path if (path / META).is_file() else None

    def save(self, folder: Path, meta: JobMeta) -> None:
        atomic_write_json(folder / META, meta.model_dump(mode="json"))

    def load(self, folder: Path) -> JobMeta:
        return JobMeta.model_validate_json((folder / META).read_text())

    def list(self, user: str) -> list[JobMeta]:
        folder = self.user_dir(user)
        if not folder.is_dir():
            return []
        metas = [self.load(p) for p in folder.iterdir() if JOB_ID.fullmatch(p.name) and (p / META).is_file()]
        return sorted((m for m in metas if not m.deleting), key=lambda m: m.job, reverse=True)

    def marked_for_deletion(self) -> list[Path]:
        return [p.parent for p in self.root.glob(f"*/*/{META}")
                if JOB_ID.fullmatch(p.parent.name) and self.load(p.parent).deleting]

    def remove(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
