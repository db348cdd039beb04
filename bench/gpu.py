"""GPU benchmark on the real Stable Diffusion 1.5 or SDXL architecture with random weights (no download needed).

    python bench/gpu.py [--arch sd15|sdxl] [--dtype fp16|bf16] [--compile] [--train-steps 30] [--job-photos 2]
    python bench/gpu.py [--arch sdxl] --dry-run-cpu   # the same code paths on a scaled-down model, on the CPU

Builds the UNet, VAE and CLIP text encoder(s) from the published configs
(bench/sd15_configs.py, bench/sdxl_configs.py) in half precision on CUDA (SDPA
attention, diffusers' default with torch 2), then measures, at the family's
resolution (512² SD 1.5, 1024² SDXL):

- LoRA training steps/s with components.diffusion.lora.LoraTrainer
  (UNet in half precision, LoRA parameters in fp32), gradient checkpointing off and on;
- seconds per image at 30 steps, batch 1 and batch 4, with a face LoRA loaded
  (the one just trained) at the style's weight and sampler, classifier-free guidance on;
- seconds per image with fast sampling: a random LoRA under an LCM-LoRA name
  (components.diffusion.fast: LCMScheduler, 4 steps, no classifier-free guidance) beside the face LoRA;
- a whole portrait job through flows.portrait.portrait_flow: the random-weight pipeline
  is saved with save_pretrained(safe_serialization=True) and passed as --base-model PATH;
  the job curates the sample photos, trains min(200 x photos, 800) steps, generates
  10 portraits, fuses and ranks them;
- peak GPU memory (torch.cuda.max_memory_allocated) of each phase.

Targets on one H100: SD 1.5 whole job <= 60 s, 512² image <= 1.0 s, peak <= 10 GB;
SDXL 1024² image <= 2 s at 30 steps and <= 0.5 s with fast sampling. Without CUDA it
prints "no CUDA device: GPU benchmark skipped" and exits 0. The table is saved to
bench/results/gpu-[sdxl-]<device>-<date>.txt (not in a dry run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.settings import apply_defaults  # noqa: E402

apply_defaults()

from bench.common import SAMPLES, print_table  # noqa: E402

SKIPPED = "no CUDA device: GPU benchmark skipped"
PHOTOS = ("obama.jpg", "obama2.jpg")
GB = 1024**3
FAST_STEPS = 4  # the LCM-LoRA's default (components.diffusion.fast)


class Arch:
    """What the benchmark does differently per architecture; None: no target for that figure."""

    def __init__(self, name, label, configs_module, resolution, target_image_s, target_fast_s, target_job_s,
                 target_peak_gb):
        self.name, self.label, self.configs_module, self.resolution = name, label, configs_module, resolution
        self.target_image_s, self.target_fast_s = target_image_s, target_fast_s
        self.target_job_s, self.target_peak_gb = target_job_s, target_peak_gb

    def configs(self, small: bool) -> dict:
        import importlib

        return importlib.import_module(self.configs_module).configs(small=small)


ARCHS = {
    "sd15": Arch("sd15", "SD 1.5", "bench.sd15_configs", 512, 1.0, None, 60.0, 10.0),
    "sdxl": Arch("sdxl", "SDXL", "bench.sdxl_configs", 1024, 2.0, 0.5, None, None),
}


# -- the model ---------------------------------------------------------------------------------------------


def build_pipeline(small: bool, device: str, dtype, seed: int = 0, arch: str = "sd15"):
    """SD 1.5 or SDXL (or its scaled-down copy) with random weights, built on `device`, in `dtype`."""
    import diffusers
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from components.diffusion.family import family_named
    from components.diffusion.tiny import byte_level_tokenizer

    cfg = ARCHS[arch].configs(small)
    tokenizer = byte_level_tokenizer()
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    models = {}
    with torch.device(device):  # initialise on the device: seconds instead of a minute for 1 B parameters
        models["unet"] = UNet2DConditionModel(**cfg["unet"])
        models["vae"] = diffusers.AutoencoderKL(**cfg["vae"])
        models["text_encoder"] = CLIPTextModel(CLIPTextConfig(**cfg["text_encoder"], **ids))
        if "text_encoder_2" in cfg:  # SDXL's second encoder, with projection (its pooled output)
            models["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**cfg["text_encoder_2"], **ids))
    for model in models.values():
        if dtype != torch.float32:
            model.to(dtype=dtype)
        model.eval()
        model.requires_grad_(False)
    if arch == "sdxl":
        scheduler = diffusers.EulerDiscreteScheduler.from_config(cfg["scheduler"])
        pipeline = diffusers.StableDiffusionXLPipeline(tokenizer=tokenizer, tokenizer_2=byte_level_tokenizer(),
                                                       scheduler=scheduler, add_watermarker=False, **models)
    else:
        pipeline = diffusers.StableDiffusionPipeline(tokenizer=tokenizer,
                                                     scheduler=diffusers.PNDMScheduler.from_config(cfg["scheduler"]),
                                                     safety_checker=None, feature_extractor=None,
                                                     requires_safety_checker=False, **models)
    assert family_named(arch).pipeline_class_name == type(pipeline).__name__
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def parameter_counts(pipeline) -> str:
    names = [n for n in ("unet", "vae", "text_encoder", "text_encoder_2") if getattr(pipeline, n, None) is not None]
    counts = {name: sum(p.numel() for p in getattr(pipeline, name).parameters()) / 1e6 for name in names}
    return ", ".join(f"{name} {m:.1f} M" for name, m in counts.items())


def attention_processors(pipeline) -> str:
    return ", ".join(sorted({type(p).__name__ for p in pipeline.unet.attn_processors.values()}))


# -- measurements ------------------------------------------------------------------------------------------


class Cuda:
    """Synchronisation and peak-memory bookkeeping that are no-ops on the CPU."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch, self.on = torch, device == "cuda"

    def sync(self) -> None:
        if self.on:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.on:
            self.sync()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gb(self) -> float | None:
        return self.torch.cuda.max_memory_allocated() / GB if self.on else None

    def free(self) -> None:
        gc.collect()
        if self.on:
            self.torch.cuda.empty_cache()


