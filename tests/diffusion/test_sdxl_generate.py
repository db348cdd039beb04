"""Generation on tiny-sdxl with face and style LoRAs, LoRA family refusals, fast sampling, memory options."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from components.diffusion.fast import FAST_ADAPTER, fast_plan, fast_sampling, load_fast_lora
from components.diffusion.generate import PeftGenerator
from components.diffusion.lora_family import LoraFamilyMismatch, check_lora_family, lora_family
from components.diffusion.tiny import random_unet_lora
from tests.diffusion.conftest import synthetic_examples
from tests.diffusion.conftest import request as make_request

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sd15_lora(tiny_pipeline):
    return random_unet_lora(tiny_pipeline, seed=1)


@pytest.fixture(scope="module")
def sdxl_lora(tiny_sdxl):
    return random_unet_lora(tiny_sdxl, seed=2)


def _lcm_file(folder, lora, name="lcm-lora-tiny.safetensors"):
    """A random LoRA saved under an LCM-like name, as diffusers' LCM-LoRAs are named."""
    path = folder / name
    save_file({f"unet.{k}": v.contiguous() for k, v in lora.items()}, path)
    return path


class Spy:
    """Scheduler class, steps and UNet calls of each pipeline call a generator makes."""

    def __init__(self, generator):
        self.calls, self.unet_calls = [], 0
        pipeline, original = generator.pipeline, generator._generate_batch

        def batch(req, seeds):
            self.calls.append((type(pipeline.scheduler).__name__, req.steps, req.guidance))
            return original(req, seeds)

        generator._generate_batch = batch
        self.hook = pipeline.unet.register_forward_pre_hook(lambda *a: setattr(self, "unet_calls",
                                                                                self.unet_calls + 1))

    def close(self):
        self.hook.remove()


def _spied(generator, asked):
    spy = Spy(generator)
    try:
        return generator.generate(asked, None, None), spy
    finally:
        spy.close()


def test_face_and_style_loras_at_their_weights_on_sdxl(tiny_sdxl, sdxl_lora):
    generator = PeftGenerator(tiny_sdxl)
    scheduler = tiny_sdxl.scheduler
    plain = generator.generate(make_request(), None, None)
    with_face = generator.generate(make_request(), sdxl_lora, None)
    assert plain[0].shape == (32, 32, 3) and plain[0].dtype == np.uint8
    assert any(not np.array_equal(a, b) for a, b in zip(plain, with_face))
    weaker = generator.generate(make_request(face_weight=0.25), sdxl_lora, sdxl_lora)
    assert any(not np.array_equal(a, b) for a, b in zip(with_face, weaker))
    assert tiny_sdxl.get_list_adapters() == {} and tiny_sdxl.scheduler is scheduler
    again = generator.generate(make_request(), None, None)
    assert all(np.array_equal(a, b) for a, b in zip(plain, again))


def test_lora_family_is_read_from_keys_and_shapes(sd15_lora, sdxl_lora):
    assert lora_family(sd15_lora).name == "sd15" and lora_family(sdxl_lora).name == "sdxl"
    # real files: kohya's SDXL text-encoder keys, SD 1.5 and SDXL cross-attention widths
    assert lora_family({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 1280)}).name \
        == "sdxl"
    kohya = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"
    assert lora_family({kohya: torch.zeros(4, 768)}).name == "sd15"
    peft = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v.lora_A.weight"
    assert lora_family({peft: torch.zeros(4, 2048)}).name == "sdxl"
    assert lora_family({"unet.conv_in.lora.down.weight": torch.zeros(4, 4)}) is None


def test_other_family_loras_are_refused_with_both_families_named(tiny_pipeline, tiny_sdxl, sd15_lora, sdxl_lora):
    with pytest.raises(LoraFamilyMismatch, match=r"face LoRA is for SD 1\.5 \(sd15\).*base model is SDXL \(sdxl\)"):
        PeftGenerator(tiny_sdxl).generate(make_request(), sd15_lora, None)
    with pytest.raises(LoraFamilyMismatch, match=r"style LoRA is for SDXL \(sdxl\).*base model is SD 1\.5 \(sd15\)"):
        PeftGenerator(tiny_pipeline).generate(make_request(), None, sdxl_lora)
    assert tiny_sdxl.get_list_adapters() == {} and tiny_pipeline.get_list_adapters() == {}
    with pytest.raises(LoraFamilyMismatch, match=r"width \[1024\]"):  # e.g. an SD 2.x LoRA
        check_lora_family({"unet.a.attn2.to_k.lora.down.weight": torch.zeros(4, 1024)}, tiny_pipeline, "style")


