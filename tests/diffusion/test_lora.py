import numpy as np
import pytest
import torch
from safetensors.torch import load

from components.diffusion.generate import as_pipeline_lora
from components.diffusion.lora import LoraTrainer
from components.protocols import Trainer
from tests.checkpoints import MemoryCheckpoints
from tests.conftest import torch_threads
from tests.diffusion.conftest import TRAIN_OPTIONS, TRAIN_STEPS, TRAIN_THREADS


def test_satisfies_trainer_protocol(tiny_pipeline):
    assert isinstance(LoraTrainer(tiny_pipeline), Trainer)


@pytest.mark.parametrize(
    "options", [dict(steps=0), dict(resolution=30), dict(rank=0), dict(face_fraction=(0.5, 0.3)), dict(batch_size=0)]
)
def test_rejects_bad_settings(tiny_pipeline, options):
    with pytest.raises(ValueError):
        LoraTrainer(tiny_pipeline, **options)


def test_no_examples_is_an_error(tiny_pipeline):
    with pytest.raises(ValueError, match="no training examples"):
        LoraTrainer(tiny_pipeline, steps=1, resolution=32).train([])


def test_training_returns_diffusers_lora_and_leaves_pipeline_clean(tiny_pipeline, trained):
    weights, store, calls, before, after = trained
    assert weights.steps == TRAIN_STEPS and weights.rank == 4 and weights.alpha == 8
    assert len(weights.losses) == TRAIN_STEPS and all(np.isfinite(weights.losses))
    assert [c[0] for c in calls] == list(range(1, TRAIN_STEPS + 1))
    assert weights.state_dict and all(".lora.down." in k or ".lora.up." in k for k in weights.state_dict)
    assert any(v.abs().sum() > 0 for k, v in weights.state_dict.items() if ".lora.up." in k)  # it learned
    unet = tiny_pipeline.unet
    assert not getattr(unet, "peft_config", None) and not unet.training
    # PEFT's wrapper layers are gone too: a ControlNet can be built from this UNet's weights
    assert not any("base_layer" in key for key in unet.state_dict())
    assert not any(p.requires_grad for p in tiny_pipeline.components["unet"].parameters())
    assert np.array_equal(before, after)  # no leftover adapter


def test_state_dict_loads_back_as_adapter_and_through_save_lora_weights(tiny_pipeline, trained, tmp_path):
    from diffusers import StableDiffusionPipeline

    state_dict = trained[0].state_dict
    try:
        tiny_pipeline.load_lora_weights(as_pipeline_lora(state_dict), adapter_name="x")
        assert tiny_pipeline.get_list_adapters() == {"unet": ["x"]}
        tiny_pipeline.unload_lora_weights()
        StableDiffusionPipeline.save_lora_weights(tmp_path, unet_lora_layers=state_dict, safe_serialization=True)
        assert [p.suffix for p in tmp_path.iterdir()] == [".safetensors"]
        tiny_pipeline.load_lora_weights(tmp_path, adapter_name="y")
        assert tiny_pipeline.get_list_adapters() == {"unet": ["y"]}
    finally:
        tiny_pipeline.unload_lora_weights()


def test_checkpoints_are_safetensors_and_resume_gives_identical_weights(tiny_pipeline, examples, trained):
    weights, store, *_ = trained
    assert sorted(store.saved) == [2, 4, 6]
    payload = store.saved[4]
    assert not payload.startswith(b"\x80")  # not a pickle
    assert any(k.startswith("param/") for k in load(payload))

    resumed_store = MemoryCheckpoints(initial=(4, payload))
    calls = []
    with torch_threads(TRAIN_THREADS):  # as the run it resumes: same rounding
        resumed = LoraTrainer(tiny_pipeline, **TRAIN_OPTIONS).train(
            examples, resumed_store, lambda step, total, loss: calls.append(step)
        )
    assert calls == [5, 6] and sorted(resumed_store.saved) == [6]
    assert resumed.losses == weights.losses
    assert resumed.state_dict.keys() == weights.state_dict.keys()
    for key, tensor in weights.state_dict.items():
        assert torch.allclose(resumed.state_dict[key], tensor, atol=1e-6, rtol=0), key


def test_checkpoint_from_other_settings_is_refused(tiny_pipeline, examples, trained):
    store = MemoryCheckpoints(initial=(4, trained[1].saved[4]))
    with pytest.raises(ValueError, match="settings"):
        LoraTrainer(tiny_pipeline, **(TRAIN_OPTIONS | {"seed": 8})).train(examples, store)
    assert not getattr(tiny_pipeline.unet, "peft_config", None)  # cleaned up after the error


def test_exported_lora_reproduces_the_trained_adapter(tiny_pipeline, examples, monkeypatch):
    """alpha/rank is folded into the up weights, so diffusers' scale-1 loading matches training."""
    import components.diffusion.lora as lora_module
    from tests.diffusion.conftest import render

    remove = lora_module._remove_training_adapters
    monkeypatch.setattr(lora_module, "_remove_training_adapters", lambda pipeline: None)
    try:
        weights = LoraTrainer(tiny_pipeline, rank=4, alpha=32, learning_rate=5e-3, steps=3, resolution=32).train(
            examples
        )
        with_training_adapter = render(tiny_pipeline)
    finally:
        remove(tiny_pipeline)
    base = render(tiny_pipeline)
    try:
        tiny_pipeline.load_lora_weights(as_pipeline_lora(weights.state_dict), adapter_name="x")
        reloaded = render(tiny_pipeline)
    finally:
        tiny_pipeline.unload_lora_weights()
    assert not np.array_equal(with_training_adapter, base)
    np.testing.assert_allclose(reloaded, with_training_adapter, atol=1e-5)


def test_gradient_checkpointing_trains_the_same_and_is_switched_off_after(tiny_pipeline, examples):
    from components.diffusion.lora import LoraTrainer

    plain = LoraTrainer(tiny_pipeline, steps=2, resolution=32, checkpoint_every=100).train(examples)
    checkpointed = LoraTrainer(tiny_pipeline, steps=2, resolution=32, checkpoint_every=100,
                               gradient_checkpointing=True).train(examples)
    assert plain.losses == pytest.approx(checkpointed.losses, rel=1e-5)
    assert not tiny_pipeline.unet.is_gradient_checkpointing


def test_8bit_optimizer_needs_bitsandbytes(tiny_pipeline, examples):
    import importlib.util

    from components.diffusion.lora import LoraTrainer

    with pytest.raises(ValueError, match="optimizer must be one of"):
        LoraTrainer(tiny_pipeline, optimizer="sgd")
    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(ValueError, match="needs bitsandbytes"):
            LoraTrainer(tiny_pipeline, steps=1, resolution=32, optimizer="adamw8bit").train(examples)
