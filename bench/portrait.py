"""Portrait job on the tiny test model (CPU): seconds per stage, then the whole job as a flow, in one run;
then LoRA training steps/s and seconds per image of each test model family (tiny, tiny-sdxl).

    python bench/portrait.py [--train-steps 40] [--resolution 128] [--num-images 4] [--gen-steps 10]
    python bench/portrait.py --base-model tiny-sdxl   # the job on the SDXL test model
    python bench/portrait.py --skip-job      # only the per-family rows

The two sample photos of one person (data/samples/obama*.jpg) are copied to a
temporary folder. The stages are timed by calling the task functions of
tasks/portrait.py directly (after curating the photos with
flows.curate.run_curation into the job root); then portrait_flow runs the same
job in a fresh out dir. A warm-up pass of the same job at the smallest size
(64², one step, one image) runs first, so imports, model loads and first
kernels fall outside the timings; it and the temporary Prefect server's
start-up are reported but excluded. Timings are wall clock: the load average
is printed with them. The table goes to stdout and to
bench/results/portrait-cpu-<hostname>.txt.

The per-family rows call the components directly (bench/gpu.py's timing
functions on the CPU): LoraTrainer steps/s after a warm-up step, PeftGenerator
seconds per image with the trained face LoRA at the style's sampler, and with a
random LoRA under an LCM-LoRA name (fast sampling: LCMScheduler, 4 steps, no CFG).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.settings import apply_defaults  # noqa: E402

apply_defaults()

from bench.common import SAMPLES, host_line, print_table, private_prefect_home, save, start_server  # noqa: E402

PHOTOS = ("obama.jpg", "obama2.jpg")
STAGES = ("train", "generate", "select", "fuse", "rank")
FAMILY_TEST_MODELS = ("tiny", "tiny-sdxl")  # one test model per family


def copy_samples(folder: Path, names=PHOTOS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SAMPLES / name, folder / name)
    return folder


def portrait_config(args, styles_dir: Path, base_spec: str = "tiny"):
    from flows.config import CurationConfig
    from flows.portrait_config import PortraitConfig
    from tasks.config import BaseModelConfig, GenerateConfig, RankConfig, TrainConfig

    return PortraitConfig(
        user="bench", style=args.style, styles_dir=str(styles_dir),
        curation=CurationConfig(single_identity=True, progress=False, workers=args.workers),
        base=BaseModelConfig(spec=base_spec),
        train=TrainConfig(**({"resolution": args.resolution} if args.resolution else {})),
        train_steps=args.train_steps,
        generate=GenerateConfig(num_images=args.num_images, resolution=args.resolution, steps=args.gen_steps),
        rank=RankConfig(keep=min(args.keep, args.num_images)),
    )


def warm_up_config(config):
    """The same job at the smallest size: imports, model loads and first kernels happen before any timing."""
    return config.model_copy(update={
        "train": config.train.model_copy(update={"resolution": 64}), "train_steps": 1,
        "generate": config.generate.model_copy(update={"num_images": 1, "resolution": 64, "steps": 1})})


def load_models(config) -> None:
    """What the stages load on first use: the base pipeline and the fusion/ranking models (pooled)."""
    from tasks import models
    from tasks.diffusion_models import pipeline_for

    pipeline_for(config.base)
    with models.borrow("fuse", config.fuse):
        pass
    with models.borrow("rank", config.rank):
        pass


def run_stages(photos: Path, out: Path, config) -> tuple[dict[str, float], dict]:
    """Curation via curate_flow, then each portrait stage's function called directly; seconds per stage."""
    from flows.curate import curate_flow
    from flows.execute import Artefact, Plan
    from flows.portrait_config import portrait_values, resolve_style
    from tasks.catalog import portrait_stages
    from tasks.execution import stage_body
    from tasks.portrait_rows import curated_ok

    style = resolve_style(config)
    root = config.job_dir(out)
    seconds: dict[str, float] = {}

    def timed(name, fn, **kwargs):
        t = time.perf_counter()
        result = fn(**kwargs)
        seconds[name] = time.perf_counter() - t
        return result

    curated = timed("curate", curate_flow, inputs=[str(photos)], out=str(root), config=config.curation)
    part = curated["part"]
    usable = curated_ok(str(root), part)
    if not usable:
        raise RuntimeError(f"no usable photo after curation: {curated['reasons']}")
    steps = config.steps_for(len(usable))
    load_models(config)  # loaded by the warm-up pass already: a no-op then
    plan = Plan(root, portrait_values(config, style, steps))
    done = {"curate": Artefact(key=Path(part).stem, path=part)}
    for stage in portrait_stages(config.mode):
        inputs = {name: done[name] for name in stage.reads}
        done[stage.name] = plan.artefact(stage, inputs)
        timed(stage.name, stage_body(stage), root=str(root), output=done[stage.name].path,
              inputs={name: a.path for name, a in inputs.items()}, **plan.values_for(stage))
    return seconds, {"photos": len(usable), "steps": steps}


