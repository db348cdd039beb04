"""The `rerun` flow behind the `portrait-rerun` deployment: `python -m flows rerun` as a flow run."""

from __future__ import annotations

import json
from typing import Any

from prefect import flow


@flow(name="rerun", log_prints=True)
def rerun_flow(job_dir: str, stage: str, sets: dict[str, Any] | None = None) -> dict:
    """Re-run `stage` of the job in `job_dir` and everything after it, with `sets` applied to that stage."""
    from flows.rerun import rerun

    # JSON values read back as the same YAML scalars `--set key=value` gives.
    return rerun(job_dir, stage, [f"{key}={json.dumps(value)}" for key, value in (sets or {}).items()])
