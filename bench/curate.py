"""Curation throughput: the flow vs the same work called directly, before/after, threads vs processes, scaling.

    python bench/curate.py [--photos 120] [--workers 2] [--batch-size 16] [--no-dask] [--no-processes]
                           [--opencv-threads N]

On the same unique ~1 MP JPEGs with one face each (made from data/samples
biden/obama/obama2, one pixel changed per copy; no-face copies of dogs.jpg
apart):

- before: the HOG vote then HOG detection, each stage on its own over every
  batch (what one task per (stage, batch) did: each stage reads its input
  artefact and decodes what it needs): core-seconds per stage per photo.
- after (the defaults): all stages of a batch in one chain (tasks/curation.py
  `run_chain`), the photo decoded once, the vote's detection used as the
  detection. Core-seconds per stage measured on one thread: computing, and
  writing the stage's artefact; the decodes the chain made.
- direct vs flow: ingest + chains on a thread pool + assemble, called
  directly, vs `curate_flow` (threads runner), both warmed first, then timed
  in the order direct, flow, flow, direct (each figure the mean of its two
  runs): flow / direct is Prefect's cost. 1 worker vs `--workers` threads.
- the flow on the processes runner as the CLI runs it (the pool and its
  models started by the run, included), for the default runner's choice.
- a warm Dask cluster of 1 and of `--workers` processes (started and models
  loaded by a warm-up run): how the work scales over processes, with each
  worker's peak memory.

Flow times exclude the temporary server's start-up (reported apart); the
server is shared with the worker processes. Everything needed to run it again
on a quiet machine is printed first: the command, machine, versions, commit and
load. The table goes to stdout and bench/results/curate-<hostname>.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.settings import apply_defaults  # noqa: E402

apply_defaults()

from bench.common import (  # noqa: E402
    FACE_SAMPLES,
    NO_FACE_SAMPLES,
    host_line,
    ingested,
    print_table,
    private_prefect_home,
    save,
    stage_runner,
    start_server,
    unique_photos,
)

private_prefect_home("bench-curate")  # before Prefect is imported: its home is read once

from flows.config import CurationConfig, curation_values  # noqa: E402
from flows.execute import Plan, chain_artefacts  # noqa: E402
from flows.settings import no_heartbeat_on_a_temporary_server  # noqa: E402
from tasks.assemble import assemble  # noqa: E402
from tasks.batch_images import BatchImages  # noqa: E402
from tasks.catalog import CURATION_STAGES  # noqa: E402
from tasks.config import DetectConfig, OrientConfig  # noqa: E402
from tasks.curation import ChainStep, apply_stage, run_chain  # noqa: E402
from tasks.records import from_table, to_table  # noqa: E402
from tasks.storage import read_parquet, write_parquet  # noqa: E402

BEFORE = {"orient": OrientConfig(), "detect": DetectConfig()}


# -- what runs --------------------------------------------------------------------------------


def chain_steps(out: Path, config: CurationConfig, batch) -> list[ChainStep]:
    plan = Plan(out, curation_values(config))
    return [ChainStep(stage=stage.name, output=artefact.path, config=getattr(config, stage.name))
            for stage, artefact in zip(CURATION_STAGES, chain_artefacts(plan, CURATION_STAGES, batch))]


def run_direct(photos: Path, out: Path, config: CurationConfig) -> float:
    """Wall seconds of ingest + one chain per batch on `config.workers` threads + assemble, without Prefect."""
    def chain(batch) -> str:
        steps = chain_steps(out, config, batch)
        run_chain(str(out), batch.path, steps, config.load)
        return steps[-1].output

    started = time.perf_counter()
    batches = ingested(photos, out, config)
    with ThreadPoolExecutor(config.workers) as pool:
        finals = list(pool.map(chain, batches))
    assemble(finals, [Path(f).stem for f in finals], str(out), config.single_identity, None, config.identity_threshold)
    return time.perf_counter() - started


def run_flow(photos: Path, out: Path, config: CurationConfig) -> float:
    from flows.curate import curate_flow

    started = time.perf_counter()
    curate_flow(inputs=[str(photos)], out=str(out), config=config)
    return time.perf_counter() - started


def stages_one_by_one(photos: Path, out: Path, config: CurationConfig) -> dict[str, float]:
    """Before: each stage over every batch on its own (reads its input, decodes again); CPU s per stage."""
    batches, run, cpu = ingested(photos, out, config), stage_runner(out, config), {}
    with ThreadPoolExecutor(config.workers) as pool:
        for stage in CURATION_STAGES:
            started = time.process_time()
            batches = list(pool.map(lambda b, s=stage: run(s, b), batches))
            cpu[stage.name] = time.process_time() - started
    return cpu


def chain_costs(photos: Path, out: Path, config: CurationConfig) -> tuple[dict[str, float], dict[str, float], dict]:
    """After, on one thread: CPU s per stage computing, and writing its artefact; what was decoded."""
    names = [s.name for s in CURATION_STAGES]
    compute, write = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    images = BatchImages()
    for batch in ingested(photos, out, config):
        records = from_table(read_parquet(out / batch.path))
        for step in chain_steps(out, config, batch):
            started = time.process_time()
            apply_stage(step.stage, records, step.config, config.load, images)
            middle = time.process_time()
            write_parquet(out / step.output, to_table(records))
            compute[step.stage] += middle - started
            write[step.stage] += time.process_time() - middle
        images.clear()
    return compute, write, dict(images.made)


def run_on_warm_cluster(photos: Path, warm_photos: Path, out: Path, config: CurationConfig,
                        workers: int) -> tuple[float, float]:
    """Seconds of the flow on a Dask cluster of `workers` processes that already ran once, and their peak RSS MiB."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_cluster = config.model_copy(update={"runner": "dask", "dask_address": cluster.scheduler_address,
                                               "workers": workers})
        run_flow(warm_photos, out / "warm-up", on_cluster)
        seconds = run_flow(photos, out / "timed", on_cluster)
        with Client(cluster) as client:
            peaks = client.run(peak_rss_mib)
    return seconds, max(peaks.values())