def run_job(photos: Path, out: Path, config) -> tuple[float, dict, dict[str, float]]:
    """The whole job through portrait_flow; also the seconds each task run took inside the flow."""
    from flows.portrait import portrait_flow

    t = time.perf_counter()
    state = portrait_flow(photos=[str(photos)], out=str(out), config=config, return_state=True)
    seconds = time.perf_counter() - t
    summary = state.result()  # raises if the flow failed
    return seconds, summary, flow_task_seconds(state.state_details.flow_run_id)


def flow_task_seconds(flow_run_id, wait_s: float = 10.0) -> dict[str, float]:
    """Seconds of each portrait task run inside a flow run, and of its curation subflow ("curate").

    Runs reach the server's database asynchronously: poll until every one has ended.
    Returns {} when the API cannot say (these timings are a diagnostic, not the measurement).
    """
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + wait_s
            while True:
                children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
                runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
                runs = [r for r in runs if r.name in STAGES]
                ended = all(r.end_time is not None for r in [*runs, *children])
                if (ended and len(runs) == len(STAGES)) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
    except Exception as error:  # noqa: BLE001 - diagnostics only
        print(f"note: could not read run times from the Prefect API: {error!r}", file=sys.stderr)
        return {}
    seconds: dict[str, float] = {}
    for name, run in [*(("curate", c) for c in children), *((r.name, r) for r in runs)]:
        if run.start_time is not None and run.end_time is not None:
            seconds[name] = seconds.get(name, 0.0) + (run.end_time - run.start_time).total_seconds()
    return seconds


