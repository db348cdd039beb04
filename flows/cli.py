"""Command line: argument parsing and printing only; the work is in the flows."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from flows.config import CurationConfig
from tasks.config import DEFAULT_BASE_MODEL, ControlNetConfig, InpaintConfig, PoseGenerateConfig


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from flows.joblock import JobBusy
    from flows.settings import no_heartbeat_on_a_temporary_server

    try:
        with no_heartbeat_on_a_temporary_server(args.needs_prefect):
            return args.handler(args)
    except (ValueError, FileNotFoundError, PermissionError, JobBusy, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if type(exc).__name__ == "NoUsablePhotos" else 2


def build_parser() -> argparse.ArgumentParser:
    from flows import style_cli

    parser = argparse.ArgumentParser(prog="python -m flows", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add(commands, "curate", "curate photos into a Parquet face dataset", _curate, _curate_args)
    _add(commands, "stages", "list the stages, one line each", _stages, lambda p: None, needs_prefect=False)
    _add(commands, "backends", "every stage's backends: default, model present locally, licence", _backends,
         lambda p: None, needs_prefect=False)
    _add(commands, "portrait", "portraits in a style, in a pose (--pose), or faces put into a template photo "
         "(--template, one or several people)", _portrait, _portrait_args)
    _add(commands, "styles", "list the styles: where each comes from, its LoRAs and whether they are here",
         style_cli.styles, style_cli.styles_args, needs_prefect=False)
    _add(commands, "train-style", "train a style LoRA from pictures into a style folder", style_cli.train_style,
         style_cli.train_style_args)
    _add(commands, "train-adapter", "train a face adapter (FACT or FeedFace) on a curated dataset",
         _train_adapter, _train_adapter_args)
    _add(commands, "rerun", "re-run one stage of a job and everything after it", _rerun, _rerun_args)
    _add(commands, "status", "each stage of a job: done / cached / stale / missing / failed / not run", _status,
         _status_args, needs_prefect=False)
    _add(commands, "serve", "the web app and HTTP API on a Prefect job queue (Ctrl-C stops it all)", _serve,
         _serve_args, needs_prefect=False)
    _add(commands, "users", "users of the web app and API: add NAME (prints a token), list", _users, _users_args,
         needs_prefect=False)
    return parser


def _add(commands, name: str, help_text: str, handler: Callable, add_args: Callable, needs_prefect: bool = True) -> None:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    add_args(sub)
    sub.set_defaults(handler=handler, needs_prefect=needs_prefect)


def _curate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output root; the dataset goes to OUT/faces/")
    p.add_argument("--batch-size", type=int, default=CurationConfig.model_fields["batch_size"].default)
    p.add_argument("--workers", type=int, default=CurationConfig.model_fields["workers"].default)
    p.add_argument("--runner", choices=["threads", "processes", "dask"], default="threads")
    p.add_argument("--dask-address", default=None, help="scheduler address of an existing Dask cluster")
    p.add_argument("--dataset", default=None, help="dataset location: a path or fsspec URL (default OUT/faces)")
    p.add_argument("--quality-threshold", type=float, default=None)
    p.add_argument("--no-progress", action="store_true")
    _add_backend_args(p)


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=["default", "facechain"], default="default",
                   help="facechain: the seed's ModelScope models for every stage (see `python -m flows backends`)")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE",
                   help="a stage setting, e.g. segment.backend=m2fp or rank.keep=3 (repeatable)")


def with_cli_settings(config, args: argparse.Namespace, **settings: dict):
    """`settings` from the named options, then each --set STAGE.KEY=VALUE, validated by the stage's config."""
    from flows.overrides import parse_stage_sets, with_stage_settings

    return with_stage_settings(with_stage_settings(config, {k: v for k, v in settings.items() if v}),
                               parse_stage_sets(args.set))


def _curate(args: argparse.Namespace) -> int:
    from flows.curate import curate_flow

    config = CurationConfig(batch_size=args.batch_size, workers=args.workers, runner=args.runner,
                            dask_address=args.dask_address, progress=not args.no_progress, dataset=args.dataset,
                            profile=args.profile)
    threshold = {"threshold": args.quality_threshold} if args.quality_threshold is not None else {}
    config = with_cli_settings(config, args, quality=threshold)
    started = time.perf_counter()
    result = curate_flow(inputs=args.inputs, out=args.out, config=config)
    print_curation_summary(result, time.perf_counter() - started)
    return 0