def peak_rss_mib() -> float:
    """This process's own peak RSS: VmHWM, since ru_maxrss carries the parent's peak across fork + exec on Linux."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- what is reported ---------------------------------------------------------------------------


def per_photo(seconds: dict[str, float], n: int) -> list[tuple[str, str]]:
    rows = [(f"  {name} core-s/photo", f"{value / n:.4f}") for name, value in seconds.items()]
    return rows + [("  all stages core-s/photo", f"{sum(seconds.values()) / n:.4f}")]


def measure_before(config: CurationConfig, sets: dict[str, Path], tmp: Path, n: int) -> list:
    before = config.model_copy(update=BEFORE)
    stages_one_by_one(sets["warm"], tmp / "before-warm", before)
    cpu = stages_one_by_one(sets["faces"], tmp / "before", before)
    return [("[before] HOG vote + HOG detect, one stage at a time over every batch", ""), *per_photo(cpu, n)]


def measure_after(config: CurationConfig, sets: dict[str, Path], tmp: Path, n: int, processes: bool) -> list:
    w = config.workers
    compute, write, made = chain_costs(sets["faces"], tmp / "costs", config)
    rows = [(f"[after] {config.orient.backend} vote = detection, one chain per batch", ""),
            *per_photo(compute, n),
            *[(f"  {name}: artefact write core-s/photo", f"{value / n:.4f}") for name, value in write.items()],
            ("  all artefact writes core-s/photo", f"{sum(write.values()) / n:.4f}"),
            ("  decodes in the chains", f"source {made.get('source', 0)}, crop PNG {made.get('crop', 0)} "
                                        f"for {n} photos")]
    run_direct(sets["warm"], tmp / "warm-direct", config)
    run_flow(sets["warm"], tmp / "warm-flow", config)
    direct_a = run_direct(sets["faces"], tmp / "direct-a", config)
    flow_a = run_flow(sets["faces"], tmp / "flow-a", config)
    flow_b = run_flow(sets["faces"], tmp / "flow-b", config)
    direct_b = run_direct(sets["faces"], tmp / "direct-b", config)
    direct, flow = (direct_a + direct_b) / 2, (flow_a + flow_b) / 2
    direct_one = run_direct(sets["faces"], tmp / "direct-1", config.model_copy(update={"workers": 1}))
    no_face = len(list(sets["no face"].iterdir()))
    no_face_cpu = sum(chain_costs(sets["no face"], tmp / "no-face", config)[0].values())
    rows += [("  direct, 1 worker photos/s", f"{n / direct_one:.2f}"),
             (f"  direct, {w} threads photos/s", f"{n / direct:.2f}   (runs: {direct_a:.1f} s, {direct_b:.1f} s)"),
             (f"  flow, {w} threads photos/s", f"{n / flow:.2f}   (runs: {flow_a:.1f} s, {flow_b:.1f} s; target >= 5)"),
             ("  flow / direct time", f"{flow / direct:.3f}   (target <= 1.05)"),
             (f"  {w} threads vs 1 (direct)", f"{direct_one / direct:.2f}x")]
    if processes:
        cold = run_flow(sets["faces"], tmp / "flow-processes", config.model_copy(update={"runner": "processes"}))
        rows.append((f"  flow, {w} processes (pool started by the run) photos/s",
                     f"{n / cold:.2f}   ({cold:.1f} s; threads: {flow:.1f} s)"))
    rows += [("  no-face photos core-s/photo", f"{no_face_cpu / no_face:.4f}   ({no_face} copies of dogs.jpg)"),
             ("  peak RSS MiB, this process so far", f"{peak_rss_mib():.0f}")]
    return rows


def measure_dask(config: CurationConfig, sets: dict[str, Path], tmp: Path, n: int) -> list:
    w = config.workers
    one, one_peak = run_on_warm_cluster(sets["faces"], sets["warm"], tmp / "dask-1", config, 1)
    many, many_peak = run_on_warm_cluster(sets["faces"], sets["warm"], tmp / "dask-n", config, w)
    return [("  warm Dask, 1 process photos/s", f"{n / one:.2f}   (worker peak RSS {one_peak:.0f} MiB)"),
            (f"  warm Dask, {w} processes photos/s", f"{n / many:.2f}   (worker peak RSS {many_peak:.0f} MiB)"),
            (f"  {w} processes vs 1 (warm Dask)", f"{one / many:.2f}x   (target >= 1.9x)")]


def conditions(argv: list[str]) -> list[tuple[str, str]]:
    """What the lead needs to measure it again: the command, machine, versions, commit, load."""
    from importlib.metadata import version

    import cv2

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    return [("command", " ".join([Path(sys.executable).name, "bench/curate.py", *argv])),
            ("host", host_line()),
            ("versions", f"prefect {version('prefect')}, dlib {version('dlib-bin')}, opencv {cv2.__version__} "
                         f"({cv2.getNumThreads()} threads), onnxruntime {version('onnxruntime')}"),
            ("commit", commit or "unknown"),
            ("date", dt.datetime.now().isoformat(timespec="seconds")),
            ("load average at start", " ".join(f"{v:.1f}" for v in os.getloadavg())
             + "   (above the core count: other processes inflate every timing)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-dask", action="store_true", help="skip the warm Dask scaling runs")
    parser.add_argument("--no-processes", action="store_true", help="skip the processes-runner flow")
    parser.add_argument("--no-before", action="store_true", help="skip the HOG, one-stage-at-a-time figures")
    parser.add_argument("--opencv-threads", type=int, default=None, help="cv2.setNumThreads in this process")
    args = parser.parse_args()
    rows = conditions(sys.argv[1:])
    if args.opencv_threads is not None:
        import cv2

        cv2.setNumThreads(args.opencv_threads)
    with tempfile.TemporaryDirectory() as tmp_name, no_heartbeat_on_a_temporary_server():
        tmp = Path(tmp_name)
        sets = {"faces": tmp / "faces", "no face": tmp / "no-face", "warm": tmp / "warm"}
        unique_photos(sets["faces"], args.photos, names=FACE_SAMPLES)
        unique_photos(sets["no face"], max(4, args.photos // 8), names=NO_FACE_SAMPLES, seed_offset=20_000)
        unique_photos(sets["warm"], 2 * args.batch_size * args.workers, names=FACE_SAMPLES, seed_offset=10_000)
        startup = start_server()
        rows += [("photos", f"{args.photos} (~1 MP JPEG, one face each, batches of {args.batch_size})"),
                 ("server start-up s", f"{startup:.1f}   (excluded below)")]
        config = CurationConfig(workers=args.workers, batch_size=args.batch_size, progress=False)
        if not args.no_before:
            rows += measure_before(config, sets, tmp, args.photos)
        rows += measure_after(config, sets, tmp, args.photos, not args.no_processes)
        if not args.no_dask:
            rows += measure_dask(config, sets, tmp, args.photos)
    rows.append(("load average at end", " ".join(f"{v:.1f}" for v in os.getloadavg())))
    text = print_table("curation benchmark", rows)
    save(text, f"curate-{socket.gethostname()}.txt")


if __name__ == "__main__":
    main()