def training_examples(resolution: int = 512):
    """The sample photos as 512² squares with the face box where the curated crops have it (0.4 of the side)."""
    import numpy as np
    from PIL import Image, ImageOps

    from components.types import TrainingExample

    side = 512
    box = np.array([0.3, 0.3, 0.7, 0.7]) * side
    examples = []
    for name in PHOTOS:
        with Image.open(SAMPLES / name) as im:
            square = ImageOps.fit(im.convert("RGB"), (side, side), Image.Resampling.LANCZOS)
        examples.append(TrainingExample(image=np.asarray(square), bbox=box, caption="a man, short hair, smiling"))
    return examples


def time_training(pipeline, examples, *, steps: int, warmup: int, resolution: int, checkpointing: bool,
                  cuda: Cuda) -> dict:
    """Steps/s of LoraTrainer after `warmup` steps, peak memory, and whether the LoRA actually learned."""
    from components.diffusion.lora import LoraTrainer
    from tasks.config import TrainConfig

    unet = pipeline.unet
    if checkpointing:
        unet.enable_gradient_checkpointing()
    stamps: list[float] = []

    def progress(step: int, total: int, loss: float) -> None:  # loss is a float: the step has finished
        stamps.append(time.perf_counter())

    options = TrainConfig().component_options() | {"steps": steps, "resolution": resolution}
    cuda.free()
    cuda.reset_peak()
    started = time.perf_counter()
    try:
        weights = LoraTrainer(pipeline, **options).train(examples, progress=progress)
    finally:
        if checkpointing:
            unet.disable_gradient_checkpointing()
    cuda.sync()
    if len(stamps) > warmup + 1:
        rate = (len(stamps) - 1 - warmup) / (stamps[-1] - stamps[warmup])
    else:  # too few steps to leave a warm-up out (dry run)
        rate = len(stamps) / (stamps[-1] - started)
    learned = any(float(t.abs().max()) > 0 for k, t in weights.state_dict.items() if ".lora.up." in k)
    return {"steps_s": rate, "first_step_s": stamps[0] - started, "peak_gb": cuda.peak_gb(),
            "learned": learned, "weights": weights.state_dict, "loss": weights.losses[-1]}


