"""Style LoRAs found offline by id in fake Hugging Face / ModelScope caches (their real layouts)."""

from __future__ import annotations

import json

import pytest

from components.diffusion.lora_formats import LoraFormatError
from components.diffusion.styles import Style, StyleError, StyleLora
from tasks.lora_sources import LoraNotFound, locate_lora, resolve_lora, resolve_style_loras
from tasks.styles import find_style
from tests.styles.loras import hf_cache_repo, write_lora


@pytest.fixture
def caches(tmp_path, monkeypatch):
    hf, ms = tmp_path / "hf" / "hub", tmp_path / "modelscope"
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(ms))
    return hf, ms


def _lora_bytes(tmp_path, seed=0) -> bytes:
    return write_lora(tmp_path / f"made-{seed}.safetensors", seed=seed).read_bytes()


def test_hf_cache_found_by_id_through_refs_main(tmp_path, caches):
    hf, _ = caches
    data = _lora_bytes(tmp_path)
    commit = hf_cache_repo(hf, "someone/ink-lora", {"ink.safetensors": data, "README.md": b"# ink"})
    resolved = resolve_lora(StyleLora(source="someone/ink-lora", weight=0.5), "style_0", style="ink")
    assert resolved.where == "Hugging Face cache" and resolved.path.read_bytes() == data
    assert f"snapshots/{commit}" in str(locate_lora(StyleLora(source="someone/ink-lora"))[0])
    assert resolved.weight == 0.5
    by_commit = resolve_lora(StyleLora(source="someone/ink-lora", revision=commit, file="ink.safetensors"), "s")
    assert by_commit.path == resolved.path


def test_hf_cache_named_revision_and_file(tmp_path, caches):
    hf, _ = caches
    hf_cache_repo(hf, "someone/pack", {"a.safetensors": _lora_bytes(tmp_path, 1),
                                       "sub/b.safetensors": _lora_bytes(tmp_path, 2)}, revision="v2")
    found = resolve_lora(StyleLora(source="someone/pack", revision="v2", file="sub/b.safetensors"), "s")
    assert found.path.read_bytes() == _lora_bytes(tmp_path, 2)
    with pytest.raises(LoraNotFound):  # only v2 is cached
        resolve_lora(StyleLora(source="someone/pack", file="a.safetensors"), "s")


def test_modelscope_caches_found_by_id(tmp_path, caches):
    _, ms = caches
    old = ms / "models" / "rewfueranro" / "cartoon_lora"  # modelscope <= 1.37: one version per model
    old.mkdir(parents=True)
    (old / "cartoon.safetensors").write_bytes(_lora_bytes(tmp_path, 3))
    new = ms / "models" / "YorickHe--fairy_lora" / "snapshots" / "v1.0.0"  # modelscope >= 1.40
    new.mkdir(parents=True)
    (new / "fairy.safetensors").write_bytes(_lora_bytes(tmp_path, 4))
    cartoon = resolve_lora(StyleLora(source="rewfueranro/cartoon_lora", revision="v1.0.0", file="cartoon.safetensors"), "s")
    assert cartoon.where == "ModelScope cache" and "not checked" in cartoon.note
    fairy = resolve_lora(StyleLora(source="YorickHe/fairy_lora", revision="v1.0.0", file="fairy.safetensors"), "s")
    assert fairy.path == new / "fairy.safetensors" and fairy.note == ""
    with pytest.raises(LoraNotFound):
        resolve_lora(StyleLora(source="YorickHe/fairy_lora", revision="v2", file="fairy.safetensors"), "s")


def test_missing_id_error_names_id_revision_file_and_how_to_fetch(caches):
    hf, ms = caches
    with pytest.raises(LoraNotFound) as caught:
        resolve_lora(StyleLora(source="nobody/nothing", revision="v3", file="n.safetensors"), "s", style="neon")
    message = str(caught.value)
    for words in ("'nobody/nothing'", "style 'neon'", "revision v3", "n.safetensors", str(hf), str(ms),
                  "hf download nobody/nothing n.safetensors --revision v3",
                  "modelscope download nobody/nothing n.safetensors --revision v3"):
        assert words in message
    path, why = locate_lora(StyleLora(source="nobody/nothing"))
    assert path is None and "not in the local" in why


