"""prefect.yaml's deployments point at real flows, and their parameters validate against them."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_deployment_parameters_validate(deployment):
    path, _, name = deployment["entrypoint"].partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, name)
    validated = flow.validate_parameters(deployment["parameters"])
    assert set(validated) >= set(deployment["parameters"])


def test_local_curation_is_scheduled():
    local = next(d for d in DEPLOYMENTS if d["name"] == "nightly-curation")
    assert local["schedules"][0]["cron"] and local["work_pool"]["name"] == "local"
