"""A portrait job killed with SIGKILL resumes when the same command is run again.

Each job is a separate process started the way a user starts it (the CLI, its
own temporary Prefect server), killed from outside at a point seen on disk,
then run again to completion. The resumed job must end with exactly what an
uninterrupted run with the same seed produces: results.parquet, the images of
report.html and face_lora.safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.status import status_lines
from tests.flows import jobrunner as jr

pytestmark = pytest.mark.slow
USER = "u"


@pytest.fixture(scope="module")
def reference(faces_dir, tmp_path_factory) -> jr.Reference:
    """The uninterrupted run, started now in the background; `.root()` waits for it."""
    return jr.reference(faces_dir, tmp_path_factory).start()


def record(job: Path, run: str) -> dict:
    return json.loads((job / "runs" / f"{run}.json").read_text())


def identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def interrupted(job: Path) -> bool:
    return any("interrupted (re-run the same command to resume)" in line for line in status_lines(str(job)))


def test_killed_during_curation_resumes_to_the_same_results(reference, tmp_path):
    out, home = tmp_path / "out", tmp_path / "prefect-home"
    job = out / USER
    args = jr.job_args(reference.photos, USER, out)
    watch = jr.SourceWatch()
    killed = jr.Job.start(args, home, tmp_path / "logs" / "killed")
    oriented = killed.wait_for("stages/orient/*.parquet", job)
    killed.kill()

    assert not list(job.glob("faces/*.parquet")), "curation had already finished when the job was killed"
    assert record(job, "curation")["state"] == "running" and interrupted(job)
    kept = {p: identity(p) for p in oriented}
    stale = set(jr.leftovers(out))

    resumed = jr.run_job(args, home, tmp_path / "logs" / "resumed")
    reference_root = reference.root()
    watch.check(reference.fingerprint)

    assert {p: identity(p) for p in oriented} == kept, "the killed run's orientation output was not reused"
    assert record(job, "curation")["state"] == "completed"
    assert record(job, "portrait")["state"] == "completed"
    assert jr.training_starts(resumed.stderr) == [0]
    jr.assert_same_results(job, reference_root)
    assert set(jr.leftovers(out)) <= stale, f"temporary files left: {jr.leftovers(out)}"
    assert not interrupted(job)


def test_killed_during_training_resumes_from_its_checkpoint_to_the_same_weights(reference, tmp_path):
    out, home = tmp_path / "out", tmp_path / "prefect-home"
    job = out / USER
    args = jr.job_args(reference.photos, USER, out)
    watch = jr.SourceWatch()
    killed = jr.Job.start(args, home, tmp_path / "logs" / "killed")
    killed.wait_for("lora/*/checkpoints/step-*.safetensors", job)
    killed.kill()

    steps = jr.checkpoint_steps(job)
    assert steps and max(steps) < 12
    assert not list(job.glob("lora/*/pytorch_lora_weights.safetensors")), "training had already finished"
    portrait = record(job, "portrait")
    assert portrait["state"] == "running" and portrait["stages"]["train"]["state"] == "running"
    assert interrupted(job)
    assert jr.training_starts(killed.stderr) == [0]
    lora_dir = {p.parent.parent.name for p in job.glob("lora/*/checkpoints/step-*.safetensors")}
    part = {p: identity(p) for p in job.glob("faces/*.parquet")}
    stale = set(jr.leftovers(out))

    resumed = jr.run_job(args, home, tmp_path / "logs" / "resumed")
    reference_root = reference.root()
    watch.check(reference.fingerprint)

    assert jr.training_starts(resumed.stderr) == [max(steps)], "training did not resume from the last checkpoint"
    portrait = record(job, "portrait")
    assert portrait["state"] == "completed" and portrait["stages"]["train"]["state"] == "done"
    assert set(portrait["stages"]["train"]["keys"]) == lora_dir  # the same LoRA key, hence the same checkpoints
    curation = record(job, "curation")
    assert {s["state"] for name, s in curation["stages"].items() if name not in ("ingest", "assemble")} == {"cached"}
    assert {p: identity(p) for p in job.glob("faces/*.parquet")} == part  # curation was not redone
    jr.assert_same_results(job, reference_root)
    assert set(jr.leftovers(out)) <= stale, f"temporary files left: {jr.leftovers(out)}"


def test_a_new_run_removes_the_temporary_files_a_killed_run_left(faces_dir, tmp_path):
    """What SIGKILL leaves in the middle of an atomic write, planted; the next run of the job removes it."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "dogs.jpg").write_bytes((faces_dir / "dogs.jpg").read_bytes())  # the job stops after curation
    out = tmp_path / "out"
    job = out / USER
    planted = [job / ".results.parquet.k2j4h1.tmp", job / ".face_lora.safetensors.q1w2e3.tmp", job / "runs" / ".portrait.json.a8f3c2.tmp",
               job / "stages" / "detect" / ".0a8dbc0c48b548b320051db7.parquet.x7y6z5.tmp",
               job / "lora" / "6f0f2c11" / "checkpoints" / ".step-4.safetensors.p0o9i8.tmp"]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    run = jr.Job.start(jr.job_args(photos, USER, out), tmp_path / "prefect-home", tmp_path / "logs" / "run")
    assert run.wait() == 1, run.stderr[-3000:]
    assert "no photo survived curation" in run.stderr
    assert jr.leftovers(out) == []
