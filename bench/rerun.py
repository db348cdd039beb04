"""Re-running part of a portrait job vs running it whole (tiny model, CPU), in one process.

    python bench/rerun.py [--train-steps 30] [--resolution 128] [--num-images 4] [--gen-steps 10] [--keep 3]

On the two sample photos (data/samples/obama.jpg, obama2.jpg) it times

  full      portrait_flow on a fresh out dir (curation, training, generation, ...)
  rank      flows.rerun.rerun(job, "rank", ["keep=2"]): ranking again, everything before it from cache
  generate  flows.rerun.rerun(job, "generate", []): generation and every later stage again

after starting the temporary Prefect server and a warm-up pass of the same job
at the smallest size (imports, model loads, first kernels), both excluded and
reported. What each re-run recomputed is read back from the job's run record.
The three runs are timed twice: as the CLI runs them (on a temporary server
the flow heartbeat is off), then with Prefect's default heartbeat, which a
long-running server keeps (it costs up to 1 s per flow when the flow ends).
The table goes to stdout and to bench/results/rerun-<hostname>.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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
# torch's OpenMP threads spin while waiting: on a machine other processes keep
# busy that makes training several times slower (and the ratios below look
# better than they are). Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from flows.settings import no_heartbeat_on_a_temporary_server  # noqa: E402
from bench.common import SAMPLES, print_table, private_prefect_home, save, start_server  # noqa: E402

PHOTOS = ("obama.jpg", "obama2.jpg")
PORTRAIT_STAGES = ("train", "generate", "select", "fuse", "rank")
RANK_TARGET = 0.10


def job_config(args):
    from flows.config import CurationConfig
    from flows.portrait_config import PortraitConfig
    from tasks.config import GenerateConfig, RankConfig, TrainConfig

    return PortraitConfig(
        user="bench", style=args.style, styles_dir=str(REPO / "data" / "styles"),
        curation=CurationConfig(single_identity=True, progress=False),
        train=TrainConfig(resolution=args.resolution), train_steps=args.train_steps,
        generate=GenerateConfig(num_images=args.num_images, resolution=args.resolution, steps=args.gen_steps),
        rank=RankConfig(keep=args.keep))


def warm_up_config(config):
    return config.model_copy(update={
        "train": config.train.model_copy(update={"resolution": 64}), "train_steps": 1,
        "generate": config.generate.model_copy(update={"num_images": 1, "resolution": 64, "steps": 1}),
        "rank": config.rank.model_copy(update={"keep": 1})})


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t, result


def what_ran(job: Path) -> str:
    """Stages recomputed by the last run of the job (the others came from cache), in job order."""
    from tasks.curation import STAGES

    states = {}
    for name in ("curation", "portrait"):
        record = json.loads((job / "runs" / f"{name}.json").read_text())
        states.update({stage: status["state"] for stage, status in record["stages"].items()})
    done = [stage for stage in (*STAGES, *PORTRAIT_STAGES) if states.get(stage) == "done"]
    if len(done) > 6:
        return f"all {len(done)} stages"
    return ", ".join(done) or "nothing"


def measure(photos: Path, out: Path, config) -> dict:
    """The full job, then re-running the ranking, then generation onward; seconds and what ran."""
    from flows.portrait import job_dir, portrait_flow
    from flows.rerun import rerun

    job = job_dir(str(out), config.user)
    m = {}
    m["full"], m["summary"] = timed(portrait_flow, photos=[str(photos)], out=str(out), config=config)
    m["full ran"] = what_ran(job)
    m["rank"], m["ranked"] = timed(rerun, str(job), "rank", ["keep=2"])
    m["rank ran"] = what_ran(job)
    m["generate"], _ = timed(rerun, str(job), "generate", [])
    m["generate ran"] = what_ran(job)
    return m


def result_rows(m: dict, label: str) -> list[tuple[str, str]]:
    full = m["full"]
    ratio = m["rank"] / full
    return [(f"  full job{label}", f"{full:7.2f}   1.000   {m['full ran']}"),
            (f"  rerun rank keep=2{label}", f"{m['rank']:7.2f}   {ratio:.3f}   {m['rank ran']}   "
                                            f"(target <= {RANK_TARGET:.2f}: {'met' if ratio <= RANK_TARGET else 'MISSED'})"),
            (f"  rerun generate on{label}", f"{m['generate']:7.2f}   {m['generate'] / full:.3f}   {m['generate ran']}")]


def host_line() -> str:
    import torch

    return (f"{socket.gethostname()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), "
            f"Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=128, help="training and generation size")
    parser.add_argument("--num-images", type=int, default=4)
    parser.add_argument("--gen-steps", type=int, default=10)
    parser.add_argument("--keep", type=int, default=3, help="kept by the full run; the rank re-run keeps 2")
    parser.add_argument("--style", default="studio_headshot")
    args = parser.parse_args()

    from flows.portrait import portrait_flow

    private_prefect_home("bench-rerun")
    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        for name in PHOTOS:
            shutil.copyfile(SAMPLES / name, photos / name)
        config = job_config(args)
        startup = start_server()
        load_before = os.getloadavg()[0]
        warm_s, _ = timed(portrait_flow, photos=[str(photos)], out=str(tmp / "warm-up"),
                          config=warm_up_config(config))
        heartbeat_on = measure(photos, tmp / "out-heartbeat", config)
        with no_heartbeat_on_a_temporary_server():  # what the CLI does
            as_is = measure(photos, tmp / "out", config)
        load_after = os.getloadavg()[0]

    summary = as_is["summary"]
    rows = [("host", host_line()),
            ("date", dt.datetime.now().isoformat(timespec="seconds")),
            ("job", f"{summary['photos used']} photos, tiny model, {summary['steps trained']} train steps at "
                    f"{args.resolution}², {args.num_images} images x {args.gen_steps} steps, style {args.style}"),
            ("load average", f"{load_before:.1f} before, {load_after:.1f} after   (wall clock: other processes "
                             "on the machine inflate the timings)"),
            ("server start-up s", f"{startup:.1f}   (excluded)"),
            ("warm-up job s", f"{warm_s:.1f}   (same job at 64², 1 step: imports, model loads; excluded)"),
            ("as the CLI runs", "seconds   / full   recomputed   (temporary server: flow heartbeat off)"),
            *result_rows(as_is, ""),
            ("heartbeat on", "seconds   / full   recomputed   (Prefect's default, kept on a long-running server: "
                             "the heartbeat thread's join costs up to 1 s per flow)"),
            *result_rows(heartbeat_on, ", heartbeat on"),
            ("images kept", f"{summary['images kept']} (full), {as_is['ranked']['images kept']} (rank re-run)   "
                            "(the tiny model draws no faces)")]
    text = print_table("re-run benchmark (tiny model, CPU)", rows)
    path = save(text, f"rerun-{socket.gethostname()}.txt")
    print(f"saved: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
