"""The HTTP API against the real app on 127.0.0.1, with a real Prefect server and worker (tiny model)."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.web import served as serving
from tests.web.served import TINY, files_under, prefect_api, submit, wait_for

pytestmark = pytest.mark.slow


def test_health_and_openapi_docs(served):
    assert served.client().get("/api/v1/health").json() == {"status": "ok", "prefect": True}
    docs = served.client().get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs  # works offline
    assert served.client().get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = served.client().get("/openapi.json").json()
    form = spec["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"photos", "style", "base_model", "train_steps", "resolution", "num_images", "keep"} <= set(
        form["properties"])
    assert "delete" in spec["paths"]["/api/v1/jobs/{job}"]


@pytest.mark.parametrize("method, path", [("GET", "/api/v1/jobs"), ("POST", "/api/v1/jobs"),
                                          ("GET", "/api/v1/jobs/j20260101-000000-00000000"),
                                          ("GET", "/api/v1/styles")])
def test_no_token_is_401(served, method, path):
    for headers in ({}, {"Authorization": "Bearer pp_not-a-token"}, {"Authorization": "Basic YWxpY2U6eA=="}):
        response = served.client().request(method, path, headers=headers)
        assert response.status_code == 401, response.text
        assert "error" in response.json() and response.headers["www-authenticate"] == "Bearer"


def _bomb_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (10_000, 6_000)).save(out, format="PNG")  # 60 Mpx, a few KB: over the 50 Mpx limit
    return out.getvalue()


def test_bad_uploads_get_a_clear_4xx_and_write_nothing(served, photos):
    before = files_under(served.jobs_root)
    client = served.client("carol")
    good = [("photos", (photos[0].name, photos[0].read_bytes(), "image/jpeg"))]
    cases = [
        (413, "over the limit", [("photos", ("big.jpg", b"\xff\xd8\xff" + b"x" * (3 << 19), "image/jpeg"))], {}),
        (415, "not an image", [("photos", ("notes.jpg", b"just some text, not a photo" * 40, "image/jpeg"))], {}),
        (413, "decompression bomb", [("photos", ("bomb.png", _bomb_png(), "image/png"))], {}),
        (400, "too many files", good * 5, {}),
        (422, "unknown style", good, {"style": "no_such_style"}),
        (422, "resolution", good, {"resolution": "100"}),
        (422, "not a valid int", good, {"keep": "many"}),
        (422, "unknown field", good, {"out": "/etc"}),
        (422, "not offered", good, {"base_model": "/some/local/folder"}),
        (422, "no photos", [("keep", (None, "2"))], {}),  # a multipart form with fields only
    ]
    for status, message, files, fields in cases:
        data = {"style": "studio_headshot", "base_model": "tiny", **fields}
        response = client.post("/api/v1/jobs", data=data, files=files)
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["error"], (message, response.json())
    assert files_under(served.jobs_root) == before
    assert client.get("/api/v1/jobs").json() == {"jobs": []}


def test_a_template_or_pose_upload_is_checked_where_the_job_keeps_it(served, photos):
    # The config names the job's own copy of each uploaded file, checked before the job is queued.
    client = served.client("dana")
    for field, picture in (("template", photos[1]), ("pose", photos[0])):
        response = client.post("/api/v1/jobs", data={**TINY, "style": "studio_headshot"},
                               files=[("photos", (photos[0].name, photos[0].read_bytes(), "image/jpeg")),
                                      (field, (picture.name, picture.read_bytes(), "image/jpeg"))])
        assert response.status_code == 202, (field, response.text)
        job = response.json()["job"]
        meta = json.loads((served.jobs_root / "dana" / job / "job.json").read_text())
        stored = Path(meta["files"][field])
        assert stored.parent == served.jobs_root.resolve() / "dana" / job / "uploads" and stored.is_file()
        config = meta["parameters"]["config"]
        assert (config["template"] or config["pose_map"])["image"] == str(stored)
        assert client.delete(f"/api/v1/jobs/{job}").status_code in (200, 202)


@pytest.fixture(scope="module")
def six_jobs(served, photos):
    """Three jobs each for alice and bob, submitted at once, each with its own seed; all awaited."""
    plan = [(user, 100 * i + (0 if user == "alice" else 7)) for i in range(1, 4) for user in ("alice", "bob")]
    clients = {user: served.client(user) for user in ("alice", "bob")}
    with ThreadPoolExecutor(len(plan)) as pool:
        responses = list(pool.map(lambda p: submit(clients[p[0]], photos, seed=str(p[1])), plan))
    assert [r.status_code for r in responses] == [202] * 6, [r.text for r in responses]
    over = submit(clients["alice"], photos)  # alice has 3 queued or running: her limit
    jobs = [(user, seed, r.json()["job"]) for (user, seed), r in zip(plan, responses)]
    views = {job: wait_for(clients[user], job, timeout=900) for user, _, job in jobs}
    return {"jobs": jobs, "views": views, "over_limit": over, "clients": clients}


def test_six_jobs_from_two_users_all_complete_with_their_own_results(served, six_jobs):
    for user, seed, job in six_jobs["jobs"]:
        view = six_jobs["views"][job]
        assert view["state"] == "completed", (view, served.log())
        assert (served.jobs_root / user / job / "results.parquet").is_file()
        results = six_jobs["clients"][user].get(f"/api/v1/jobs/{job}/results").json()
        assert sorted(r["seed"] for r in results["images"]) == [seed, seed + 1]
        for image in results["images"]:
            png = six_jobs["clients"][user].get(image["url"])
            assert png.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(png.content)).size == (64, 64)
        assert [p["status"] for p in view["photos"]] == ["ok", "ok"]
    for user in ("alice", "bob"):
        listed = {j["job"] for j in six_jobs["clients"][user].get("/api/v1/jobs").json()["jobs"]}
        assert listed == {job for owner, _, job in six_jobs["jobs"] if owner == user}


def test_a_user_over_their_job_limit_gets_429_with_retry_after(six_jobs):
    over = six_jobs["over_limit"]
    assert over.status_code == 429, over.text
    assert int(over.headers["retry-after"]) > 0 and "3 job(s)" in over.json()["error"]


def test_another_users_job_is_not_found(served, six_jobs):
    _, _, alices = next(j for j in six_jobs["jobs"] if j[0] == "alice")
    bob = six_jobs["clients"]["bob"]
    for method, path, body in [("GET", "", None), ("GET", "/results", None), ("GET", "/images/result-0.png", None),
                               ("GET", "/files/report.html", None), ("POST", "/rerun", {"stage": "rank"}),
                               ("POST", "/resume", None), ("DELETE", "", None)]:
        response = bob.request(method, f"/api/v1/jobs/{alices}{path}", json=body)
        assert response.status_code == 404, (method, path, response.text)
    for hostile in ("..%2F..%2Fetc", "alice", "j20260101-000000-00000000", "%2e%2e"):
        assert bob.get(f"/api/v1/jobs/{hostile}").status_code == 404
    alice = six_jobs["clients"]["alice"]
    for name in ("../results.parquet", "result-99.png", "..%2Fjob.json", "report.html"):
        assert alice.get(f"/api/v1/jobs/{alices}/images/{name}").status_code == 404


def _stage_states(view: dict) -> dict[str, str]:
    return {s["stage"]: s["state"] for s in view["stages"]}


def test_rerun_of_a_stage_recomputes_only_that_stage(six_jobs):
    user, _, job = six_jobs["jobs"][0]
    client = six_jobs["clients"][user]
    assert client.post(f"/api/v1/jobs/{job}/rerun", json={"stage": "polish"}).status_code == 422
    assert client.post(f"/api/v1/jobs/{job}/rerun", json={"stage": "rank", "set": {"kepp": 1}}).status_code == 422
    response = client.post(f"/api/v1/jobs/{job}/rerun", json={"stage": "rank", "set": {"keep": 1}})
    assert response.status_code == 202, response.text
    assert client.post(f"/api/v1/jobs/{job}/rerun", json={"stage": "rank"}).status_code == 409  # one at a time
    view = wait_for(client, job, timeout=300)
    assert view["state"] == "completed", view
    states = _stage_states(view)
    assert states["rank"] == "done"
    assert {states[s] for s in ("orient", "embed", "train", "generate", "select", "fuse")} == {"cached"}
    assert [s["kind"] for s in view["submissions"]] == ["job", "rerun"]


def test_another_style_on_the_trained_lora(six_jobs):
    user, _, job = six_jobs["jobs"][1]
    client = six_jobs["clients"][user]
    response = client.post(f"/api/v1/jobs/{job}/rerun", json={"stage": "generate", "set": {"style": "watercolor"}})
    assert response.status_code == 202, response.text
    view = wait_for(client, job, timeout=300)
    assert view["state"] == "completed" and view["style"] == "watercolor", view
    states = _stage_states(view)
    assert states["train"] == "cached" and states["generate"] == "done"
    assert {r["style"] for r in client.get(f"/api/v1/jobs/{job}/results").json()["images"]} == {"watercolor"}


def test_cancel_stops_the_run_and_deletes_the_job(served, photos):
    client = served.client("carol")
    response = submit(client, photos, train_steps="200")
    assert response.status_code == 202, response.text
    job, run = response.json()["job"], response.json()["flow_run_id"]
    wait_for(client, job, states={"running"}, timeout=300, poll=0.5)
    deleted = client.delete(f"/api/v1/jobs/{job}")
    assert deleted.status_code in (200, 202), deleted.text
    assert client.get(f"/api/v1/jobs/{job}").status_code == 404
    assert job not in {j["job"] for j in client.get("/api/v1/jobs").json()["jobs"]}
    deadline = time.monotonic() + 180
    while (served.jobs_root / "carol" / job).exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert not (served.jobs_root / "carol" / job).exists(), served.log()
    state = httpx.get(f"{prefect_api(served)}/flow_runs/{run}").json()["state"]["type"]
    assert state == "CANCELLED"


def _flow_run_process(run: str):
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        try:
            if "prefect.engine" in " ".join(process.info["cmdline"] or []) and \
                    process.environ().get("PREFECT__FLOW_RUN_ID") == run:
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def test_a_killed_job_is_resumed_from_its_last_finished_stage(served, photos):
    """The job's process dies mid-training (as on a machine crash): the job shows as failed and resumable,
    and resuming it reuses curation and goes on from the last training checkpoint."""
    client = served.client("carol")
    response = submit(client, photos, train_steps="20", checkpoint_every="2")
    assert response.status_code == 202, response.text
    job, run = response.json()["job"], response.json()["flow_run_id"]
    folder = served.jobs_root / "carol" / job
    deadline = time.monotonic() + 300
    while not list(folder.glob("lora/*/checkpoints/step-*.safetensors")) and time.monotonic() < deadline:
        time.sleep(0.2)
    process = _flow_run_process(run)
    assert process is not None, served.log()
    process.kill()
    view = wait_for(client, job, timeout=180)
    assert view["state"] == "failed" and view["resumable"], view
    assert _stage_states(view)["train"] in ("running", "failed")
    resumed = client.post(f"/api/v1/jobs/{job}/resume")
    assert resumed.status_code == 202, resumed.text
    view = wait_for(client, job, timeout=300)
    assert view["state"] == "completed", view
    states = _stage_states(view)
    assert {states[s] for s in ("orient", "detect", "embed")} == {"cached"} and states["train"] == "done"
    assert [s["kind"] for s in view["submissions"]] == ["job", "resume"]


def test_another_app_on_the_same_prefect_server_sees_the_same_jobs(served, six_jobs, tmp_path):
    """With PREFECT_API_URL set, serve starts only the web app; job state comes from Prefect and the job
    folders, so a new app process (a restart, a second replica) shows every job as the first one does."""
    second = serving.start(tmp_path / "second", [], "--users", str(served.data / "users.json"),
                           "--out", str(served.jobs_root), prefect_api=prefect_api(served), timeout=120)
    try:
        output = (second.data / "serve.out").read_text()
        assert "Prefect UI: " + prefect_api(served).removesuffix("/api") in output
        assert not (second.data / "prefect-home").exists() and not (second.data / "logs").exists()
        second.tokens = served.tokens
        for user in ("alice", "bob"):
            first_view = six_jobs["clients"][user].get("/api/v1/jobs").json()["jobs"]
            with second.client(user) as client:
                assert client.get("/api/v1/jobs").json()["jobs"] == first_view
    finally:
        assert serving.stop(second) == []
