"""Portrait jobs on tiny-sdxl through the CLI and the flow: the family in every key, fast sampling re-runs,
other-family LoRAs and the train-free mode refused before any work, the memory options and VAE wiring."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors.torch import load_file, save_file

from components import registry
from components.diffusion.generate import PeftGenerator
from flows.cli import build_parser, main, portrait_config
from flows.model_checks import with_family
from flows.portrait_config import PortraitConfig, portrait_values, resolve_style
from tasks.catalog import ADAPTER_STAGES, PORTRAIT_STAGES
from tasks.config import AdapterTrainConfig, BaseModelConfig, MemoryConfig, TrainFreeConfig
from tasks.keys import stage_key
from tests.imagetools import downscaled_copies

pytestmark = pytest.mark.usefixtures("one_torch_thread")
JOB = ["--style", "studio_headshot", "--resolution", "64", "--train-steps", "4", "--checkpoint-every", "2",
       "--num-images", "2", "--keep", "1", "--gen-steps", "2", "--no-progress"]
MODEL_STAGES = ("train", "generate", "generate-free", "train-adapter")


class RecordingGenerator(PeftGenerator):
    """The job's generator (registered as "peft" for these jobs), noting the scheduler and steps it samples with."""

    calls: list[tuple[str, int]] = []

    def _generate_batch(self, request, seeds):
        RecordingGenerator.calls.append((type(self.pipeline.scheduler).__name__, request.steps))
        return super()._generate_batch(request, seeds)


def _lora_file(path, spec: str, seed: int):
    """A random UNet LoRA of the test model `spec`'s family, saved as diffusers names LoRAs."""
    from components.diffusion.base_model import load_base_model
    from components.diffusion.tiny import random_unet_lora

    lora = random_unet_lora(load_base_model(spec), seed=seed)
    save_file({f"unet.{k}": v.contiguous() for k, v in lora.items()}, path)
    return path


def _run(args: list[str], root) -> dict:
    RecordingGenerator.calls = []
    assert main(args) == 0
    record = json.loads((root / "runs" / "portrait.json").read_text())
    generated = pd.read_parquet(root / record["stages"]["generate"]["outputs"][0])
    return {"record": record, "calls": list(RecordingGenerator.calls), "generated": generated,
            "states": {stage: s["state"] for stage, s in record["stages"].items()}}


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loras")
    return {"sd15": _lora_file(folder / "style-sd15.safetensors", "tiny", 1),
            "sdxl": _lora_file(folder / "style-sdxl.safetensors", "tiny-sdxl", 2),
            "lcm-sdxl": _lora_file(folder / "lcm-lora-tiny-sdxl.safetensors", "tiny-sdxl", 5),
            "lcm-sd15": _lora_file(folder / "lcm-lora-tiny.safetensors", "tiny", 6)}


@pytest.fixture(scope="module")
def sdxl_job(tmp_path_factory, faces_dir, loras, prefect_server):
    """One tiny-sdxl job with text-encoder LoRAs, then the same job with --fast (an LCM-named LoRA)."""
    photos = downscaled_copies(faces_dir, tmp_path_factory.mktemp("photos"), ("obama.jpg", "obama2.jpg"), 800)
    out = tmp_path_factory.mktemp("out")
    args = ["portrait", str(photos), "--user", "xl", "--out", str(out), "--base-model", "tiny-sdxl",
            "--train-text-encoder", *JOB]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.REGISTRY, "generate",
                      {**registry.REGISTRY["generate"], "peft": f"{__name__}:RecordingGenerator"})
        plain = _run(args, out / "xl")
        fast = _run([*args, "--fast", str(loras["lcm-sdxl"])], out / "xl")
    return out / "xl", plain, fast


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.slow
def test_a_whole_job_runs_on_tiny_sdxl_with_the_family_recorded(sdxl_job):
    root, plain, _ = sdxl_job
    assert {plain["states"][s] for s in ("train", "generate", "select", "fuse", "rank")} == {"done"}
    assert plain["record"]["config"]["base"]["family"] == "sdxl"  # status plans without reading the model
    results = pd.read_parquet(root / "results.parquet")
    assert len(results) == 2 and results.kept.sum() <= 1 and set(results.seed) == {42, 43}
    assert _png(results.image.iloc[0]).shape == (64, 64, 3)
    face = load_file(root / "face_lora.safetensors")
    prefixes = {key.split(".", 1)[0] for key in face}
    assert prefixes == {"unet", "text_encoder", "text_encoder_2"}  # the text-encoder LoRAs are kept


