"""Portrait job on the tiny test model (CPU): seconds per stage, then the whole job as a flow, in one run.

    python bench/portrait.py [--train-steps 40] [--resolution 128] [--num-images 4] [--gen-steps 10]

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
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
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
    with models.borrow("fuse", config.fuse, detector="detect:dlib-hog"):
        pass
    with models.borrow("rank", config.rank, detector="detect:dlib-hog", embedder="embed:dlib-resnet"):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--resolution", type=int, default=128, help="training and generation size")
    parser.add_argument("--num-images", type=int, default=4)
    parser.add_argument("--gen-steps", type=int, default=10)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--style", default="studio_headshot")
    parser.add_argument("--workers", type=int, default=2, help="curation workers")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice). On a machine other processes "
                             "keep busy, 1 can be several times faster than OpenMP threads that spin-wait")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    with tempfile.TemporaryDirectory(prefix="bench-portrait-") as tmp:
        tmp = Path(tmp)
        private_prefect_home("bench-portrait")
        photos = copy_samples(tmp / "photos")
        config = portrait_config(args, REPO / "data" / "styles")
        startup = start_server()
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        run_stages(photos, tmp / "warm-up", warm_up_config(config))
        warm_s = time.perf_counter() - t
        stage_s, info = run_stages(photos, tmp / "direct", config)
        job_s, summary, in_flow = run_job(photos, tmp / "flow", config)

    work = sum(stage_s.values())
    rows = [("host", host_line()),
            ("date", dt.datetime.now().isoformat(timespec="seconds")),
            ("job", f"{info['photos']} photos, tiny model, {info['steps']} train steps at {args.resolution}², "
                    f"{args.num_images} images x {args.gen_steps} steps, style {args.style}"),
            ("load average", f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after   "
                             f"(timings are wall clock: other processes on the machine inflate them)"),
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
    text = print_table("portrait job benchmark (tiny model, CPU)", rows)
    path = save(text, f"portrait-cpu-{socket.gethostname()}.txt")
    print(f"saved: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