def print_curation_summary(result: dict, seconds: float) -> None:
    counts = result["counts"]
    total = sum(counts.values())
    print(f"curated {total} photo(s) in {seconds:.1f} s: {counts.get('ok', 0)} ok, "
          f"{counts.get('rejected', 0)} rejected, {counts.get('error', 0)} error")
    for reason, n in sorted(result["reasons"].items(), key=lambda kv: -kv[1]):
        print(f"  {n} x {reason}")
    if result["part"] is None:
        print("nothing new to curate (every photo is already in the dataset)")
    print(f"dataset: {result['dataset']}  (run {result['run_id']})")


def _stages(args: argparse.Namespace) -> int:
    from tasks.catalog import described_stages

    for name, description in described_stages().items():
        print(f"{name:13s} {description}")
    return 0


def _backends(args: argparse.Namespace) -> int:
    from flows.backends import backend_lines

    print("\n".join(backend_lines()))
    return 0


def _rerun_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_dir", metavar="JOB_DIR")
    p.add_argument("--stage", required=True, help="see `python -m flows stages`")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting of that stage")


def _rerun(args: argparse.Namespace) -> int:
    from flows.overrides import parse_sets
    from flows.rerun import rerun_flow

    result = rerun_flow(job_dir=args.job_dir, stage=args.stage, sets=parse_sets(args.set))
    if "counts" in result:
        print_curation_summary(result, 0.0)
    elif "style file" in result:  # a style training (a portrait summary names its style too)
        from flows.style_cli import print_style_training

        print_style_training(result)
    else:
        print(f"images kept: {result['images kept']}, best score: {result['best score']}")
        print(f"job: {result['job']}")
    return 0


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_dir", metavar="JOB_DIR")


def _status(args: argparse.Namespace) -> int:
    from flows.status import status_lines

    print("\n".join(status_lines(args.job_dir)))
    return 0


def _portrait_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", nargs="*", metavar="PHOTO_OR_DIR",
                   help="the person's photos (none when every person is given with --person)")
    p.add_argument("--user", required=True, help="user id: letters, digits, . _ - (the job folder's name)")
    p.add_argument("--style", required=True, help="a style name (see `python -m flows styles`)")
    p.add_argument("--out", required=True, help="output root; the job goes to OUT/<user>/ (or OUT/<user>/<job>)")
    p.add_argument("--job", default=None, help="a job name, to keep several jobs of one user apart")
    _base_model_args(p)
    p.add_argument("--style-lora", action="append", default=[], metavar="SPEC",
                   help="a LoRA added to the style (repeatable): FILE.safetensors or a cached hub id owner/name, "
                        "optionally followed by ,weight=W ,revision=R ,file=F (weight default: the style's "
                        "style_weight)")
    p.add_argument("--styles", "--styles-dir", dest="styles_dir", default=None, metavar="DIR",
                   help="style folder (our YAML and/or FaceChain JSON styles); default: the shipped data/styles")
    p.add_argument("--num-images", type=int, default=10)
    p.add_argument("--keep", type=int, default=6)
    p.add_argument("--train-steps", type=int, default=None, help="default: min(200 x photos, 800)")
    p.add_argument("--checkpoint-every", type=int, default=50, help="training checkpoint interval (steps)")
    p.add_argument("--resolution", type=int, default=None,
                   help="training and generation size (default: the model family's, 512 SD 1.5 / 1024 SDXL; "
                        "generation: the style's)")
    p.add_argument("--train-text-encoder", action="store_true", help="train LoRAs on the text encoder(s) too")
    p.add_argument("--gen-steps", type=int, default=None, help="sampling steps (default: the style's)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--min-photos", type=int, default=1, help="warn when fewer photos survive curation")
    p.add_argument("--fail-below-min-photos", action="store_true", help="stop instead of warning")
    p.add_argument("--mode", choices=["train", "train-free"], default="train")
    p.add_argument("--adapter", default=None, help="train-free mode: folder from `train-adapter`")
    p.add_argument("--adapter-scale", type=float, default=0.5)
    _fast_args(p)
    _memory_args(p)
    p.add_argument("--no-progress", action="store_true")
    _add_backend_args(p)
    modes = p.add_argument_group("template and pose modes")
    modes.add_argument("--template", default=None, metavar="IMAGE",
                       help="put the person's face into this photo (faces numbered left to right)")
    modes.add_argument("--face", type=int, default=1, help="with --template and photos: the face to replace")
    modes.add_argument("--person", action="append", default=[], metavar="N=PHOTOS_OR_JOB",
                       help="with --template: face N gets this person (a photo folder, or an earlier job's folder "
                            "whose curated photos and face LoRA are reused); repeatable")
    pose = modes.add_mutually_exclusive_group()
    pose.add_argument("--pose", default=None, metavar="IMAGE", help="a photo of a person: portraits in their pose")
    pose.add_argument("--pose-map", default=None, metavar="IMAGE", help="a ready OpenPose skeleton image")
    modes.add_argument("--pose-scale", type=float, default=PoseGenerateConfig().pose_scale,
                       help="OpenPose ControlNet scale when generating in a pose")
    modes.add_argument("--inpaint-strength", type=float, default=InpaintConfig().strength)
    modes.add_argument("--controlnet-openpose", default=ControlNetConfig().openpose,
                       help="cached hub id | diffusers folder | .safetensors file (with --base-model tiny: "
                            "a tiny test ControlNet)")
    modes.add_argument("--controlnet-canny", default=ControlNetConfig().canny, help="as --controlnet-openpose")


