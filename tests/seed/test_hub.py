"""Offline model lookup: a missing model is refused at once, naming its id and how to fetch it."""

from __future__ import annotations

import shutil
import time

import pytest

from components import registry
from components.seed.hub import ModelSpec, SeedModelNotFound, check_pickle_rule, resolve_model_dir

SEED_BACKENDS = [("orient", "rot-bgr"), ("segment", "m2fp"), ("tag", "fairface"), ("quality", "flcm"),
                 ("quality", "fqa"), ("rank", "rts")]


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.cache/modelscope either
    return tmp_path / "modelscope"


@pytest.mark.parametrize(("stage", "backend"), SEED_BACKENDS)
def test_missing_model_is_refused_within_seconds_naming_id_and_fetch_command(empty_cache, stage, backend):
    cls = registry.resolve(stage, backend)
    dependencies = {"detector": None, "landmarker": None} if backend == "rts" else {}
    started = time.monotonic()
    with pytest.raises(SeedModelNotFound) as error:
        registry.create(stage, backend, **dependencies)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"refusal took {elapsed:.1f} s (a hub detector or network call?)"
    message = str(error.value)
    assert cls.MODEL_ID in message
    assert f"modelscope download --model {cls.MODEL_ID}" in message
    assert str(empty_cache) in message
    assert not cls.present()


def test_model_folder_missing_its_weights_is_refused(tmp_path):
    from components.seed.fairface import FairFaceTagger

    folder = tmp_path / "fairface"
    folder.mkdir()
    (folder / "configuration.json").write_text("{}")
    with pytest.raises(SeedModelNotFound, match="pytorch_model.pt") as error:
        FairFaceTagger(model_dir=folder)
    assert FairFaceTagger.MODEL_ID in str(error.value)


def test_model_found_in_the_modelscope_cache_layout(empty_cache, seed_model):
    from components.seed.fqa import FqaQuality

    assert not FqaQuality.present()
    shutil.copytree(seed_model("fqa"), empty_cache / "models" / FqaQuality.MODEL_ID)
    assert FqaQuality.present()
    assert resolve_model_dir(FqaQuality.spec()) == empty_cache / "models" / FqaQuality.MODEL_ID


def test_cached_revision_other_than_asked_is_refused(empty_cache):
    folder = empty_cache / "models" / "someone" / "model"
    folder.mkdir(parents=True)
    (folder / "configuration.json").write_text("{}")
    (folder / ".mv").write_text("Revision:v1.0,CreatedAt:1700000000")
    with pytest.raises(SeedModelNotFound, match="cached at revision 'v1.0', not 'v2.0'"):
        resolve_model_dir(ModelSpec("someone/model", "v2.0", ("configuration.json",)))
    assert resolve_model_dir(ModelSpec("someone/model", "v1.0", ("configuration.json",))) == folder


def test_pickle_weights_refused_when_torch_would_unpickle_code(monkeypatch, seed_model):
    from components.seed.flcm import FlcmQuality

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(ValueError, match="trust-pickle"):
        FlcmQuality(model_dir=seed_model("flcm"))
    check_pickle_rule(trust_pickle=True)  # the user's explicit choice lets it through
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    check_pickle_rule(trust_pickle=False)  # torch's weights_only default: plain state_dicts only


@pytest.mark.parametrize("model_id", ["../../etc", "owner/../x", "/abs/path", "no-slash", "a/b/c", "owner/na me"])
def test_hostile_model_id_is_refused_before_any_path_is_built(model_id):
    from components.seed.fairface import FairFaceTagger

    with pytest.raises(ValueError, match="owner/name"):
        FairFaceTagger(model_id=model_id)
