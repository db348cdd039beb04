"""Face LoRA training on tiny-sdxl: diffusers' SDXL recipe, saved with save_lora_weights, reloaded, resumed."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import components.diffusion.lora as lora_module
from components.diffusion.augment import crop_side
from components.diffusion.family import family_of
from components.diffusion.lora import LoraTrainer
from tests.checkpoints import MemoryCheckpoints
from tests.diffusion.conftest import render

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPTIONS = dict(rank=4, alpha=8, learning_rate=5e-3, steps=4, resolution=32, seed=7, checkpoint_every=2,
               train_text_encoder=True, text_encoder_learning_rate=1e-3)


@pytest.fixture(scope="module")
def sdxl_run(tiny_sdxl, examples):
    """A 4-step run with LoRAs on the UNet and both text encoders, the training adapters kept on for
    one render; the time ids the UNet saw; the checkpoints; the image before training."""
    before = render(tiny_sdxl)
    seen = []
    hook = tiny_sdxl.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["added_cond_kwargs"]["time_ids"].clone()), with_kwargs=True)
    store = MemoryCheckpoints()
    remove = lora_module._remove_training_adapters
    lora_module._remove_training_adapters = lambda pipeline: None
    try:
        weights = LoraTrainer(tiny_sdxl, **OPTIONS).train(examples, store)
        hook.remove()
        with_training_adapters = render(tiny_sdxl)
    finally:
        hook.remove()
        lora_module._remove_training_adapters = remove
        remove(tiny_sdxl)
    return weights, with_training_adapters, seen, store, before


def test_sdxl_defaults_follow_the_family(tiny_sdxl, tiny_pipeline):
    assert LoraTrainer(tiny_sdxl).resolution == 1024 and LoraTrainer(tiny_pipeline).resolution == 512
    assert LoraTrainer(tiny_sdxl, train_text_encoder=True).text_encoders == ("text_encoder", "text_encoder_2")
    assert LoraTrainer(tiny_pipeline, train_text_encoder=True).text_encoders == ("text_encoder",)


def test_training_conditions_on_add_time_ids_and_leaves_the_pipeline_clean(tiny_sdxl, examples, sdxl_run):
    weights, _, seen, _, before = sdxl_run
    assert weights.family == "sdxl" and len(weights.losses) == 4 and all(np.isfinite(weights.losses))
    assert sorted(weights.text_encoder_state_dicts) == ["text_encoder", "text_encoder_2"]
    # one UNet call per step (the render's calls came after the hook was removed): original size
    # (the photo pixels of the face crop), crop top-left (0, 0), target size (the resolution)
    assert len(seen) == 4
    face_width = float(examples[0].bbox[2] - examples[0].bbox[0])
    possible = {crop_side(np.array([0, 0, face_width, 1]), f) for f in np.linspace(0.35, 0.45, 200)}
    for ids in seen:
        height, width, top, left, target_h, target_w = ids[0].tolist()
        assert height == width and int(height) in possible
        assert (top, left, target_h, target_w) == (0, 0, 32, 32)
    assert tiny_sdxl.get_list_adapters() == {}
    for name in ("unet", "text_encoder", "text_encoder_2", "vae"):
        model = getattr(tiny_sdxl, name)
        assert not model.training and not any(p.requires_grad for p in model.parameters()), name
    assert np.array_equal(render(tiny_sdxl), before)


def test_saved_lora_reloads_with_load_lora_weights_and_reproduces_the_trained_adapter(tiny_sdxl, sdxl_run, tmp_path):
    weights, with_training_adapters, *_ = sdxl_run
    family_of(tiny_sdxl).save_lora(tmp_path, weights)
    assert [p.name for p in tmp_path.iterdir()] == ["pytorch_lora_weights.safetensors"]
    keys = load_file(tmp_path / "pytorch_lora_weights.safetensors")
    assert {key.split(".")[0] for key in keys} == {"unet", "text_encoder", "text_encoder_2"}
    try:
        tiny_sdxl.load_lora_weights(str(tmp_path), adapter_name="face")
        assert tiny_sdxl.get_list_adapters() == {"unet": ["face"], "text_encoder": ["face"],
                                                 "text_encoder_2": ["face"]}
        reloaded = render(tiny_sdxl)
    finally:
        tiny_sdxl.unload_lora_weights()
    assert not np.array_equal(with_training_adapters, render(tiny_sdxl))  # it learned something
    np.testing.assert_allclose(reloaded, with_training_adapters, atol=1e-5)


def test_resume_from_a_checkpoint_gives_the_same_weights(tiny_sdxl, examples, sdxl_run):
    weights, _, _, store, _ = sdxl_run
    assert sorted(store.saved) == [2, 4]
    resumed = LoraTrainer(tiny_sdxl, **OPTIONS).train(examples, MemoryCheckpoints(initial=(2, store.saved[2])))
    assert resumed.losses == weights.losses
    for name, state in [("unet", weights.state_dict), *weights.text_encoder_state_dicts.items()]:
        other = resumed.state_dict if name == "unet" else resumed.text_encoder_state_dicts[name]
        assert other.keys() == state.keys()
        assert all(torch.allclose(other[k], v, atol=1e-6, rtol=0) for k, v in state.items()), name
    with pytest.raises(ValueError, match="settings"):  # a UNet-only run cannot resume a text-encoder run
        LoraTrainer(tiny_sdxl, **(OPTIONS | {"train_text_encoder": False})).train(
            examples, MemoryCheckpoints(initial=(2, store.saved[2])))
    assert tiny_sdxl.get_list_adapters() == {}


def test_gradient_checkpointing_on_every_trained_model(tiny_sdxl, examples):
    options = OPTIONS | {"steps": 1, "checkpoint_every": 10}
    plain = LoraTrainer(tiny_sdxl, **options).train(examples)
    flags = []
    hook = tiny_sdxl.text_encoder_2.register_forward_pre_hook(
        lambda module, args: flags.append((tiny_sdxl.unet.is_gradient_checkpointing,
                                           module.is_activation_checkpointing)))
    try:
        checkpointed = LoraTrainer(tiny_sdxl, **options, gradient_checkpointing=True).train(examples)
    finally:
        hook.remove()
    assert flags == [(True, True)]
    assert plain.losses == pytest.approx(checkpointed.losses, rel=1e-5)
    assert not tiny_sdxl.unet.is_gradient_checkpointing
    assert not tiny_sdxl.text_encoder_2.is_activation_checkpointing


def test_fp16_sdxl_vae_encodes_in_fp32_and_is_restored(examples):
    from components.diffusion.tiny import build_tiny_sdxl_pipeline

    pipeline = build_tiny_sdxl_pipeline(seed=0).to(dtype=torch.float16)
    dtypes = []
    hook = pipeline.vae.encoder.register_forward_pre_hook(lambda module, args: dtypes.append(args[0].dtype))
    try:
        weights = LoraTrainer(pipeline, steps=1, resolution=32).train(examples)
    finally:
        hook.remove()
    assert dtypes == [torch.float32] and pipeline.vae.dtype == torch.float16
    assert np.isfinite(weights.losses).all()
    assert all(t.dtype == torch.float32 for t in weights.state_dict.values())  # LoRA trained in fp32