def time_generation(pipeline, face_lora: dict, *, batch: int, steps: int, resolution: int, repeats: int,
                    style, cuda: Cuda, fast=None) -> dict:
    """Seconds per image of the pipeline call (text encoding, denoising, VAE decode), face LoRA loaded;
    with `fast` (a FastLora) its adapter, scheduler, steps and guidance too."""
    import torch

    from components.diffusion.generate import FACE_ADAPTER, as_pipeline_lora, loras_loaded
    from components.diffusion.samplers import scheduler_for
    from components.diffusion.styles import build_prompt
    from components.types import GenerationRequest

    prompt, negative = build_prompt(style, "a man")
    request = GenerationRequest(prompt=prompt, negative_prompt=negative, seeds=list(range(batch)), steps=steps,
                                guidance=style.guidance, width=resolution, height=resolution, sampler=style.sampler,
                                face_weight=style.face_weight, style_weight=style.style_weight, batch_size=batch)
    adapters = [(FACE_ADAPTER, as_pipeline_lora(face_lora), style.face_weight)]
    if fast is not None:
        request = fast.apply(request)
        adapters.append(fast.adapter())
    original = pipeline.scheduler

    def once() -> float:
        generators = [torch.Generator(device="cpu").manual_seed(i) for i in request.seeds]
        cuda.sync()
        t = time.perf_counter()
        with torch.no_grad():
            pipeline(prompt=request.prompt, negative_prompt=request.negative_prompt,
                     num_inference_steps=request.steps, guidance_scale=request.guidance, width=resolution,
                     height=resolution, num_images_per_prompt=batch, generator=generators, output_type="np")
        cuda.sync()
        return time.perf_counter() - t

    with loras_loaded(pipeline, adapters):
        pipeline.scheduler = scheduler_for(request.sampler, original.config)
        try:
            cuda.free()
            cuda.reset_peak()
            first = once()  # warm-up: cuDNN/SDPA kernel choice, torch.compile if asked
            times = [once() for _ in range(repeats)]
        finally:
            pipeline.scheduler = original
    return {"s_per_image": statistics.median(times) / batch, "first_s": first, "peak_gb": cuda.peak_gb()}


def fast_lora(pipeline, folder: Path):
    """A random UNet LoRA saved under an LCM-LoRA name and loaded as components.diffusion.fast loads one."""
    from safetensors.torch import save_file

    from components.diffusion.fast import load_fast_lora
    from components.diffusion.tiny import random_unet_lora

    path = folder / "lcm-lora-random.safetensors"
    save_file({f"unet.{k}": v for k, v in random_unet_lora(pipeline, seed=1).items()}, str(path))
    return load_fast_lora(str(path))


def job_photos(folder: Path, count: int) -> Path:
    """The two sample photos, or `count` distinct files made from them (one pixel differs)."""
    from bench.common import unique_photos

    folder.mkdir(parents=True)
    source = folder.parent / "samples"
    source.mkdir()
    for name in PHOTOS:
        shutil.copyfile(SAMPLES / name, source / name)
    if count == len(PHOTOS):
        return source
    unique_photos(folder, count, source=source)
    return folder


def time_job(model_dir: Path, tmp: Path, args, dry: bool, cuda: Cuda, resolution: int) -> dict:
    """The whole portrait job through portrait_flow, with the saved model as --base-model PATH."""
    from bench.common import private_prefect_home, start_server
    from bench.portrait import flow_task_seconds
    from flows.config import CurationConfig
    from flows.portrait import portrait_flow
    from flows.portrait_config import PortraitConfig
    from tasks import diffusion_models
    from tasks.config import BaseModelConfig, GenerateConfig, RankConfig, TrainConfig

    private_prefect_home("bench-gpu")
    photos = job_photos(tmp / "photos", args.job_photos)
    small = {"train": TrainConfig(resolution=64), "train_steps": 1,
             "generate": GenerateConfig(num_images=1, resolution=64, steps=2), "rank": RankConfig(keep=1)}
    sized = {"train": TrainConfig(resolution=resolution), "generate": GenerateConfig(resolution=resolution)}
    config = PortraitConfig(
        user="gpu-bench", style=args.style, styles_dir=str(REPO / "data" / "styles"),
        curation=CurationConfig(single_identity=True, progress=False),
        base=BaseModelConfig(spec=str(model_dir)), **(small if dry else sized))
    startup = start_server()
    # The model as a long-running service would hold it: loaded once, before the job (same thread, so
    # the job's tasks find it in tasks.diffusion_models' cache).
    cuda.free()
    cuda.reset_peak()
    t = time.perf_counter()
    diffusion_models.pipeline_for(config.base)
    load_s = time.perf_counter() - t
    loads_before = diffusion_models._load.cache_info().misses
    if args.compile:
        diffusion_models.pipeline_for(config.base).unet.compile()
    t = time.perf_counter()
    state = portrait_flow(photos=[str(photos)], out=str(tmp / "jobs"), config=config, return_state=True)
    job_s = time.perf_counter() - t
    summary = state.result()
    return {"job_s": job_s, "load_s": load_s, "startup_s": startup, "peak_gb": cuda.peak_gb(),
            "reloaded": diffusion_models._load.cache_info().misses > loads_before,
            "stages": flow_task_seconds(state.state_details.flow_run_id), "summary": summary,
            "steps": config.steps_for(int(summary["photos used"])), "images": config.generate.num_images}


