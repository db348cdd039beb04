"""Style LoRAs in generation on the tiny model: kohya = PEFT, text-encoder parts, stacking, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from components.diffusion.generate import PeftGenerator
from components.diffusion.lora_family import LoraFamilyMismatch
from components.diffusion.lora_formats import LoraFormatError
from components.types import StyleLoraWeight
from tests.diffusion.conftest import request

BLOCK = "down_blocks.1.attentions.0.transformer_blocks.0"


@pytest.fixture(scope="module")
def generator(tiny_pipeline):
    return PeftGenerator(tiny_pipeline)


def _random(shape, seed, scale=1.0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


def text_encoder_lora(rank=4, seed=5) -> dict:
    """PEFT-format LoRA on the tiny CLIP's attention projections, as community files name them."""
    out = {}
    for layer in (0, 1):
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            key = f"text_encoder.text_model.encoder.layers.{layer}.self_attn.{proj}"
            out[f"{key}.lora_A.weight"] = _random((rank, 32), seed + layer, 0.5)
            out[f"{key}.lora_B.weight"] = _random((32, rank), seed + 10 + layer, 0.5)
    return out


def second_unet_lora(seed=9) -> dict:
    """A different UNet LoRA (value projections of the cross-attention) with a visible effect."""
    return {f"unet.{BLOCK}.attn2.to_v.lora.down.weight": _random((4, 32), seed),
            f"unet.{BLOCK}.attn2.to_v.lora.up.weight": _random((64, 4), seed + 1)}


def peft_file(face_weights) -> dict:
    """The trained tiny UNet LoRA plus a text-encoder LoRA, with routed keys as save_lora_weights writes."""
    from diffusers.utils import convert_unet_state_dict_to_peft

    unet = {f"unet.{k}": v for k, v in convert_unet_state_dict_to_peft(dict(face_weights)).items()}
    return unet | text_encoder_lora()


def kohya_file(peft: dict, alpha_over_rank: float = 2.0) -> dict:
    """The same LoRA as an A1111/kohya file (lora_unet_/lora_te_ keys) with alpha != rank, up scaled to match."""
    from diffusers.utils import convert_state_dict_to_kohya

    kohya = {}
    for key, value in convert_state_dict_to_kohya(peft).items():
        key = key.replace("lora_te1_", "lora_te_")  # SD 1.5 files name the one text encoder lora_te_
        if key.endswith(".alpha"):
            value = torch.tensor(float(value) * alpha_over_rank)
        elif key.endswith(".lora_up.weight"):
            value = value / alpha_over_rank
        kohya[key] = value
    return kohya


def _style(generator, loras: dict, weights: dict | None = None, **changes):
    weights = weights or {name: 1.0 for name in loras}
    req = request(style_loras=tuple(StyleLoraWeight(n, w) for n, w in weights.items()), **changes)
    return generator.generate(req, None, None, loras)


def _clean(pipeline):
    return pipeline.get_list_adapters() == {} and not getattr(pipeline.unet, "peft_config", None)


def test_kohya_file_with_alpha_gives_the_peft_files_images(generator, trained):
    peft = peft_file(trained[0].state_dict)
    kohya = kohya_file(peft)
    assert all(k.startswith(("lora_unet_", "lora_te_")) for k in kohya) and any(k.endswith(".alpha") for k in kohya)
    from_peft = _style(generator, {"style_0": peft})
    from_kohya = _style(generator, {"style_0": kohya})
    assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 2 for a, b in zip(from_peft, from_kohya))
    # alpha is applied: the same file read as alpha == rank differs
    no_alpha = {k: v for k, v in kohya.items() if not k.endswith(".alpha")}
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 2 for a, b in zip(from_peft, _style(generator, {"style_0": no_alpha})))
    # the text-encoder part is applied, not dropped
    unet_only = {k: v for k, v in kohya.items() if k.startswith("lora_unet_")}
    assert any(not np.array_equal(a, b) for a, b in zip(from_kohya, _style(generator, {"style_0": unet_only})))
    assert _clean(generator.pipeline)


def test_two_loras_on_one_style_both_take_effect_and_weight_zero_is_absent(generator, trained):
    first, second = {f"unet.{k}": v for k, v in trained[0].state_dict.items()}, second_unet_lora()
    plain = generator.generate(request(), None, None)
    alone_first = _style(generator, {"style_0": first})
    alone_second = _style(generator, {"style_1": second})
    both = _style(generator, {"style_0": first, "style_1": second})
    for one, other in ((plain, alone_first), (plain, alone_second), (both, alone_first), (both, alone_second)):
        assert any(not np.array_equal(a, b) for a, b in zip(one, other))
    zero = _style(generator, {"style_0": first, "style_1": second}, {"style_0": 1.0, "style_1": 0.0})
    assert all(np.array_equal(a, b) for a, b in zip(zero, alone_first))
    with_face = generator.generate(request(face_weight=0.25, style_loras=(StyleLoraWeight("style_0", 1.0),)),
                                   first, None, {"style_0": second})
    assert len(with_face) == 2 and _clean(generator.pipeline)


