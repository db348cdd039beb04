"""What each stage of a job did: done / cached / failed (with the error) / not run, and its keys."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from flows.rerun import ALL_STAGES
from flows.runs import RunRecord, runs_dir


def job_is_running(root: Path) -> bool:
    lock = root / ".lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def status_lines(job_dir: str) -> list[str]:
    root = Path(job_dir)
    records = [RunRecord.model_validate_json(p.read_text()) for p in sorted(runs_dir(root).glob("*.json"))]
    if not records:
        raise FileNotFoundError(f"{job_dir} holds no run record (runs/*.json): is it a job directory?")
    running = job_is_running(root)
    lines = []
    for record in records:
        state = record.state
        if state == "running" and not running:
            state = "interrupted (re-run the same command to resume)"
        lines.append(f"run {record.run_id} ({record.kind}): {state}, updated {record.updated}")
        if record.error:
            lines.append(f"  error: {record.error}")
        for stage in ["ingest", *ALL_STAGES, "assemble"]:
            if stage not in record.stages and not _belongs(stage, record):
                continue
            status = record.stages.get(stage)
            if status is None:
                lines.append(f"  {stage:9s} not run")
                continue
            keys = ", ".join(status.keys[:3]) + (f" (+{len(status.keys) - 3})" if len(status.keys) > 3 else "")
            lines.append(f"  {stage:9s} {status.state:8s} {keys}")
            if status.error:
                lines.append(f"            error: {status.error}")
    return lines


def _belongs(stage: str, record: RunRecord) -> bool:
    from tasks.curation import STAGES

    curation = stage in STAGES or stage in ("ingest", "assemble")
    return curation if record.kind == "curate" else not curation
