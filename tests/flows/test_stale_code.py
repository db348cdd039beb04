"""An edit to the code recomputes exactly the stages whose modules import it (the CLI, in a copy of the repo)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.flows.jobrunner import REPO, job_env

COPIED = ("components", "tasks", "flows", "web", "data/styles")
BEFORE_RETOUCH = ("orient", "detect", "align", "crop", "segment")
FROM_RETOUCH = ("retouch", "tag", "quality", "embed")


def cli(copy: Path, prefect_home: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "flows", *args], cwd=copy, env=job_env(prefect_home),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def stage_lines(status: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in status.splitlines() if line.startswith("  ") and
            len(line.split()) > 1}


def test_an_edited_helper_recomputes_its_stages_and_no_other(faces_dir, tmp_path):
    copy = tmp_path / "repo"
    for name in COPIED:
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    photos = tmp_path / "photos"
    photos.mkdir()
    with Image.open(faces_dir / "obama.jpg") as im:
        im.thumbnail((600, 600))
        im.convert("RGB").save(photos / "obama.jpg")
    out, home = tmp_path / "out", tmp_path / "prefect-home"
    cli(copy, home, "curate", str(photos), "--out", str(out), "--no-progress")
    assert set(stage_lines(cli(copy, home, "status", str(out)).stdout).values()) == {"done"}

    retouch = copy / "components" / "retouch.py"  # imported by the retouch stage only
    retouch.write_text(retouch.read_text().replace("strength", "strength ", 1) + "\n")
    status = stage_lines(cli(copy, home, "status", str(out)).stdout)
    assert {status[s] for s in BEFORE_RETOUCH} == {"done"}
    assert {status[s] for s in FROM_RETOUCH} == {"stale"}  # retouch's code changed; the rest read its output

    cli(copy, home, "rerun", str(out), "--stage", "embed")
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    ran = {stage: s["state"] for stage, s in record["stages"].items()}
    assert {ran[s] for s in BEFORE_RETOUCH} == {"cached"}
    assert {ran[s] for s in FROM_RETOUCH} == {"done"}
    assert set(stage_lines(cli(copy, home, "status", str(out)).stdout).values()) <= {"done", "cached"}
