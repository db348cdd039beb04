"""The data behind `flows backends` and the `facechain` profile."""

from __future__ import annotations

import shutil

from components.registry import DEPENDENCIES, REGISTRY
from components.seed.catalog import backend_rows, seed_rows
from flows.config import PROFILES
from flows.backends import default_backends


def test_every_registered_backend_has_a_row_and_each_job_stage_one_default():
    defaults = default_backends()
    rows = backend_rows(defaults)
    assert {(r.stage, r.backend) for r in rows} == {(s, b) for s, entries in REGISTRY.items() for b in entries}
    for stage, backend in defaults.items():
        assert [r.backend for r in rows if r.stage == stage and r.default] == [backend]
    assert defaults["rank"] == "embedding-similarity" and defaults["segment"] == "grabcut"
    embedded = [r for r in rows if r.model_id is None]
    assert all(r.present is None for r in embedded)


def test_seed_rows_name_model_revision_and_licence(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    rows = {r.backend: r for r in seed_rows() if r.stage != "select"}
    assert set(rows) == {"rot-bgr", "m2fp", "fairface", "flcm", "fqa", "rts"}
    assert all(r.model_id and r.revision and r.licence and r.present is False for r in rows.values())
    assert "CC BY-NC 4.0" in rows["m2fp"].licence and "non-commercial" in rows["m2fp"].licence
    assert not any(r.default for r in rows.values())


def test_seed_row_present_once_the_model_is_in_the_cache(tmp_path, monkeypatch, seed_model):
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    shutil.copytree(seed_model("rot_bgr"), tmp_path / "models" / "Cherrytest" / "rot_bgr")
    rows = {r.backend: r for r in seed_rows()}
    assert rows["rot-bgr"].present is True and rows["rts"].present is False


def test_facechain_profile_names_registered_seed_backends():
    seed = {(r.stage, r.backend) for r in seed_rows()}
    assert set(PROFILES["facechain"].items()) <= seed


def test_dependencies_name_registered_backends():
    for (stage, backend), dependencies in DEPENDENCIES.items():
        assert backend in REGISTRY[stage]
        for spec in dependencies.values():
            dep_stage, dep_backend = spec.split(":")
            assert dep_backend in REGISTRY[dep_stage]