@pytest.mark.parametrize("lora,words", [
    ({"lora_unet_x.lora_down.weight": torch.zeros(4, 8), "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight":
      torch.zeros(4, 8)}, "SDXL"),
    ({f"unet.{BLOCK}.attn2.to_k.lora.down.weight": torch.zeros(4, 2048),
      f"unet.{BLOCK}.attn2.to_k.lora.up.weight": torch.zeros(64, 4)}, "is for SDXL"),  # 2048: SDXL's width
    ({"unet.mid_block.attentions.9.proj_in.lora.down.weight": torch.zeros(4, 64),
      "unet.mid_block.attentions.9.proj_in.lora.up.weight": torch.zeros(64, 4)}, "does not have"),
    ({"first_stage_model.encoder.conv_in.weight": torch.zeros(4, 4)}, "neither"),
])
def test_loras_for_another_architecture_or_format_are_refused_before_loading(generator, trained, lora, words):
    good = {f"unet.{k}": v for k, v in trained[0].state_dict.items()}
    with pytest.raises((LoraFormatError, LoraFamilyMismatch), match=words):  # the family check speaks first
        _style(generator, {"style_0": good, "style_1": lora})
    assert _clean(generator.pipeline)


@pytest.mark.parametrize("weights,given,message", [
    ({"style_0": 1.0}, {}, "were given"),
    ({"face": 1.0}, {"face": {}}, "taken"),
    ({"a.b": 1.0}, {"a.b": {}}, "letters"),
    ({"style_0": -1.0}, {"style_0": {}}, "weight"),
])
def test_bad_style_lora_requests_are_refused(generator, weights, given, message):
    with pytest.raises(ValueError, match=message):
        _style(generator, given, weights)


def test_facechain_style_json_multiplier_reaches_the_adapter_weights(generator, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from components.diffusion.styles import build_prompt
    from tasks.job_style import job_style, style_lora_weights, style_state_dicts
    from tasks.styles import find_style

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    repo = tmp_path / "ms" / "models" / "rewfueranro" / "cartoon_lora"
    repo.mkdir(parents=True)
    save_file(second_unet_lora(), str(repo / "cartoon.safetensors"))
    styles = tmp_path / "facechain" / "styles" / "MajicmixRealistic_v6"
    styles.mkdir(parents=True)
    (styles / "Cartoon.json").write_text(json.dumps({
        "name": "漫画风(Cartoon)", "img": "./style_image/Cartoon.jpg", "model_id": "rewfueranro/cartoon_lora",
        "revision": "v1.0.0", "bin_file": "cartoon.safetensors", "multiplier_style": 0.35, "multiplier_human": 0.95,
        "add_prompt_style": "Manhuanan, jewelry, half body photo"}, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "facechain" / "style_image").mkdir()
    (tmp_path / "facechain" / "style_image" / "Cartoon.jpg").write_bytes(b"jpg")

    style = find_style(styles, "cartoon")
    assert style.preview == str(tmp_path / "facechain" / "style_image" / "Cartoon.jpg")
    prompt, negative = build_prompt(style, "a beautiful woman")
    assert prompt.startswith("a beautiful woman, Manhuanan, jewelry, half body photo, upper_body") and "nsfw" in negative
    resolved = job_style(style)
    weights, tensors = style_lora_weights(resolved), style_state_dicts(resolved)
    calls = []
    original = generator.pipeline.set_adapters
    monkeypatch.setattr(generator.pipeline, "set_adapters",
                        lambda names, adapter_weights: (calls.append((names, adapter_weights)),
                                                        original(names, adapter_weights=adapter_weights)))
    images = generator.generate(request(prompt=prompt, negative_prompt=negative, style_loras=weights), None, None, tensors)
    assert calls == [(["style_0"], [0.35])]
    assert any(not np.array_equal(a, b) for a, b in zip(images, generator.generate(
        request(prompt=prompt, negative_prompt=negative), None, None)))


def test_train_free_generation_takes_the_same_list_of_style_loras(tiny_pipeline, trained):
    from components.diffusion.generate import loras_loaded

    first, second = {f"unet.{k}": v for k, v in trained[0].state_dict.items()}, second_unet_lora()
    with loras_loaded(tiny_pipeline, [("style_0", first, 0.5), ("style_1", second, 1.0), ("style_2", second, 0.0)]):
        assert sorted(tiny_pipeline.get_list_adapters()["unet"]) == ["style_0", "style_1"]
    assert _clean(tiny_pipeline)
    with pytest.raises(LoraFormatError, match="'style_1'"):
        with loras_loaded(tiny_pipeline, [("style_0", first, 1.0), ("style_1", {"x.weight": torch.zeros(1)}, 1.0)]):
            pass
    assert _clean(tiny_pipeline)