@pytest.mark.parametrize("model", ["tiny_pipeline", "tiny_sdxl"])
def test_fast_lora_switches_scheduler_and_steps_and_changes_images(model, request, tmp_path):
    pipeline = request.getfixturevalue(model)
    fast = load_fast_lora(str(_lcm_file(tmp_path, random_unet_lora(pipeline, seed=3))))
    assert (fast.plan.kind, fast.plan.sampler, fast.plan.steps, fast.plan.guidance) == ("lcm", "lcm", 4, 1.0)
    asked = make_request(seeds=[5], batch_size=1, steps=2, guidance=5.0, sampler="ddim")
    plain, plain_spy = _spied(PeftGenerator(pipeline), asked)
    quick, fast_spy = _spied(PeftGenerator(pipeline, fast=fast), asked)
    assert plain_spy.calls == [("DDIMScheduler", 2, 5.0)] and plain_spy.unet_calls == 2
    assert fast_spy.calls == [("LCMScheduler", 4, 1.0)] and fast_spy.unet_calls == 4  # no CFG branch
    assert not np.array_equal(plain[0], quick[0])
    assert pipeline.get_list_adapters() == {} and type(pipeline.scheduler).__name__ != "LCMScheduler"


@pytest.mark.parametrize("name,kind,sampler,steps,guidance", [
    ("latent-consistency/lcm-lora-sdxl", "lcm", "lcm", 4, 1.0),
    ("ByteDance/SDXL-Lightning/sdxl_lightning_4step_lora.safetensors", "lightning", "euler_trailing", 4, 1.0),
    ("Hyper-SDXL-8steps-CFG-lora.safetensors", "hyper", "ddim_trailing", 8, 5.0),
    ("Hyper-SD15-1step-lora.safetensors", "hyper", "ddim_trailing", 1, 1.0),
    ("h1t/TCD-SDXL-LoRA", "tcd", "tcd", 4, 1.0),
])
def test_fast_kind_and_settings_from_the_name(name, kind, sampler, steps, guidance):
    plan = fast_plan(name)
    assert (plan.kind, plan.sampler, plan.steps, plan.guidance) == (kind, sampler, steps, guidance)


def test_fast_plan_from_metadata_and_user_overrides():
    assert fast_plan("my.safetensors", {"modelspec.title": "LCM LoRA SDXL"}).kind == "lcm"
    with pytest.raises(ValueError, match="lightning, hyper, tcd, lcm"):
        fast_plan("speedy.safetensors")
    plan = fast_plan("speedy.safetensors", kind="lcm", steps=6, guidance=1.5, weight=0.8)
    assert (plan.sampler, plan.steps, plan.guidance, plan.weight) == ("lcm", 6, 1.5, 0.8)
    assert fast_plan("lcm-lora-sdv1-5", steps=8).steps == 8
    with pytest.raises(ValueError, match="kind"):
        fast_plan("lcm", kind="turbo")
    with pytest.raises(ValueError, match="steps"):
        fast_plan("lcm", steps=0)