@pytest.mark.slow
def test_the_saved_face_lora_reloads_in_diffusers_and_reproduces_the_job_images(sdxl_job):
    import torch

    from components.diffusion.samplers import scheduler_for
    from components.diffusion.tiny import build_tiny_sdxl_pipeline

    root, plain, _ = sdxl_job
    style = resolve_style(PortraitConfig(user="x", style="studio_headshot"))
    rows = plain["generated"]
    pipeline = build_tiny_sdxl_pipeline(0)  # the job's model: tiny-sdxl, seed 0
    pipeline.scheduler = scheduler_for(style.sampler, pipeline.scheduler.config)

    def render() -> list[np.ndarray]:
        generators = [torch.Generator().manual_seed(int(seed)) for seed in rows.seed]
        out = pipeline(prompt=rows.prompt.iloc[0], negative_prompt=rows.negative_prompt.iloc[0],
                       num_inference_steps=2, guidance_scale=style.guidance, width=64, height=64,
                       num_images_per_prompt=len(rows), generator=generators, output_type="np")
        return [(np.clip(image, 0, 1) * 255).round().astype(np.uint8) for image in out.images]

    without = render()
    pipeline.load_lora_weights(str(root), weight_name="face_lora.safetensors", adapter_name="face")
    pipeline.set_adapters(["face"], adapter_weights=[style.face_weight])
    assert set(pipeline.get_list_adapters()) == {"unet", "text_encoder", "text_encoder_2"}
    reloaded = render()
    for image, row in zip(reloaded, rows.itertuples()):
        np.testing.assert_array_equal(image, _png(row.generated))
    assert not np.array_equal(without[0], reloaded[0])


@pytest.mark.slow
def test_fast_sampling_switches_scheduler_and_steps_regenerates_and_reuses_training(sdxl_job):
    from flows.status import status_lines

    root, plain, fast = sdxl_job
    assert set(plain["calls"]) == {("DPMSolverMultistepScheduler", 2)}  # the style's sampler, --gen-steps
    assert set(fast["calls"]) == {("LCMScheduler", 4)}  # the LCM card's scheduler and steps
    assert fast["states"]["train"] == "cached"
    assert {fast["states"][s] for s in ("generate", "fuse", "rank")} == {"done"}
    assert list(fast["generated"].seed) == list(plain["generated"].seed)
    for quick, slow in zip(fast["generated"].generated, plain["generated"].generated):
        assert not np.array_equal(_png(quick), _png(slow))
    assert fast["record"]["config"]["fast"]["spec"].endswith("lcm-lora-tiny-sdxl.safetensors")
    lines = status_lines(str(root))
    stages = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ") and len(line.split()) > 1}
    assert {stages[s] for s in ("train", "generate", "fuse", "rank")} <= {"done", "cached"}


@pytest.mark.parametrize("model, lora, found, target", [("tiny-sdxl", "sd15", "SD 1.5 (sd15)", "SDXL (sdxl)"),
                                                        ("tiny", "sdxl", "SDXL (sdxl)", "SD 1.5 (sd15)")])
def test_a_style_lora_of_the_other_family_is_refused_before_any_work(loras, tmp_path, capsys, model, lora, found,
                                                                      target):
    args = ["portrait", str(tmp_path), "--user", "u", "--out", str(tmp_path / "out"), "--base-model", model, *JOB]
    assert main([*args, "--style-lora", str(loras[lora])]) == 2
    err = capsys.readouterr().err
    assert f"the style LoRA is for {found} but the base model is {target}" in err
    assert not (tmp_path / "out").exists()


def test_other_fast_loras_and_the_train_free_mode_on_sdxl_are_refused_before_any_work(loras, tmp_path, capsys):
    args = ["portrait", str(tmp_path), "--user", "u", "--out", str(tmp_path / "out"), "--base-model", "tiny-sdxl",
            *JOB]
    assert main([*args, "--fast", str(loras["lcm-sd15"])]) == 2
    assert "the fast-sampling LoRA is for SD 1.5 (sd15) but the base model is SDXL (sdxl)" in capsys.readouterr().err
    assert main([*args, "--fast-steps", "4"]) == 2
    assert "--fast-steps needs --fast LORA" in capsys.readouterr().err
    assert main([*args, "--vae", str(tmp_path / "no-vae")]) == 2
    assert "no-vae': no such file or folder" in capsys.readouterr().err
    assert main([*args, "--mode", "train-free", "--adapter", str(tmp_path / "adapter")]) == 2
    assert "face adapters do not run on SDXL (sdxl) base models, only on SD 1.5" in capsys.readouterr().err
    assert main(["train-adapter", str(tmp_path), "--out", str(tmp_path / "out"), "--base-model", "tiny-sdxl"]) == 2
    assert "face adapters do not run on SDXL (sdxl)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _model_stage_keys(base: BaseModelConfig) -> dict[str, str]:
    config = PortraitConfig(user="u", style="studio_headshot", base=base,
                            train_free=TrainFreeConfig(adapter="/nonexistent"))
    values = portrait_values(config, resolve_style(config), 10)
    keys = {}
    for stage in (*PORTRAIT_STAGES, *ADAPTER_STAGES):
        name = "generate-free" if stage.name == "generate" and "train-free" in stage.modes else stage.name
        if name in MODEL_STAGES:
            stage_values = {**values, "train": AdapterTrainConfig()} if stage in ADAPTER_STAGES else values
            keys[name] = stage_key(stage, ["input"] * len(stage.reads), stage_values)
    return keys