def test_style_resolution_fails_before_any_work_on_the_first_missing_lora(tmp_path, caches):
    write_lora(tmp_path / "lib" / "here.safetensors")
    (tmp_path / "lib" / "two.yaml").write_text(
        "prompt: '{trigger}'\nloras: [{source: here.safetensors, weight: 0.5}, {source: someone/absent, weight: 1}]\n")
    with pytest.raises(LoraNotFound, match="'someone/absent' of style 'two'"):
        resolve_style_loras(find_style(tmp_path / "lib", "two"))


def test_generation_key_follows_lora_content_and_weight_not_path(tmp_path, caches):
    from tasks.catalog import TRAIN, portrait_stages
    from tasks.config import BaseModelConfig, GenerateConfig
    from tasks.job_style import job_style
    from tasks.keys import stage_key

    hf, _ = caches
    first = write_lora(tmp_path / "a" / "x.safetensors", seed=1)
    moved = tmp_path / "b" / "y.safetensors"
    moved.parent.mkdir()
    moved.write_bytes(first.read_bytes())
    hf_cache_repo(hf, "someone/same", {"same.safetensors": first.read_bytes()})
    [generate] = [s for s in portrait_stages(TRAIN) if s.name == "generate"]

    def key(source, weight=1.0):
        style = job_style(Style(name="s", prompt="{trigger}", loras=(StyleLora(source=str(source), weight=weight),)))
        assert str(tmp_path) not in json.dumps(style.model_dump(mode="json"))  # no path in what is keyed
        values = {"generate": GenerateConfig(), "base": BaseModelConfig(spec="tiny"), "style": style}
        return stage_key(generate, ["train-key", "curate-key"], values)

    assert key(first) == key(moved) == key("someone/same") != key(first, weight=0.5)
    before = key(first)
    write_lora(first, seed=2)  # the file replaced: new content, same path
    assert key(first) != before


def test_every_generation_stage_keys_the_style_loras_by_content(tmp_path, caches):
    """The pose and template modes' generation (and inpainting) stages take the same JobStyle as `generate`."""
    from flows.portrait_config import PortraitConfig, portrait_values
    from tasks.catalog import PORTRAIT_STAGES
    from tasks.config import BaseModelConfig
    from tasks.job_style import job_style
    from tasks.keys import stage_key

    first = write_lora(tmp_path / "a" / "x.safetensors", seed=1)
    moved = tmp_path / "b" / "y.safetensors"
    moved.parent.mkdir()
    moved.write_bytes(first.read_bytes())
    stages = [s for s in PORTRAIT_STAGES if "style" in s.params]
    assert {(s.name, kind) for s in stages for kind in s.kinds} >= {
        ("generate", "style"), ("generate", "pose"), ("generate", "template"), ("inpaint", "template")}
    config = PortraitConfig(user="u", style="studio_headshot", base=BaseModelConfig(spec="tiny"))

    def keys(source, weight=1.0):
        style = job_style(Style(name="s", prompt="{trigger}", loras=(StyleLora(source=str(source), weight=weight),)))
        values = portrait_values(config, style)
        return [stage_key(stage, ["input"] * len(stage.reads), values) for stage in stages]

    before = keys(first)
    assert before == keys(moved)
    assert all(a != b for a, b in zip(before, keys(first, weight=0.5)))
    write_lora(first, seed=2)
    assert all(a != b for a, b in zip(before, keys(first)))