# -- report ------------------------------------------------------------------------------------------------


def verdict(value: float | None, target: float) -> str:
    """" (target <= T: ok)" / " (target <= T: MISSED)"; "" without a value (CPU dry run) or target."""
    if value is None or target is None:
        return ""
    return f" (target <= {target:g}: {'ok' if value <= target else 'MISSED'})"


def gb(value: float | None) -> str:
    return "n/a (CPU)" if value is None else f"{value:.2f} GB"


def device_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=list(ARCHS), default="sd15", help="SD 1.5 (512²) or SDXL (1024²)")
    parser.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default=None,
                        help="weights' precision (default: fp16 on CUDA, fp32 in a CPU dry run). The portrait "
                             "job loads its model through tasks.diffusion_models: fp16 on CUDA whatever this says")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the UNet (nn.Module.compile), the job's too; compiling happens in "
                             "the warm-up steps/calls, and inside the whole job's time")
    parser.add_argument("--train-steps", type=int, default=30, help="training steps timed (per setting)")
    parser.add_argument("--warmup-steps", type=int, default=5, help="first steps left out of steps/s")
    parser.add_argument("--repeats", type=int, default=3, help="timed generation calls per batch size")
    parser.add_argument("--job-photos", type=int, default=2, help="photos in the job (<= 20), from the samples")
    parser.add_argument("--style", default="studio_headshot")
    parser.add_argument("--skip-job", action="store_true", help="only the training and generation timings")
    parser.add_argument("--dry-run-cpu", action="store_true",
                        help="scaled-down model on the CPU: 1 training step, 1 image at 64² with 2 steps")
    args = parser.parse_args()
    if not 1 <= args.job_photos <= 20:
        parser.error("--job-photos must be 1..20")

    import torch

    dry = args.dry_run_cpu
    if not dry and not torch.cuda.is_available():
        print(SKIPPED)
        return 0
    device = "cpu" if dry else "cuda"
    dtype_name = args.dtype or ("fp32" if dry else "fp16")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    arch = ARCHS[args.arch]
    resolution, gen_steps = (64, 2) if dry else (arch.resolution, 30)
    train_steps, warmup, repeats = (1, 0, 1) if dry else (args.train_steps, args.warmup_steps, args.repeats)
    if not dry and train_steps <= warmup + 1:
        parser.error("--train-steps must exceed --warmup-steps + 1")
    cuda = Cuda(device)

    from tasks.styles import load_style_library

    style = load_style_library(str(REPO / "data" / "styles"))[args.style]
    if dry:
        device_name = f"CPU dry run (scaled-down {arch.label} architecture)"
    else:
        props = torch.cuda.get_device_properties(0)
        device_name = f"{props.name}, {props.total_memory / GB:.0f} GB"
    rows = [("device", device_name),
            ("software", f"torch {torch.__version__} (CUDA {torch.version.cuda}), "
                         f"{_version('diffusers')} diffusers, {_version('peft')} peft"),
            ("date", dt.datetime.now().isoformat(timespec="seconds")),
            ("precision", f"{dtype_name} weights, LoRA parameters fp32; "
                          f"torch.compile {'on' if args.compile else 'off'}")]

    t = time.perf_counter()
    pipeline = build_pipeline(small=dry, device=device, dtype=dtype, arch=arch.name)
    cuda.sync()
    rows += [("model", f"{'scaled-down ' if dry else ''}{arch.label}, random weights: {parameter_counts(pipeline)}"),
             ("  built in", f"{time.perf_counter() - t:.1f} s"),
             ("  attention", attention_processors(pipeline))]
    if args.compile:
        pipeline.unet.compile()

    examples = training_examples()
    trained, results, peaks = {}, {}, []
    for checkpointing in (False, True):
        label = f"train {resolution}², grad. checkpointing {'on' if checkpointing else 'off'}"
        try:
            result = time_training(pipeline, examples, steps=train_steps, warmup=warmup, resolution=resolution,
                                   checkpointing=checkpointing, cuda=cuda)
        except Exception as error:  # noqa: BLE001 - one setting failing must not hide the others
            traceback.print_exc()
            rows.append((label, f"FAILED: {type(error).__name__}: {error}"))
            continue
        trained, results[checkpointing] = trained or result, result
        peaks.append(result["peak_gb"])
        rows.append((label, f"{result['steps_s']:.2f} steps/s, peak {gb(result['peak_gb'])}, first step "
                            f"{result['first_step_s']:.1f} s, LoRA updated: {'yes' if result['learned'] else 'NO'}"))
    if not trained:
        raise SystemExit("training failed in every setting; see the table above")
    if not dry:
        steps_job = min(200 * args.job_photos, 800)
        rows.append(("  -> job training", f"{steps_job} steps ~ {steps_job / trained['steps_s']:.0f} s at the "
                                          f"checkpointing-{'off' if False in results else 'on'} rate"))

    for batch in (1, 4):
        label = f"image {resolution}², {gen_steps} steps, batch {batch}"
        try:
            result = time_generation(pipeline, trained["weights"], batch=batch, steps=gen_steps,
                                     resolution=resolution, repeats=repeats, style=style, cuda=cuda)
        except Exception as error:  # noqa: BLE001
            traceback.print_exc()
            rows.append((label, f"FAILED: {type(error).__name__}: {error}"))
            continue
        target = verdict(None if dry else result["s_per_image"], arch.target_image_s)
        rows.append((label, f"{result['s_per_image']:.3f} s/image{target}"
                     f", peak {gb(result['peak_gb'])}, first call {result['first_s']:.1f} s"))
        peaks.append(result["peak_gb"])

    label = f"image {resolution}², fast (LCM-LoRA, random), {FAST_STEPS} steps, batch 1"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-gpu-fast-") as tmp:
            fast = fast_lora(pipeline, Path(tmp))
        result = time_generation(pipeline, trained["weights"], batch=1, steps=gen_steps, resolution=resolution,
                                 repeats=repeats, style=style, cuda=cuda, fast=fast)
        target = verdict(None if dry else result["s_per_image"], arch.target_fast_s)
        rows.append((label, f"{result['s_per_image']:.3f} s/image{target}, guidance {fast.plan.guidance:g} "
                            f"(no CFG), peak {gb(result['peak_gb'])}"))
        peaks.append(result["peak_gb"])
    except Exception as error:  # noqa: BLE001
        traceback.print_exc()
        rows.append((label, f"FAILED: {type(error).__name__}: {error}"))

    if not args.skip_job:
        with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
            tmp = Path(tmp)
            model_dir = tmp / f"{arch.name}-random"
            t = time.perf_counter()
            pipeline.save_pretrained(str(model_dir), safe_serialization=True)
            save_s = time.perf_counter() - t
            del pipeline
            cuda.free()
            try:
                job = time_job(model_dir, tmp, args, dry, cuda, resolution)
            except Exception as error:  # noqa: BLE001 - keep the measurements above
                traceback.print_exc()
                job = {"error": f"{type(error).__name__}: {error}"}
    if not args.skip_job and "error" in job:
        rows.append(("portrait job", f"FAILED: {job['error']}"))
    elif not args.skip_job:
        summary = job["summary"]
        rows += [("portrait job", f"{summary['photos used']} photos, {job['steps']} train steps, "
                                  f"{job['images']} images, style {args.style}; portrait_flow"),
                 ("  model saved / loaded", f"{save_s:.1f} s / {job['load_s']:.1f} s (from_pretrained; "
                                            + ("reloaded inside the job too)" if job["reloaded"]
                                               else "not counted below)")),
                 ("  server start-up", f"{job['startup_s']:.1f} s (not counted below)"),
                 ("  whole job", f"{job['job_s']:.1f} s{verdict(None if dry else job['job_s'], arch.target_job_s)}"),
                 ("  job peak memory", f"{gb(job['peak_gb'])}{verdict(job['peak_gb'], arch.target_peak_gb)}")]
        for name in ("curate", "train", "generate", "select", "fuse", "rank"):
            if name in job["stages"]:
                rows.append((f"    {name}", f"{job['stages'][name]:.1f} s"))
        rows.append(("  images kept", f"{summary['images kept']} (random weights draw no faces)"))
        peaks.append(job["peak_gb"])
    peaks = [p for p in peaks if p is not None]
    if peaks:
        rows.append(("peak memory (max of phases)", f"{max(peaks):.2f} GB{verdict(max(peaks), arch.target_peak_gb)}"))

    text = print_table(f"GPU benchmark: {arch.label} architecture{' (DRY RUN, CPU)' if dry else ''}", rows)
    if dry:
        print("dry run: not saved")
    else:
        from bench.common import save

        prefix = "gpu" if arch.name == "sd15" else f"gpu-{arch.name}"
        name = f"{prefix}-{device_slug(torch.cuda.get_device_name(0))}-{dt.date.today().isoformat()}.txt"
        print(f"saved: {save(text, name).relative_to(REPO)}")
    return 0


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