def test_the_family_is_in_every_model_stage_key(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert with_family(BaseModelConfig(spec=str(folder))).family == "sdxl"  # read without loading weights
    assert with_family(BaseModelConfig(spec="tiny")).family == "sd15"
    assert with_family(BaseModelConfig(spec="tiny", family="sdxl")).family == "sdxl"  # a recorded one is kept
    sd15, sdxl = _model_stage_keys(BaseModelConfig(spec="tiny")), _model_stage_keys(BaseModelConfig(spec="tiny-sdxl"))
    assert set(sd15) == set(MODEL_STAGES) and all(sd15[s] != sdxl[s] for s in MODEL_STAGES)
    # the same model spec with another family: every stage that uses the model gets another key
    relabelled = _model_stage_keys(BaseModelConfig(spec="tiny", family="sdxl"))
    assert all(relabelled[s] != sd15[s] for s in MODEL_STAGES)
    with pytest.raises(ValueError, match="is SD 1.5 \\(sd15\\), but its configuration says family 'sdxl'"):
        from flows.model_checks import check_model_inputs

        check_model_inputs(BaseModelConfig(spec="tiny", family="sdxl"))


def test_cli_options_reach_the_job_config(tmp_path):
    args = build_parser().parse_args([
        "portrait", "x", "--user", "u", "--style", "studio_headshot", "--out", "o", "--base-model", "tiny-sdxl",
        "--vae", str(tmp_path), "--fast", "lcm.safetensors", "--fast-kind", "lcm", "--fast-steps", "6",
        "--fast-guidance", "1.5", "--fast-weight", "0.8", "--vae-tiling", "--vae-slicing", "--cpu-offload", "model",
        "--train-text-encoder"])
    config = portrait_config(args)
    assert (config.base.spec, config.base.vae) == ("tiny-sdxl", str(tmp_path))
    assert config.fast.model_dump() == {"backend": "lora", "spec": "lcm.safetensors", "kind": "lcm", "steps": 6,
                                        "guidance": 1.5, "weight": 0.8}
    assert config.memory == MemoryConfig(vae_tiling=True, vae_slicing=True, cpu_offload="model")
    assert config.train.train_text_encoder and config.train.resolution is None  # None: the family's
    plain = portrait_config(build_parser().parse_args(["portrait", "x", "--user", "u", "--style", "s", "--out", "o"]))
    assert plain.fast is None and plain.memory == MemoryConfig() and plain.base.vae is None


def test_the_vae_is_keyed_and_memory_options_only_reach_generation(tmp_path):
    from components.diffusion.base_model import load_base_model
    from components.diffusion.memory import is_offloaded
    from tasks.diffusion_models import pipeline_for

    vae = load_base_model("tiny-sdxl").vae
    vae.register_to_config(force_upcast=False)  # as SDXL's fp16-fix VAE says it needs no fp32
    vae.save_pretrained(tmp_path / "vae")
    base = BaseModelConfig(spec="tiny-sdxl", vae=str(tmp_path / "vae"))
    assert base.content_files() == [str(tmp_path / "vae")]
    generation = pipeline_for(base, MemoryConfig(vae_tiling=True, cpu_offload="model"))
    assert generation.vae.config.force_upcast is False  # the given VAE replaced the model's
    assert generation.vae.use_tiling and is_offloaded(generation)
    training = pipeline_for(base)  # the same pipeline (loaded once), made trainable again
    assert training is generation and not training.vae.use_tiling and not is_offloaded(training)


def test_styles_at_the_default_size_take_the_family_resolution():
    from components.diffusion.styles import image_size

    style = resolve_style(PortraitConfig(user="x", style="studio_headshot"))
    assert (style.width, style.height) == (512, 512)
    assert image_size(style, None, 1024) == (1024, 1024) and image_size(style, None, 512) == (512, 512)
    assert image_size(style, 64, 1024) == (64, 64)
    assert image_size(style.model_copy(update={"width": 768}), None, 1024) == (768, 512)


def test_cpu_offload_without_a_gpu_is_refused_before_any_work(tmp_path, monkeypatch):
    import torch

    from flows.model_checks import check_runs_here

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    check_runs_here(MemoryConfig())
    check_runs_here(MemoryConfig(vae_tiling=True))
    with pytest.raises(ValueError, match="--cpu-offload model needs a CUDA GPU"):
        check_runs_here(MemoryConfig(cpu_offload="model"))
    args = build_parser().parse_args(["portrait", str(tmp_path), "--user", "u", "--style", "studio_headshot",
                                      "--out", str(tmp_path / "out"), "--base-model", "tiny", "--cpu-offload",
                                      "sequential"])
    with pytest.raises(ValueError, match="--cpu-offload sequential needs a CUDA GPU"):
        args.handler(args)
    assert not (tmp_path / "out").exists()