def mode_fields(args: argparse.Namespace) -> dict:
    """The template / pose part of a PortraitConfig from the CLI; the kind follows from what is given."""
    from flows.people import parse_persons
    from tasks.config import PoseMapConfig, TemplateConfig, TemplateCropConfig

    pose_image = args.pose or args.pose_map
    if args.template and pose_image:
        raise ValueError("give either --template or --pose/--pose-map, not both")
    if args.person and not args.template:
        raise ValueError("--person needs --template")
    fields = dict(controlnets=ControlNetConfig(openpose=args.controlnet_openpose, canny=args.controlnet_canny),
                  pose_generate=PoseGenerateConfig(pose_scale=args.pose_scale),
                  inpaint=InpaintConfig(strength=args.inpaint_strength))
    size = {"size": args.resolution} if args.resolution else {}
    if args.template:
        if args.person and args.photos:
            raise ValueError("with --person, give every person with --person N=PHOTOS_OR_JOB (no positional photos)")
        persons = parse_persons(args.person) if args.person else {args.face: []}  # []: the job's photos
        return fields | dict(kind="template", template=TemplateConfig(image=args.template), persons=persons,
                             template_crop=TemplateCropConfig(**size))
    if pose_image:
        return fields | dict(kind="pose", pose_map=PoseMapConfig(image=pose_image, ready=bool(args.pose_map), **size))
    return fields


def _base_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL,
                   help="a cached hub id (default: SD 1.5) | a diffusers folder or .safetensors file, SD 1.5 or "
                        "SDXL (the family is read from the model) | tiny, tiny-sdxl (random test models: no real "
                        "portraits)")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickle-based weights (.ckpt/.bin/.pt)")
    p.add_argument("--vae", default=None, metavar="PATH",
                   help="a VAE replacing the base model's (e.g. SDXL's fp16-fix): folder, file or cached hub id")


def _fast_args(p: argparse.ArgumentParser) -> None:
    from typing import get_args

    from tasks.config import FastConfig

    kinds = get_args(get_args(FastConfig.model_fields["kind"].annotation)[0])
    p.add_argument("--fast", default=None, metavar="LORA",
                   help="fast sampling with an LCM / TCD / Hyper-SD / Lightning LoRA (.safetensors, a folder or "
                        "a cached hub id): its scheduler, step count and guidance")
    p.add_argument("--fast-kind", choices=kinds, default=None, help="default: from the LoRA's name or metadata")
    p.add_argument("--fast-steps", type=int, default=None, help="default: the kind's (or the name's)")
    p.add_argument("--fast-guidance", type=float, default=None, help="default: the kind's (1 = no CFG)")
    p.add_argument("--fast-weight", type=float, default=1.0, help="the fast LoRA's weight")


def _memory_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vae-tiling", action="store_true", help="decode large images tile by tile (GPU memory)")
    p.add_argument("--vae-slicing", action="store_true", help="decode a batch one image at a time (GPU memory)")
    p.add_argument("--cpu-offload", choices=["model", "sequential"], default=None,
                   help="generation: models visit the GPU in turn (model) or layer by layer (sequential)")


def base_model_config(args: argparse.Namespace):
    from tasks.config import BaseModelConfig

    return BaseModelConfig(spec=args.base_model, trust_pickle=args.trust_pickle, vae=args.vae)


def fast_config(args: argparse.Namespace):
    """--fast and its options -> a FastConfig, or None; an option without --fast is refused."""
    from tasks.config import FastConfig

    options = {"kind": args.fast_kind, "steps": args.fast_steps, "guidance": args.fast_guidance}
    if args.fast is None:
        given = [f"--fast-{name}" for name, value in options.items() if value is not None]
        if given or args.fast_weight != 1.0:
            raise ValueError(f"{', '.join(given) or '--fast-weight'} needs --fast LORA")
        return None
    return FastConfig(spec=args.fast, weight=args.fast_weight, **options)