def test_fast_lora_from_a_cached_hub_id_and_refusals(tmp_path, empty_caches, sd15_lora):
    from components.diffusion.base_model import BaseModelNotFound

    folder = tmp_path / "modelscope" / "hub" / "models" / "someone" / "lcm-lora-tiny"
    folder.mkdir(parents=True)
    _lcm_file(folder, sd15_lora, name="pytorch_lora_weights.safetensors")
    fast = load_fast_lora("someone/lcm-lora-tiny")
    assert fast.plan.kind == "lcm" and fast.name == "someone/lcm-lora-tiny"
    assert fast.adapter()[0] == FAST_ADAPTER and fast.adapter()[1].keys() == fast.state_dict.keys()
    with pytest.raises(BaseModelNotFound, match="someone/lcm-lora-missing"):
        load_fast_lora("someone/lcm-lora-missing")
    (tmp_path / "lcm.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ValueError, match="only .safetensors"):
        load_fast_lora(str(tmp_path / "lcm.bin"))


def test_face_adapter_keeps_working_under_fast_sampling(tiny_pipeline, tmp_path):
    """The train-free path: its own denoising loop under the fast LoRA and scheduler (SD 1.5)."""
    from components.adapters.infer import AdapterGenerator
    from components.adapters.types import AdapterWeights
    from components.adapters.weights import build_modules, default_config, export_state

    config = default_config(tiny_pipeline.unet, "fact", 2)
    projection, adapter = build_modules(tiny_pipeline.unet, config, seed=0)
    for layer in adapter.layers.modules():  # a non-zero adapter (trained ones are; fresh ones start at zero)
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, std=0.2, generator=torch.Generator().manual_seed(0))
    weights = AdapterWeights(kind="fact", state_dict=export_state(projection, adapter), config=config, losses=[])
    generator = AdapterGenerator(tiny_pipeline, weights)
    faces = np.random.default_rng(0).normal(size=(1, 128)).astype(np.float32)
    fast = load_fast_lora(str(_lcm_file(tmp_path, random_unet_lora(tiny_pipeline, seed=3))))
    kwargs = dict(seeds=[3], width=32, height=32)
    plain = generator.generate("a photo of sks", "", faces, steps=2, **kwargs)
    scheduler = tiny_pipeline.scheduler
    with fast_sampling(tiny_pipeline, fast) as plan:
        assert type(tiny_pipeline.scheduler).__name__ == "LCMScheduler"
        assert tiny_pipeline.get_list_adapters() == {"unet": [FAST_ADAPTER]}
        quick = generator.generate("a photo of sks", "", faces, steps=plan.steps, guidance_text=plan.guidance,
                                   **kwargs)
        no_face = generator.generate("a photo of sks", "", faces, steps=plan.steps, guidance_text=plan.guidance,
                                     scale=0.0, **kwargs)
    assert tiny_pipeline.scheduler is scheduler and tiny_pipeline.get_list_adapters() == {}
    assert quick[0].shape == (32, 32, 3) and not np.array_equal(plain[0], quick[0])
    assert not np.array_equal(quick[0], no_face[0])  # the adapter still acts under the fast LoRA


def test_face_adapters_refuse_sdxl_and_say_why(tiny_sdxl):
    from components.adapters.infer import AdapterGenerator
    from components.adapters.train import AdapterTrainer
    from components.adapters.types import AdapterWeights

    with pytest.raises(ValueError, match=r"do not run on SDXL \(sdxl\).*only on SD 1\.5.*second encoder"):
        AdapterTrainer(tiny_sdxl, "fact", steps=1)
    with pytest.raises(ValueError, match="SDXL"):
        AdapterGenerator(tiny_sdxl, AdapterWeights(kind="fact", state_dict={}, config={"kind": "fact"}, losses=[]))


def test_memory_options_are_applied(tiny_sdxl):
    from components.diffusion.lora import LoraTrainer
    from components.diffusion.memory import MemoryOptions, apply_memory_options, is_offloaded
    from components.diffusion.tiny import build_tiny_sdxl_pipeline

    with pytest.raises(ValueError, match="cpu_offload"):
        MemoryOptions(cpu_offload="disk")
    pipeline = build_tiny_sdxl_pipeline(seed=0)
    apply_memory_options(pipeline, MemoryOptions(vae_tiling=True, vae_slicing=True), device="cpu")
    assert pipeline.vae.use_tiling and pipeline.vae.use_slicing and not is_offloaded(pipeline)
    # Offload onto "cpu" runs the same hooks as onto a GPU (here the models go nowhere).
    apply_memory_options(pipeline, MemoryOptions(cpu_offload="model"), device="cpu")
    assert is_offloaded(pipeline) and not pipeline.vae.use_tiling
    offloaded = PeftGenerator(pipeline, device="cpu").generate(make_request(seeds=[4], batch_size=1), None, None)
    reference = PeftGenerator(tiny_sdxl).generate(make_request(seeds=[4], batch_size=1), None, None)
    np.testing.assert_array_equal(offloaded[0], reference[0])
    with pytest.raises(ValueError, match="offload"):
        LoraTrainer(pipeline, steps=1, resolution=32).train(synthetic_examples())


def test_typed_configs_build_the_components(tmp_path, sd15_lora):
    from pydantic import ValidationError

    from components.diffusion.memory import MemoryOptions
    from tasks.config import FastConfig, MemoryConfig

    options = MemoryOptions(**MemoryConfig(vae_tiling=True, cpu_offload="model").component_options())
    assert options == MemoryOptions(vae_tiling=True, vae_slicing=False, cpu_offload="model")
    path = _lcm_file(tmp_path, sd15_lora, name="speedy.safetensors")
    fast = load_fast_lora(**FastConfig(spec=str(path), kind="lcm", steps=6).component_options())
    assert (fast.plan.kind, fast.plan.steps, fast.plan.guidance) == ("lcm", 6, 1.0)
    with pytest.raises(ValidationError):
        FastConfig(spec=str(path), kind="turbo")
