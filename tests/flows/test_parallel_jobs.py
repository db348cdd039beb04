"""Portrait jobs side by side, each a separate process as a user starts it.

Jobs of different users under one output root run at the same time and end
exactly as they would alone; a second job on the same user's directory is
refused at once while the first goes on. The jobs share one PREFECT_HOME, as
jobs of one account on one machine do.
"""

from __future__ import annotations

import time

import pytest

from flows.status import job_is_running
from tests.flows import jobrunner as jr

pytestmark = pytest.mark.slow
FAIL_FAST_S = 30  # the brief's bound for the refused job: start-up, temporary server, lock check
JOB_FILES = ("results.parquet", "report.html", "face_lora.safetensors", "runs/portrait.json")


def assert_complete(job) -> None:
    for name in JOB_FILES:
        assert (job / name).is_file(), f"{job.name}: {name} missing"
    assert not job_is_running(job)
    assert jr.leftovers(job) == []


def test_jobs_of_two_users_run_side_by_side_and_match_a_job_run_alone(faces_dir, tmp_path_factory, tmp_path):
    reference = jr.reference(faces_dir, tmp_path_factory)
    out, home = tmp_path / "out", tmp_path / "prefect-home"
    watch = jr.SourceWatch()
    jobs = {user: jr.Job.start(jr.job_args(reference.photos, user, out), home, tmp_path / "logs" / user)
            for user in ("alice", "bob")}
    codes = {user: job.wait() for user, job in jobs.items()}
    assert codes == {"alice": 0, "bob": 0}, "\n".join(f"{u}:\n{j.stderr[-2000:]}" for u, j in jobs.items())

    roots = {user: out / user for user in jobs}
    assert sorted(p.name for p in out.iterdir()) == ["alice", "bob"]
    for root in roots.values():
        assert_complete(root)
    # They really overlapped: each job took its lock before the other one wrote its results.
    locked = max((root / ".lock").stat().st_mtime for root in roots.values())
    finished = min((root / "results.parquet").stat().st_mtime for root in roots.values())
    assert locked < finished, "the two jobs ran one after the other"

    alone = reference.root()  # the same job run alone (sequentially), under another user and OUT
    watch.check(reference.fingerprint)
    jr.assert_same_results(roots["alice"], roots["bob"])
    jr.assert_same_results(roots["alice"], alone)


def test_a_second_job_for_the_same_user_is_refused_at_once_and_the_first_completes(faces_dir, tmp_path_factory,
                                                                                      tmp_path):
    photos = jr.sample_photos(faces_dir, tmp_path_factory)
    out, home = tmp_path / "out", tmp_path / "prefect-home"
    job = out / "carol"
    args = jr.job_args(photos, "carol", out, train_steps=60, checkpoint_every=None)  # long enough to overlap
    first = jr.Job.start(args, home, tmp_path / "logs" / "first")
    deadline = time.monotonic() + 240
    while not ((job / ".lock").exists() and job_is_running(job)):
        assert first.proc.poll() is None, f"first job ended ({first.proc.returncode}):\n{first.stderr[-3000:]}"
        assert time.monotonic() < deadline, "the first job never took its lock"
        time.sleep(0.05)

    second = jr.Job.start(args, home, tmp_path / "logs" / "second")
    code = second.wait(timeout=180)
    refused_after = time.monotonic() - second.started
    first_was_running = first.proc.poll() is None
    print(f"second job refused after {refused_after:.1f} s")

    assert code != 0, f"the second job ran:\n{second.stdout[-2000:]}"
    assert "another job is running" in second.stderr, second.stderr[-3000:]
    assert first_was_running, "the first job had already ended: the test proved nothing (make it longer)"
    assert refused_after < FAIL_FAST_S, f"refused only after {refused_after:.0f} s"
    assert first.wait() == 0, first.stderr[-3000:]
    assert_complete(job)