def family_rows(args, style) -> list[tuple[str, str]]:
    """Training steps/s and s/image of each test model at the benchmark's size, components called directly."""
    from bench.gpu import Cuda, fast_lora, time_generation, time_training, training_examples
    from components.diffusion.base_model import load_base_model, model_family

    cuda, examples, rows = Cuda("cpu"), training_examples(), []
    steps = max(3, min(args.train_steps, args.family_train_steps))
    for spec in FAMILY_TEST_MODELS:
        pipeline = load_base_model(spec)
        trained = time_training(pipeline, examples, steps=steps, warmup=1, resolution=args.resolution,
                                checkpointing=False, cuda=cuda)
        plain = time_generation(pipeline, trained["weights"], batch=1, steps=args.gen_steps,
                                resolution=args.resolution, repeats=2, style=style, cuda=cuda)
        with tempfile.TemporaryDirectory(prefix="bench-fast-") as tmp:
            fast = fast_lora(pipeline, Path(tmp))
        quick = time_generation(pipeline, trained["weights"], batch=1, steps=args.gen_steps,
                                resolution=args.resolution, repeats=2, style=style, cuda=cuda, fast=fast)
        label = f"{spec} ({model_family(spec).label})"
        rows += [(f"  {label} train", f"{trained['steps_s']:.2f} steps/s at {args.resolution}² "
                                      f"({steps} steps, first left out)"),
                 (f"  {label} image", f"{plain['s_per_image']:.2f} s at {args.resolution}², {args.gen_steps} steps "
                                      f"{style.sampler}, CFG {style.guidance:g}"),
                 (f"  {label} fast image", f"{quick['s_per_image']:.2f} s at {args.resolution}², "
                                           f"{fast.plan.steps} steps {fast.plan.sampler}, no CFG")]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--resolution", type=int, default=128, help="training and generation size")
    parser.add_argument("--num-images", type=int, default=4)
    parser.add_argument("--gen-steps", type=int, default=10)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--style", default="studio_headshot")
    parser.add_argument("--base-model", choices=FAMILY_TEST_MODELS, default="tiny", help="the job's test model")
    parser.add_argument("--workers", type=int, default=2, help="curation workers")
    parser.add_argument("--family-train-steps", type=int, default=8, help="training steps per test model row")
    parser.add_argument("--skip-job", action="store_true", help="only the per-family (tiny, tiny-sdxl) rows")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice). On a machine other processes "
                             "keep busy, 1 can be several times faster than OpenMP threads that spin-wait")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    from tasks.styles import load_style_library

    rows = [("host", host_line()), ("date", dt.datetime.now().isoformat(timespec="seconds"))]
    load_before = os.getloadavg()[0]
    if not args.skip_job:
        rows += job_rows(args)
    rows.append(("per family (direct)", "LoraTrainer and PeftGenerator on each test model, models loaded"))
    rows += family_rows(args, load_style_library(REPO / "data" / "styles")[args.style])
    rows.append(("load average", f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after   "
                                 f"(timings are wall clock: other processes on the machine inflate them)"))
    text = print_table("portrait job benchmark (tiny models, CPU)", rows)
    model = "" if args.base_model == "tiny" else f"-{args.base_model}"
    path = save(text, f"portrait-cpu-{socket.gethostname()}{'-families' if args.skip_job else model}.txt")
    print(f"saved: {path.relative_to(REPO)}")


def job_rows(args) -> list[tuple[str, str]]:
    """The tiny model's job: stages called directly, then the whole flow."""
    with tempfile.TemporaryDirectory(prefix="bench-portrait-") as tmp:
        tmp = Path(tmp)
        private_prefect_home("bench-portrait")
        photos = copy_samples(tmp / "photos")
        config = portrait_config(args, REPO / "data" / "styles", args.base_model)
        startup = start_server()
        t = time.perf_counter()
        run_stages(photos, tmp / "warm-up", warm_up_config(config))
        warm_s = time.perf_counter() - t
        stage_s, info = run_stages(photos, tmp / "direct", config)
        job_s, summary, in_flow = run_job(photos, tmp / "flow", config)

    work = sum(stage_s.values())
    rows = [("job", f"{info['photos']} photos, {args.base_model}, {info['steps']} train steps at {args.resolution}², "
                    f"{args.num_images} images x {args.gen_steps} steps, style {args.style}"),
            ("server start-up s", f"{startup:.1f}   (excluded below)"),
            ("warm-up pass s", f"{warm_s:.1f}   (same job at 64², 1 step: imports, model loads; excluded)"),
            ("stage (direct)", f"{'seconds':<10}{'share':<9}in the flow")]
    for name in ("curate", *STAGES):
        flow_s = in_flow.get(name)
        rows.append((f"  {name}", f"{stage_s[name]:<10.2f}{stage_s[name] / work:<9.1%}"
                                  f"{'' if flow_s is None else f'{flow_s:.2f}'}".rstrip()))
    rows.append(("  (curate)", "direct: run_curation, a flow of its own (start, finish, models loaded in its new "
                               "worker threads); in the flow: the subflow's run time as the server recorded it"))
    rows += [("sum of stages s", f"{work:.2f}   (models loaded)"),
             ("whole job (flow) s", f"{job_s:.2f}   (portrait_flow, fresh out dir, models loaded)"),
             ("flow - direct s", f"{job_s - work:.2f}   (both runs' stage times vary by a few s on a busy machine)")]
    if len(in_flow) == len(STAGES) + 1:
        rows.append(("flow - its stages s", f"{job_s - sum(in_flow.values()):.2f}   "
                                            "(orchestration, outputs and report, within the flow run)"))
    rows.append(("images kept", f"{summary['images kept']}   (the tiny model draws no faces)"))
    return rows


if __name__ == "__main__":
    main()
