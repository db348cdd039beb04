"""What the web app needs to know: where jobs live, who may log in, and the limits on what users send."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from flows.cli import DEFAULT_BASE_MODEL
from flows.portrait_config import DEFAULT_STYLES_DIR

MIB = 1024 * 1024


class WebSettings(BaseModel):
    jobs_root: Path = Field(description="OUT: a job lives in OUT/<user>/<job>/")
    users_file: Path = Field(description="user names and token hashes (`python -m flows users add`)")
    session_key_file: Path = Field(description="signs the browser's session cookie; created on first use")
    styles_dir: str = DEFAULT_STYLES_DIR
    base_models: list[str] = Field(default_factory=lambda: [DEFAULT_BASE_MODEL, "tiny"],
                                   description="the base models a request may name (never a path from a request)")
    default_base_model: str = DEFAULT_BASE_MODEL
    max_photos: int = Field(10, ge=1, le=100)
    max_photo_bytes: int = Field(20 * MIB, ge=1024)
    max_pixels: int = Field(50_000_000, ge=1, description="a photo whose header declares more is refused")
    jobs_per_user: int = Field(2, ge=1, description="queued or running jobs per user; more gets 429")
    max_queue: int = Field(32, ge=1, description="queued or running jobs in all; more gets 429")
    retry_after_s: int = Field(30, ge=1)
    session_hours: float = Field(12, gt=0)
    job_deployment: str = "portrait-job"
    rerun_deployment: str = "portrait-rerun"
    prefect_ui_url: str | None = None

    @property
    def max_request_bytes(self) -> int:
        """The whole upload: every photo at its limit, one more file option, and the form fields."""
        return (self.max_photos + 2) * self.max_photo_bytes + MIB
