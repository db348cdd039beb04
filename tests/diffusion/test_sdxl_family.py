"""Model family from the model (test-model names, diffusers folders, single files, cached ids) and loading."""

import json

import numpy as np
import pytest

from components.diffusion.base_model import BaseModelNotFound, load_base_model, model_family
from components.diffusion.family import UnsupportedModel, family_named, family_of
from tests.diffusion.conftest import render


pytestmark = pytest.mark.usefixtures("empty_caches")


@pytest.fixture(scope="module")
def saved_sdxl(saved_model, tiny_sdxl):
    return saved_model(tiny_sdxl, "tiny-sdxl")


def test_test_model_names():
    assert model_family("tiny").name == "sd15" and model_family(" tiny-sdxl ").name == "sdxl"
    pipeline = load_base_model("tiny-sdxl")
    assert type(pipeline).__name__ == "StableDiffusionXLPipeline" and pipeline.is_test_model is True
    assert family_of(pipeline).name == "sdxl" and family_of(load_base_model("tiny")).name == "sd15"


def test_tiny_sdxl_is_deterministic_and_sdxl_shaped(tiny_sdxl):
    from components.diffusion.tiny import build_tiny_sdxl_pipeline

    again = build_tiny_sdxl_pipeline(seed=0)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        ours, theirs = getattr(tiny_sdxl, name).state_dict(), getattr(again, name).state_dict()
        assert all(np.array_equal(ours[k].numpy(), theirs[k].numpy()) for k in ours), name
    other = build_tiny_sdxl_pipeline(seed=1)
    assert not np.array_equal(other.unet.conv_in.weight.numpy(), tiny_sdxl.unet.conv_in.weight.numpy())
    config = tiny_sdxl.unet.config
    assert config.addition_embed_type == "text_time"
    # cross-attention takes both encoders' states side by side; the addition embedding the pooled + 6 ids
    assert config.cross_attention_dim == tiny_sdxl.text_encoder.config.hidden_size + \
        tiny_sdxl.text_encoder_2.config.hidden_size
    assert config.projection_class_embeddings_input_dim == \
        tiny_sdxl.text_encoder_2.config.projection_dim + 6 * config.addition_time_embed_dim
    assert tiny_sdxl.vae_scale_factor == 8
    assert render(tiny_sdxl).shape == (32, 32, 3)


def test_saved_sdxl_folder_is_sdxl_and_loads_back_identically(saved_sdxl, tiny_sdxl):
    assert model_family(str(saved_sdxl)).name == "sdxl"
    loaded = load_base_model(str(saved_sdxl))
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded).__name__ == "StableDiffusionXLPipeline" and loaded.is_test_model is False
    assert np.array_equal(render(loaded), render(tiny_sdxl))


def test_cached_hub_id_of_an_sdxl_model(saved_sdxl, tmp_path):
    import shutil

    shutil.copytree(saved_sdxl, tmp_path / "modelscope" / "hub" / "models" / "someone" / "tiny-xl")
    assert model_family("someone/tiny-xl").name == "sdxl"
    assert type(load_base_model("someone/tiny-xl")).__name__ == "StableDiffusionXLPipeline"
    with pytest.raises(BaseModelNotFound, match="someone/other-xl"):
        model_family("someone/other-xl")


def test_model_index_of_another_kind_of_model_is_refused(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(UnsupportedModel, match="FluxPipeline.*sd15.*sdxl"):
        model_family(str(tmp_path))
    with pytest.raises(UnsupportedModel, match="FluxPipeline"):
        load_base_model(str(tmp_path))


def _checkpoint(path, keys: dict) -> str:
    import torch
    from safetensors.torch import save_file

    save_file({key: torch.zeros(shape) for key, shape in keys.items()}, path)
    return str(path)


SD15_KEYS = {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
             "model.diffusion_model.output_blocks.11.0.skip_connection.weight": (320, 640, 1, 1),
             "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,)}
SDXL_KEYS = {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
             "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (1280,),
             "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (768,)}


def test_single_file_family_from_its_keys(tmp_path):
    assert model_family(_checkpoint(tmp_path / "sd15.safetensors", SD15_KEYS)).name == "sd15"
    sdxl = _checkpoint(tmp_path / "sdxl.safetensors", SDXL_KEYS)
    assert model_family(sdxl).name == "sdxl"
    # loading needs the family's configs from the hub: refused, naming the SDXL base model to fetch
    with pytest.raises(BaseModelNotFound, match="SDXL.*stabilityai/stable-diffusion-xl-base-1.0"):
        load_base_model(sdxl)
    other = _checkpoint(tmp_path / "other.safetensors", {"encoder.weight": (4, 4)})
    with pytest.raises(ValueError, match="no Stable Diffusion UNet"):
        model_family(other)


def test_fp16_fix_vae_replaces_the_vae(tmp_path, tiny_sdxl):
    import torch
    from diffusers import AutoencoderKL

    fixed = AutoencoderKL.from_config(tiny_sdxl.vae.config, force_upcast=False)
    fixed.save_pretrained(tmp_path / "vae-fp16-fix", safe_serialization=True)
    pipeline = load_base_model("tiny-sdxl", vae=str(tmp_path / "vae-fp16-fix"), torch_dtype=torch.float16)
    family = family_named("sdxl")
    assert pipeline.vae.config.force_upcast is False and pipeline.vae.dtype == torch.float16
    assert not family.vae_needs_fp32(pipeline.vae)  # the fix VAE stays in fp16
    assert family.vae_needs_fp32(load_base_model("tiny-sdxl", torch_dtype=torch.float16).vae)
    assert not family_named("sd15").vae_needs_fp32(load_base_model("tiny", torch_dtype=torch.float16).vae)
    with pytest.raises(BaseModelNotFound, match="VAE"):
        load_base_model("tiny-sdxl", vae=str(tmp_path / "missing-vae"))


def test_task_layer_knows_the_same_test_models():
    from components.diffusion.base_model import TEST_MODELS
    from tasks.config import TEST_MODELS as TASK_TEST_MODELS
    from tasks.config import BaseModelConfig

    assert set(TEST_MODELS) == TASK_TEST_MODELS
    assert BaseModelConfig(spec="tiny-sdxl").is_test_model