def memory_config(args: argparse.Namespace):
    from tasks.config import MemoryConfig

    return MemoryConfig(vae_tiling=args.vae_tiling, vae_slicing=args.vae_slicing,
                        cpu_offload=args.cpu_offload or "none")


def portrait_config(args: argparse.Namespace):
    """CLI arguments -> a validated PortraitConfig (every range checked before any work)."""
    from flows.portrait_config import PortraitConfig
    from tasks.config import GenerateConfig, TrainConfig, TrainFreeConfig

    if args.keep > args.num_images:
        raise ValueError(f"--keep ({args.keep}) cannot exceed --num-images ({args.num_images})")
    train = TrainConfig(seed=args.seed, checkpoint_every=args.checkpoint_every, resolution=args.resolution,
                        train_text_encoder=args.train_text_encoder)
    config = PortraitConfig(
        user=args.user, job=args.job, style=args.style, style_lora=args.style_lora, profile=args.profile,
        **({"styles_dir": args.styles_dir} if args.styles_dir else {}),
        curation=CurationConfig(single_identity=True, progress=not args.no_progress),
        base=base_model_config(args),
        train=train, train_steps=args.train_steps,
        generate=GenerateConfig(num_images=args.num_images, seed=args.seed, resolution=args.resolution,
                                steps=args.gen_steps),
        fast=fast_config(args), memory=memory_config(args),
        mode=args.mode, min_photos=args.min_photos, fail_below_min_photos=args.fail_below_min_photos,
        train_free=TrainFreeConfig(adapter=args.adapter, scale=args.adapter_scale) if args.adapter else None,
        **mode_fields(args),
    )
    return with_cli_settings(config, args, rank={"keep": args.keep})


def _portrait(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from flows.joblock import JobLock
    from flows.model_checks import check_runs_here, with_family
    from flows.portrait import portrait_flow
    from flows.portrait_config import check_job_inputs

    try:
        config = portrait_config(args)
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None
    if not args.photos and (config.kind != "template" or [] in config.persons.values()):
        raise ValueError("give the person's photos (PHOTO_OR_DIR ...), or with --template, --person N=PHOTOS_OR_JOB")
    check_job_inputs(config)  # the flow checks again; here it fails before a Prefect server starts
    check_runs_here(config.memory)
    config = config.model_copy(update={"base": with_family(config.base)})  # recorded: `status` plans without it
    with JobLock(config.job_dir(args.out)):  # busy: fail now, not after the server started
        pass
    if config.base.is_test_model:
        print(f"note: --base-model {config.base.spec} is a tiny random TEST model: it exercises every stage "
              "but makes no real portraits")
    summary = portrait_flow(photos=args.photos, out=args.out, config=config)
    for warning in summary.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    for key in ("kind", "template", "pose", "photos used", "steps trained", "images generated", "images kept",
                "best score", "face LoRA", "results", "report"):
        if key not in summary:
            continue
        print(f"{key}: {summary[key]}")
    print(f"job: {summary['job']}")
    return 0


def _validation_message(exc) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _train_adapter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="a curated dataset (OUT/faces, OUT, or a part file)")
    p.add_argument("--kind", choices=["fact", "feedface"], default="fact")
    _base_model_args(p)  # the face adapters run on SD 1.5 only: another family is refused before any work
    p.add_argument("--out", required=True, help="folder for adapter.safetensors, checkpoints and report.html")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=42)


def _train_adapter(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from flows.adapter import train_adapter_flow
    from flows.config import AdapterFlowConfig
    from flows.model_checks import check_model_inputs
    from tasks.config import AdapterTrainConfig

    try:
        config = AdapterFlowConfig(
            train=AdapterTrainConfig(backend=args.kind, steps=args.steps, resolution=args.resolution, lr=args.lr,
                                     batch_size=args.batch_size, checkpoint_every=args.checkpoint_every,
                                     seed=args.seed),
            base=base_model_config(args))
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None
    check_model_inputs(config.base, face_adapters=True)  # the flow checks again; here before a server starts
    result = train_adapter_flow(dataset=args.dataset, out=args.out, config=config)
    print(f"trained {result['steps']} steps on {result['photos']} photos of {result['identities']} identities; "
          f"loss {result['first_loss']:.4f} -> {result['last_loss']:.4f}")
    print(f"adapter: {result['adapter']}\nreport: {result['report']}")
    return 0


def _serve_args(p: argparse.ArgumentParser) -> None:
    from flows.serve import add_arguments

    add_arguments(p)


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve

    return serve(args)


def _users_args(p: argparse.ArgumentParser) -> None:
    from flows.users import add_arguments

    add_arguments(p)


def _users(args: argparse.Namespace) -> int:
    from flows.users import users

    return users(args)
