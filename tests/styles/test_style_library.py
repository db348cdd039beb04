"""The style library as hostile input: every bad file gives an error naming the style, the file and the key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from components.diffusion.styles import StyleError, parse_lora_spec, parse_style
from tasks.style_listing import listing_lines, style_listing
from tasks.styles import find_style, load_style_library, scan_style_library
from tests.styles.loras import write_lora


def _style(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error_of(folder: Path, name: str) -> str:
    with pytest.raises(StyleError) as caught:
        find_style(folder, name)
    return str(caught.value)


def test_several_loras_with_weights_resolved_inside_the_style_folder(tmp_path):
    write_lora(tmp_path / "loras" / "ink.safetensors")
    _style(tmp_path, "ink", "prompt: '{trigger}, ink'\nloras:\n"
                            "  - {source: loras/ink.safetensors, weight: 0.6}\n"
                            "  - {source: someone/paper-lora, revision: v2, file: paper.safetensors, weight: 0.3}\n")
    style = find_style(tmp_path, "ink")
    local, hub = style.loras
    assert local.source == str((tmp_path / "loras" / "ink.safetensors").resolve()) and local.weight == 0.6
    assert (hub.source, hub.revision, hub.file, hub.weight) == ("someone/paper-lora", "v2", "paper.safetensors", 0.3)


def test_old_single_lora_files_still_read(tmp_path):
    write_lora(tmp_path / "neon.safetensors")
    _style(tmp_path, "neon", "prompt: '{trigger}, neon'\nlora: neon.safetensors\nstyle_weight: 0.7\n")
    _style(tmp_path, "hub", "prompt: '{trigger}'\nlora: someone/style-lora\n")
    _style(tmp_path, "plain", "prompt: '{trigger}'\nlora: null\n")
    library = load_style_library(tmp_path)
    assert [(lora.source, lora.weight) for lora in library["neon"].loras] == [
        (str((tmp_path / "neon.safetensors").resolve()), 0.7)]
    assert library["hub"].loras[0].is_hub and library["plain"].loras == ()


@pytest.mark.parametrize("body,key,words", [
    ("loras: [{source: a.safetensors, weight: -0.5}]", "loras.0.weight", "greater than or equal to 0"),
    ("loras: [{source: a.safetensors, strength: 1}]", "loras.0", "'strength'"),
    ("loras: [{source: owner/../x}]", "loras.0.source", "'..'"),
    ("loras: [{source: ../owner/x}]", "loras.0.source", "'..'"),
    ("loras: [{source: owner/x, revision: ../../etc}]", "loras.0.revision", "'..'"),
    ("loras: [{source: owner/x, file: ../x.safetensors}]", "loras.0.file", "'..'"),
    ("loras: [{source: x.safetensors, revision: main}]", "loras.0", "hub ids only"),
    ("loras: [{source: some-folder}]", "loras.0.source", "neither"),
    ("colour: red", "colour", "unknown key"),
    ("lora: x.safetensors\nloras: [{source: y.safetensors}]", "lora", "not both"),
])
def test_hostile_style_files_name_style_file_and_key(tmp_path, body, key, words):
    path = _style(tmp_path, "bad", "prompt: '{trigger}'\n" + body + "\n")
    message = _error_of(tmp_path, "bad")
    assert "'bad'" in message and str(path) in message and f"'{key}'" in message and words in message


def test_lora_path_escaping_the_style_folder_is_refused_also_by_symlink(tmp_path):
    library, outside = tmp_path / "library", tmp_path / "elsewhere"
    library.mkdir()
    write_lora(outside / "x.safetensors")
    (library / "link.safetensors").symlink_to(outside / "x.safetensors")
    for name, source in (("dots", "../elsewhere/x.safetensors"), ("absolute", str(outside / "x.safetensors")),
                         ("linked", "link.safetensors")):
        path = _style(library, name, f"prompt: '{{trigger}}'\nloras: [{{source: '{source}'}}]\n")
        message = _error_of(library, name)
        assert f"'{name}'" in message and str(path) in message and "'loras.0.source'" in message
        assert "outside" in message


def test_a_broken_file_does_not_hide_the_others(tmp_path):
    _style(tmp_path, "good", "prompt: '{trigger}, good'\n")
    _style(tmp_path, "broken", "prompt: [unclosed\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "facechain_bad.json").write_text("{not json")
    _style(tmp_path, "twin", "name: good\nprompt: '{trigger}'\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    entries = {e.file.name: e for e in scan_style_library(tmp_path)}
    assert entries["good.yaml"].style is not None
    assert "not valid YAML" in entries["broken.yaml"].error and "not UTF-8" in entries["binary.yaml"].error
    assert "not valid JSON" in entries["facechain_bad.json"].error and "already used" in entries["twin.yaml"].error
    assert "not a regular file" in entries["pipe.yaml"].error
    assert list(load_style_library(tmp_path)) == ["good"]
    lines = listing_lines(style_listing(tmp_path))
    assert sum("BROKEN" in line for line in lines) == 5 and any(line.startswith("good ") for line in lines)
    assert "broken.yaml" in _error_of(tmp_path, "broken")
    assert "available: good" in _error_of(tmp_path, "missing") and "broken.yaml" in _error_of(tmp_path, "missing")


def test_listing_shows_source_loras_presence_and_preview(tmp_path):
    write_lora(tmp_path / "ink.safetensors")
    (tmp_path / "ink.png").write_bytes(b"png")
    _style(tmp_path, "ink", "prompt: '{trigger}'\npreview: ink.png\nloras:\n  - {source: ink.safetensors, weight: 0.5}\n"
                            "  - {source: gone.safetensors}\n  - {source: nobody/nothing, weight: 0.25}\n")
    [item] = style_listing(tmp_path)
    assert item.file == str(tmp_path / "ink.yaml") and item.preview == str((tmp_path / "ink.png").resolve())
    assert [(lora.weight, lora.present) for lora in item.loras] == [(0.5, True), (1.0, False), (0.25, False)]
    text = "\n".join(listing_lines([item]))
    assert "nobody/nothing x0.25  MISSING" in text and "ink.safetensors x0.5  present" in text and "preview:" in text


def test_command_line_lora_specs():
    lora = parse_lora_spec("me/neon,file=neon.safetensors,revision=v1,weight=0.4", 1.0)
    assert (lora.source, lora.file, lora.revision, lora.weight, lora.is_hub) == (
        "me/neon", "neon.safetensors", "v1", 0.4, True)
    assert parse_lora_spec("mine.safetensors", 0.9).weight == 0.9
    for spec, words in (("me/neon,strength=1", "not weight=W"), ("me/..", "'..'"), ("me/neon,weight=-1", "weight")):
        with pytest.raises(StyleError, match=words):
            parse_lora_spec(spec, 1.0)


def test_style_json_with_unexpected_types_names_the_key(tmp_path):
    (tmp_path / "Odd.json").write_text(json.dumps({"name": "odd", "add_prompt_style": "x", "model_id": "a/b",
                                                   "bin_file": "b.safetensors", "multiplier_style": "strong"}))
    message = _error_of(tmp_path, "odd")
    assert "'multiplier_style'" in message and "Odd.json" in message
    with pytest.raises(StyleError, match="'loras.0.weight'"):
        parse_style({"name": "w", "prompt": "{trigger}", "loras": [{"source": "a.safetensors", "weight": 9}]}, "t")
