"""`train-style` end to end on the tiny model: the style lands in the library and changes the images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flows.cli import main
from tests.styles.loras import record_adapter_scales

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """A face (tagger caption), faceless pictures with their own .txt, one listed in captions.txt, one bare."""
    folder = tmp_path_factory.mktemp("style-pictures")
    shutil.copy(SAMPLES / "obama.jpg", folder / "portrait.jpg")
    rng = np.random.default_rng(4)
    for name in ("swirl", "dots", "waves", "plain"):
        Image.fromarray(rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    (folder / "swirl.txt").write_text("swirling ink, paper texture\n")
    (folder / "dots.txt").write_text("ink dots, paper texture")
    (folder / "captions.txt").write_text("# file<TAB>caption\nwaves.png\tink waves, paper texture\n")
    return folder


@pytest.fixture(scope="module")
def trained(pictures, tmp_path_factory):
    library = tmp_path_factory.mktemp("library")
    args = ["train-style", str(pictures), "--name", "inkwash", "--out", str(library), "--base-model", "tiny",
            "--steps", "6", "--resolution", "32", "--rank", "4", "--lr", "5e-3", "--checkpoint-every", "3"]
    assert main(args) == 0
    return library, args


def test_style_written_atomically_next_to_its_lora_with_all_caption_sources(trained):
    from tasks.style_training import training_record

    library, _ = trained
    assert sorted(p.name for p in library.iterdir() if not p.name.startswith(".")) == [
        "inkwash.safetensors", "inkwash.yaml"]
    assert not list(library.rglob("*.tmp"))
    record = training_record(str(library), "inkwash")
    sources = {Path(row["file"]).name: (row["caption_source"], row["caption"]) for row in record["pictures"]}
    assert sources["swirl.png"] == ("file", "inkwash_style, swirling ink, paper texture")
    assert sources["waves.png"] == ("file", "inkwash_style, ink waves, paper texture")
    assert sources["portrait.jpg"][0] == "tagger" and "a handsome man" in sources["portrait.jpg"][1]
    assert sources["plain.png"] == ("fixed", "inkwash_style, a picture")
    assert list((library / ".train-style" / "inkwash" / "lora").rglob("checkpoints/step-6.safetensors"))


def test_library_lists_it_and_the_generator_uses_it(trained, capsys):
    from components.diffusion.generate import PeftGenerator
    from components.diffusion.styles import build_prompt
    from components.types import GenerationRequest
    from tasks.config import BaseModelConfig
    from tasks.diffusion_models import pipeline_for
    from tasks.job_style import job_style, style_lora_weights, style_state_dicts
    from tasks.styles import find_style

    library, _ = trained
    assert main(["styles", "--styles", str(library)]) == 0
    listing = capsys.readouterr().out
    assert "inkwash  style LoRA trained by train-style" in listing and "inkwash.safetensors x0.8  present" in listing
    style = find_style(library, "inkwash")
    assert "inkwash_style, paper texture" in style.prompt  # the words most captions share
    prompt, negative = build_prompt(style, "a handsome man")
    resolved = job_style(style)
    weights, tensors = style_lora_weights(resolved), style_state_dicts(resolved)
    request = dict(prompt=prompt, negative_prompt=negative, seeds=[1, 2], steps=2, guidance=5.0, width=32, height=32,
                   sampler="ddim", face_weight=0.25, style_weight=1.0, batch_size=2)
    generator = PeftGenerator(pipeline_for(BaseModelConfig(spec="tiny")))
    with_style = generator.generate(GenerationRequest(**request, style_loras=weights), None, None, tensors)
    without = generator.generate(GenerationRequest(**request), None, None)
    assert any(not np.array_equal(a, b) for a, b in zip(with_style, without))


def test_a_portrait_job_uses_the_trained_style(trained, small_photos, tmp_path, monkeypatch):
    from components.diffusion.style_training import TRAINED_STYLE_WEIGHT

    library, _ = trained
    for name in ("biden.jpg", "dogs.jpg"):
        (small_photos / name).unlink()
    scales = record_adapter_scales(monkeypatch)
    assert main(["portrait", str(small_photos), "--user", "ivy", "--style", "inkwash", "--styles", str(library),
                 "--out", str(tmp_path / "out"), "--base-model", "tiny", "--train-steps", "2", "--resolution", "64",
                 "--gen-steps", "2", "--num-images", "2", "--keep", "1", "--no-progress"]) == 0
    results = pd.read_parquet(tmp_path / "out" / "ivy" / "results.parquet")
    assert set(results["style"]) == {"inkwash"} and results["prompt"].str.contains("inkwash_style").all()
    assert scales[-1]["style_0"] == pytest.approx(TRAINED_STYLE_WEIGHT)


def stage_state(job: Path) -> str:
    return json.loads((job / "runs" / "train-style.json").read_text())["stages"]["train-style"]["state"]


def test_training_again_is_cached_a_rerun_retrains_and_a_hand_written_style_is_not_replaced(trained, tmp_path,
                                                                                             capsys):
    from tasks.style_training import training_record

    library, args = trained
    job = library / ".train-style" / "inkwash"
    six_steps = (library / "inkwash.safetensors").read_bytes()
    before = (library / "inkwash.safetensors").stat().st_mtime_ns
    assert main(args) == 0
    assert stage_state(job) == "cached" and (library / "inkwash.safetensors").stat().st_mtime_ns == before
    assert main(["rerun", str(job), "--stage", "train-style", "--set", "steps=8"]) == 0
    assert stage_state(job) == "done" and training_record(str(library), "inkwash")["steps"] == 8
    assert (library / "inkwash.safetensors").read_bytes() != six_steps
    assert not any(k.startswith("text_encoder.") for k in lora_keys(library / "inkwash.safetensors"))
    assert main(["rerun", str(job), "--stage", "train-style", "--set", "train_text_encoder=true"]) == 0
    assert any(k.startswith("text_encoder.") for k in lora_keys(library / "inkwash.safetensors"))  # saved, not dropped
    assert main(args) == 0  # back to 6 steps: that training is cached, and published again
    assert stage_state(job) == "cached" and (library / "inkwash.safetensors").read_bytes() == six_steps
    capsys.readouterr()
    assert main(["status", str(job)]) == 0
    assert "train-style   cached" in capsys.readouterr().out
    (tmp_path / "inkwash.yaml").write_text("prompt: '{trigger}, my own'\n")
    out_index = args.index("--out") + 1
    assert main(args[:out_index] + [str(tmp_path)] + args[out_index + 1:]) == 2
    assert (tmp_path / "inkwash.yaml").read_text() == "prompt: '{trigger}, my own'\n"
    assert main(["train-style", str(library), "--name", "Bad Name", "--out", str(tmp_path)]) == 2


def lora_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return list(f.keys())
