import numpy as np
import pytest

from components.diffusion.base_model import BaseModelNotFound, load_base_model
from tests.diffusion.conftest import render


pytestmark = pytest.mark.usefixtures("empty_caches")


@pytest.fixture(scope="module")
def saved_tiny(saved_model, tiny_pipeline):
    return saved_model(tiny_pipeline, "tiny-sd")


def test_tiny_is_the_test_model():
    pipeline = load_base_model("tiny", seed=0)
    assert pipeline.is_test_model is True


@pytest.mark.parametrize("spec", ["", "   ", None, 3])
def test_rejects_empty_spec(spec):
    with pytest.raises(ValueError):
        load_base_model(spec)


def test_missing_hub_id_names_it_and_the_caches(tmp_path):
    with pytest.raises(BaseModelNotFound) as caught:
        load_base_model("nonexistent-org/no-such-portrait-model")
    message = str(caught.value)
    assert "nonexistent-org/no-such-portrait-model" in message
    assert str(tmp_path / "modelscope") in message and "huggingface-cli download" in message
    assert "--base-model" in message


def test_missing_local_path_is_not_treated_as_hub_id(tmp_path):
    with pytest.raises(BaseModelNotFound, match="no such file"):
        load_base_model(str(tmp_path / "nowhere" / "model.safetensors"))


@pytest.mark.parametrize("suffix", [".ckpt", ".bin", ".pt", ".pth"])
def test_pickle_checkpoints_refused_without_trust(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04not really")
    with pytest.raises(ValueError, match="--trust-pickle"):
        load_base_model(str(path))


def test_folder_without_model_index_is_a_clear_error(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ValueError, match="model_index.json"):
        load_base_model(str(tmp_path))


def test_saved_folder_loads_back_identically(saved_tiny, tiny_pipeline):
    loaded = load_base_model(str(saved_tiny))
    loaded.set_progress_bar_config(disable=True)
    assert loaded.is_test_model is False  # a folder is never assumed to be a test model
    assert np.array_equal(render(loaded), render(tiny_pipeline))


def test_hub_id_found_in_modelscope_cache(saved_tiny, tmp_path):
    import shutil

    shutil.copytree(saved_tiny, tmp_path / "modelscope" / "hub" / "models" / "someone" / "tiny-sd")
    assert load_base_model("someone/tiny-sd").unet is not None


def test_single_file_without_cached_config_says_so(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3)}, path)
    with pytest.raises(BaseModelNotFound, match="config"):
        load_base_model(str(path))


def test_check_base_model_fails_early_without_loading(tmp_path, monkeypatch):
    from components.diffusion.base_model import BaseModelNotFound, check_base_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_base_model("tiny")
    check_base_model(str(tmp_path))  # an existing folder passes the check (loading judges its content)
    with pytest.raises(BaseModelNotFound, match="no-such-owner/no-such-model"):
        check_base_model("no-such-owner/no-such-model")
    with pytest.raises(BaseModelNotFound, match="no such file"):
        check_base_model(str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match="--trust-pickle"):
        check_base_model(str(tmp_path / "model.ckpt"))