def test_unusable_files_refused_at_resolution(tmp_path, caches):
    sdxl = write_lora(tmp_path / "sdxl.safetensors", {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 8),
                                                       "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": (8, 4),
                                                       "lora_te2_text_model_encoder_layers_0_mlp_fc1.alpha": ()})
    with pytest.raises(LoraFormatError, match="SDXL"):
        resolve_lora(StyleLora(source=str(sdxl)), "s")
    junk = write_lora(tmp_path / "junk.safetensors", {"model.diffusion_model.input_blocks.0.0.weight": (4, 4)})
    with pytest.raises(LoraFormatError, match="neither the diffusers/PEFT format"):
        resolve_lora(StyleLora(source=str(junk)), "s")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(sdxl.read_bytes()[:40])
    with pytest.raises(StyleError, match="not a readable .safetensors"):
        resolve_lora(StyleLora(source=str(truncated)), "s")
    pickled = tmp_path / "old.bin"
    pickled.write_bytes(b"not even a pickle")
    with pytest.raises(StyleError, match="--trust-pickle"):
        resolve_lora(StyleLora(source=str(pickled)), "s")


def test_a_cache_link_leaving_the_repository_is_refused(tmp_path, caches):
    hf, _ = caches
    commit = hf_cache_repo(hf, "someone/evil", {"x.safetensors": _lora_bytes(tmp_path)})
    link = hf / "models--someone--evil" / "snapshots" / commit / "x.safetensors"
    link.unlink()
    link.symlink_to(write_lora(tmp_path / "outside" / "secret.safetensors"))
    with pytest.raises(StyleError, match="outside"):
        resolve_lora(StyleLora(source="someone/evil"), "s")


def test_job_style_with_command_line_loras_resolved_before_any_work(tmp_path, caches):
    from tasks.styles import resolve_job_style

    hf, _ = caches
    hf_cache_repo(hf, "someone/ink", {"ink.safetensors": _lora_bytes(tmp_path, 5)})
    write_lora(tmp_path / "lib" / "base.safetensors", seed=6)
    (tmp_path / "lib" / "ink.yaml").write_text("prompt: '{trigger}'\nstyle_weight: 0.9\n"
                                               "loras: [{source: base.safetensors, weight: 0.5}]\n")
    mine = write_lora(tmp_path / "mine.safetensors", seed=7)
    style = resolve_job_style(tmp_path / "lib", "ink", [str(mine), "someone/ink,weight=0.2"])
    assert [(f.name, f.weight, f.label) for f in style.lora_files] == [
        ("style_0", 0.5, str(tmp_path / "lib" / "base.safetensors")), ("style_1", 0.9, str(mine)),
        ("style_2", 0.2, "someone/ink")]
    assert style.content_files()[2].startswith(str(hf))
    with pytest.raises(LoraNotFound, match="'someone/absent'"):
        resolve_job_style(tmp_path / "lib", "ink", ["someone/absent"])


def test_job_configs_recorded_with_one_style_lora_still_read():
    from flows.portrait_config import PortraitConfig

    fields = {"user": "u", "style": "studio_headshot"}
    assert PortraitConfig.model_validate(fields | {"style_lora": None}).style_lora == []
    assert PortraitConfig.model_validate(fields | {"style_lora": "a.safetensors"}).style_lora == ["a.safetensors"]
    assert PortraitConfig(**fields, style_lora=["a.safetensors", "o/n,weight=0.5"]).style_lora[1] == "o/n,weight=0.5"


def test_an_sdxl_lora_is_refused_before_any_work_only_on_an_sd15_base(tmp_path, caches):
    from tasks.config import BaseModelConfig
    from tasks.job_style import lora_targets

    sdxl = write_lora(tmp_path / "xl.safetensors", {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 8),
                                                     "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": (8, 4)})
    lora = StyleLora(source=str(sdxl))
    with pytest.raises(LoraFormatError, match="SDXL"):
        resolve_lora(lora, "s", targets=lora_targets(BaseModelConfig(spec="tiny")))
    assert resolve_lora(lora, "s", targets=lora_targets(BaseModelConfig(spec="tiny-sdxl"))).path == sdxl
    assert "text_encoder_2" in lora_targets(BaseModelConfig(spec=str(tmp_path / "absent-model")))
