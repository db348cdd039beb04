from pathlib import Path

import pytest

from components.diffusion.styles import Style, StyleError, build_prompt, parse_style
from tasks.styles import load_style_library, style_with_loras

STYLES_DIR = Path(__file__).resolve().parents[2] / "data" / "styles"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_bundled_style_loads_and_is_prompt_only():
    library = load_style_library(STYLES_DIR)
    assert len(library) >= 6 and len(library) == len(list(STYLES_DIR.glob("*.yaml")))
    for name, style in library.items():
        assert style.name == name and style.loras == ()
        assert "{trigger}" in style.prompt and style.negative_prompt


def test_unknown_key_names_key_and_style():
    with pytest.raises(StyleError) as caught:
        parse_style({"name": "suit", "prompt": "{trigger}", "colour": "red", "zz": 1}, "suit.yaml")
    message = str(caught.value)
    assert "'suit'" in message and "'colour'" in message and "'zz'" in message and "suit.yaml" in message


@pytest.mark.parametrize(
    "changes,key",
    [
        ({"steps": 0}, "steps"),
        ({"width": 100}, "width"),
        ({"name": "Bad Name"}, "name"),
        ({"prompt": "no placeholder"}, "prompt"),
        ({"sampler": "magic"}, "sampler"),
        ({"lora": "style.dat"}, "loras.0.source"),
        ({"face_weight": 3}, "face_weight"),
    ],
)
def test_invalid_values_name_the_key(changes, key):
    with pytest.raises(StyleError, match=f"'{key}'"):
        parse_style({"name": "s1", "prompt": "{trigger}, portrait"} | changes, "test")


def test_missing_local_lora_is_listed_missing_and_refused_when_used(tmp_path):
    from tasks.lora_sources import LoraNotFound, resolve_style_loras
    from tasks.styles import find_style

    _write(tmp_path, "neon", "prompt: '{trigger}, neon'\nlora: loras/neon.safetensors\n")
    with pytest.raises(LoraNotFound, match="style 'neon'"):
        resolve_style_loras(find_style(tmp_path, "neon"))


def test_local_lora_resolved_relative_to_style_file_and_hub_ids_kept(tmp_path):
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "neon.safetensors").write_bytes(b"")
    _write(tmp_path, "neon", "prompt: '{trigger}, neon'\nlora: loras/neon.safetensors\n")
    _write(tmp_path, "hub", "prompt: '{trigger}'\nlora: someone/style-lora\n")
    library = load_style_library(tmp_path)
    assert library["neon"].loras[0].source == str((tmp_path / "loras" / "neon.safetensors").resolve())
    assert library["hub"].loras[0].source == "someone/style-lora"


def test_pickle_lora_in_library_refused_unless_trusted(tmp_path):
    from tasks.lora_sources import resolve_style_loras

    (tmp_path / "old.ckpt").write_bytes(b"")
    _write(tmp_path, "old", "prompt: '{trigger}'\nlora: old.ckpt\n")
    with pytest.raises(StyleError, match="'old'.*pickle"):
        resolve_style_loras(load_style_library(tmp_path)["old"])


def test_build_prompt_inserts_trigger_word_and_tags():
    style = Style(name="s", prompt="photo of {trigger}, studio", negative_prompt="blurry")
    prompt, negative = build_prompt(style, "sks person", ["a woman", "smiling", "a woman"])
    assert prompt == "photo of sks person, a woman, smiling, studio" and negative == "blurry"
    assert build_prompt(style, "sks")[0] == "photo of sks, studio"


def test_command_line_loras_are_added_to_the_style(tmp_path):
    base = load_style_library(STYLES_DIR)["studio_headshot"]
    lora = tmp_path / "My Style.safetensors"
    lora.write_bytes(b"")
    style = style_with_loras(base, [str(lora), "someone/ink,weight=0.5,revision=v2"])
    assert style.name == base.name and style.prompt == base.prompt
    assert [(x.source, x.weight, x.revision) for x in style.loras] == [
        (str(lora.resolve()), base.style_weight, None), ("someone/ink", 0.5, "v2")]
    (tmp_path / "x.ckpt").write_bytes(b"")
    with pytest.raises(StyleError, match="pickle"):
        style_with_loras(base, [str(tmp_path / "x.ckpt")])
    assert style_with_loras(base, [str(tmp_path / "x.ckpt")], trust_pickle=True).loras[0].is_pickle
    with pytest.raises(StyleError, match="no such file"):
        style_with_loras(base, [str(tmp_path / "missing.safetensors")])
    with pytest.raises(StyleError, match="weight=W"):
        style_with_loras(base, ["someone/ink,strength=2"])
