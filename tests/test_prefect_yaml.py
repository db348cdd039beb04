"""The deployments: prefect.yaml holds only what runs on one machine, deploys as the README says,
and a worker runs a deployment exactly as the CLI runs the flow."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.imagetools import downscaled_copies

ROOT = Path(__file__).resolve().parents[1]
LOCAL = yaml.safe_load((ROOT / "prefect.yaml").read_text())
K8S = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "prefect.yaml").read_text())


def flow_of(deployment: dict):
    path, _, name = deployment["entrypoint"].partition(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


@pytest.mark.parametrize("deployment", LOCAL["deployments"] + K8S["deployments"],
                         ids=[d["name"] for d in LOCAL["deployments"] + K8S["deployments"]])
def test_deployment_parameters_name_real_flow_parameters(deployment):
    flow = flow_of(deployment)
    assert set(deployment.get("parameters", {})) <= set(flow.parameters.properties)


def test_the_nightly_curation_config_validates():
    from flows.config import CurationConfig

    nightly = next(d for d in LOCAL["deployments"] if d["name"] == "nightly-curation")
    assert CurationConfig.model_validate(nightly["parameters"]["config"]).workers == 2


def test_the_local_file_names_only_the_local_pool_and_kubernetes_its_own_pull_step():
    assert {d["work_pool"]["name"] for d in LOCAL["deployments"]} == {"local"}
    assert {d["name"] for d in LOCAL["deployments"]} == {"nightly-curation", "portrait-job", "portrait-rerun"}
    assert {d["work_pool"]["name"] for d in K8S["deployments"]} == {"k8s-portraits"}
    assert K8S["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "/opt/portrait-pipeline"
    k8s_schedule = next(d for d in K8S["deployments"] if d["name"] == "curation-k8s")["schedules"][0]
    assert k8s_schedule["active"] is False  # FILL-IN values must not run at 02:00 by themselves


def test_no_deployment_sets_a_test_model():
    for deployment in LOCAL["deployments"] + K8S["deployments"]:
        base = deployment.get("parameters", {}).get("config", {}).get("base", {})
        assert base.get("spec", "") != "tiny", deployment["name"]


# -- against a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(prefect_server, tmp_path_factory):
    """`prefect --no-prompt deploy --all` as the README says, on a server with only the `local` pool."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PREFECT_HOME": str(tmp_path_factory.mktemp("deployer-home"))}
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name="local", type="process"))
        except ObjectAlreadyExists:
            pass
    result = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return env


def deployment(name: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def test_deploy_all_registers_the_local_deployments_with_the_cli_settings(deployed):
    nightly = deployment("curate/nightly-curation")
    assert nightly.schedules and nightly.schedules[0].active
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert nightly.job_variables["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert deployment("portrait/portrait-job").work_pool_name == "local"
    assert deployment("rerun/portrait-rerun").work_pool_name == "local"


def run_on_a_worker(env: dict, name: str, parameters: dict, timeout: float = 420):
    """Submit a run of `name` and let `prefect worker start --run-once` execute it; its final state."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    flow_run = run_deployment(name=name, parameters=parameters, timeout=0)
    worker = subprocess.run([sys.executable, "-m", "prefect", "worker", "start", "--pool", "local", "--run-once"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run.id).state
            if state.is_final() or time.monotonic() > deadline:
                return state, worker.stdout + worker.stderr
            time.sleep(0.5)


def test_a_worker_runs_the_nightly_curation_like_the_cli(deployed, faces_dir, tmp_path):
    inbox = tmp_path / "inbox"
    downscaled_copies(faces_dir, inbox, ("obama.jpg", "dogs.jpg"), 600)
    out = tmp_path / "curated"
    (out / "stages").mkdir(parents=True)
    stale = out / "stages" / ".left-by-a-killed-run.tmp"
    stale.write_bytes(b"half a file")
    state, log = run_on_a_worker(deployed, "curate/nightly-curation", {"inputs": [str(inbox)], "out": str(out)})
    assert state.is_completed(), log[-3000:]
    import pandas as pd

    data = pd.read_parquet(out / "faces")
    assert sorted(data.status) == ["ok", "rejected"]
    assert not stale.exists()  # the flow cleans up under its lock, whoever started it
    assert (out / ".lock").exists()


def test_a_deployed_portrait_job_without_a_base_model_asks_for_sd15_before_any_work(deployed, faces_dir, tmp_path):
    state, log = run_on_a_worker(deployed, "portrait/portrait-job", {
        "photos": [str(faces_dir / "obama.jpg")], "out": str(tmp_path / "jobs"),
        "config": {"user": "dora", "style": "studio_headshot"}})
    assert state.is_failed()
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in (state.message or "") + log
    assert not (tmp_path / "jobs" / "dora" / "stages").exists()  # nothing curated, nothing trained
