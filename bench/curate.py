"""Curation throughput: components called directly vs the Prefect flow, before/after the fast detector.

    python bench/curate.py [--photos 120] [--workers 2] [--batch-size 16] [--backends before,after] [--no-dask]

For each backend set ("before": the HOG vote and HOG detection; "after":
YuNet proposals checked by HOG), on the same unique ~1 MP photos
with one face each:
- both paths warmed first (models loaded, the flow run once), then timed in
  the order direct, flow, flow, direct, so that neither gains from going
  second (each figure is the mean of its two runs);
- the stage functions called directly with 1 worker and with `--workers`
  threads, and the flow on the threads runner (flow/direct: Prefect's cost);
- per-stage core-seconds per photo (process CPU time of all threads: what
  the cores pay, whatever the parallelism);
- photos without a face (copies of dogs.jpg) on their own: they take the
  slow path of the orientation vote;
- the flow on a warm Dask cluster of 1 and of `--workers` processes (started
  and models loaded by a warm-up run): how the work scales over processes,
  with each worker's peak memory.
Flow times exclude the temporary server's start-up (a fixed cost, reported
separately); the server is shared with the Dask workers.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.settings import apply_defaults  # noqa: E402

apply_defaults()

from bench.common import (  # noqa: E402
    FACE_SAMPLES,
    NO_FACE_SAMPLES,
    ingested,
    print_table,
    private_prefect_home,
    save,
    stage_runner,
    start_server,
    unique_photos,
)

private_prefect_home("bench-curate")  # before Prefect is imported: its home is read once

from flows.config import CurationConfig  # noqa: E402
from flows.settings import no_heartbeat_on_a_temporary_server  # noqa: E402
from tasks.catalog import CURATION_STAGES  # noqa: E402
from tasks.config import DetectConfig, OrientConfig, YuNetDetectConfig, YuNetOrientConfig  # noqa: E402

BACKEND_SETS = {"before": {"orient": OrientConfig(), "detect": DetectConfig()},
                "after": {"orient": YuNetOrientConfig(), "detect": YuNetDetectConfig()}}


def run_direct(photos: Path, out: Path, config: CurationConfig) -> tuple[float, dict[str, float]]:
    """Wall seconds, and process CPU seconds per stage."""
    started = time.perf_counter()
    per_stage = {}
    cpu = time.process_time()
    batches = ingested(photos, out, config)
    per_stage["ingest (read+hash)"] = time.process_time() - cpu
    run = stage_runner(out, config)
    with ThreadPoolExecutor(config.workers) as pool:
        for stage in CURATION_STAGES:
            cpu = time.process_time()
            batches = list(pool.map(lambda b: run(stage, b), batches))
            per_stage[stage.name] = time.process_time() - cpu
    return time.perf_counter() - started, per_stage


def run_flow(photos: Path, out: Path, config: CurationConfig) -> float:
    from flows.curate import curate_flow

    t = time.perf_counter()
    curate_flow(inputs=[str(photos)], out=str(out), config=config)
    return time.perf_counter() - t


def run_on_warm_cluster(photos: Path, warm_photos: Path, out: Path, config: CurationConfig,
                        workers: int) -> tuple[float, float]:
    """Seconds of the flow on a Dask cluster of `workers` processes that already ran once, and their peak RSS MiB.

    Cluster start (~7 s) and each worker's model loads are paid once per
    cluster in production; here they are paid by a warm-up run, so the timed
    run shows how the work itself scales over processes (no shared GIL).
    """
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


def measure(label: str, config: CurationConfig, sets: dict[str, Path], tmp: Path, n: int, dask: bool) -> list:
    w = config.workers
    run_direct(sets["warm"], tmp / f"{label}-warm-direct", config)
    run_flow(sets["warm"], tmp / f"{label}-warm-flow", config)
    direct_a, stages_a = run_direct(sets["faces"], tmp / f"{label}-direct-a", config)
    flow_a = run_flow(sets["faces"], tmp / f"{label}-flow-a", config)
    flow_b = run_flow(sets["faces"], tmp / f"{label}-flow-b", config)
    direct_b, stages_b = run_direct(sets["faces"], tmp / f"{label}-direct-b", config)
    direct, flow = (direct_a + direct_b) / 2, (flow_a + flow_b) / 2
    direct_one, _ = run_direct(sets["faces"], tmp / f"{label}-direct-1", config.model_copy(update={"workers": 1}))
    no_face = len(list(sets["no face"].iterdir()))
    no_face_time, no_face_stages = run_direct(sets["no face"], tmp / f"{label}-no-face", config)
    rows = [(f"[{label}] orient / detect backends", f"{config.orient.backend} / {config.detect.backend}"),
            ("  direct, 1 worker photos/s", f"{n / direct_one:.2f}"),
            (f"  direct, {w} threads photos/s", f"{n / direct:.2f}   (runs: {direct_a:.1f} s, {direct_b:.1f} s)"),
            (f"  flow, {w} threads photos/s", f"{n / flow:.2f}   (runs: {flow_a:.1f} s, {flow_b:.1f} s; target >= 5)"),
            ("  flow / direct time", f"{flow / direct:.3f}   (target <= 1.05)"),
            (f"  {w} threads vs 1 (direct)", f"{direct_one / direct:.2f}x")]
    rows += [(f"  {stage} core-s/photo", f"{(stages_a[stage] + stages_b[stage]) / 2 / n:.4f}") for stage in stages_a]
    rows.append(("  all stages core-s/photo", f"{(sum(stages_a.values()) + sum(stages_b.values())) / 2 / n:.4f}"))
    rows += [(f"  no-face photos, {w} threads photos/s", f"{no_face / no_face_time:.2f}   ({no_face} copies of dogs.jpg)"),
             ("  no-face photos core-s/photo", f"{sum(no_face_stages.values()) / no_face:.4f}"),
             ("  peak RSS MiB, this process so far", f"{peak_rss_mib():.0f}")]
    if dask:
        one, one_peak = run_on_warm_cluster(sets["faces"], sets["warm"], tmp / f"{label}-dask-1", config, 1)
        many, many_peak = run_on_warm_cluster(sets["faces"], sets["warm"], tmp / f"{label}-dask-n", config, w)
        rows += [("  warm Dask, 1 process photos/s", f"{n / one:.2f}   (worker peak RSS {one_peak:.0f} MiB)"),
                 (f"  warm Dask, {w} processes photos/s", f"{n / many:.2f}   (worker peak RSS {many_peak:.0f} MiB)"),
                 (f"  {w} processes vs 1 (warm Dask)", f"{one / many:.2f}x   (target >= 1.9x)")]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--backends", default="before,after", help="comma-separated: before, after")
    parser.add_argument("--no-dask", action="store_true", help="skip the warm Dask scaling runs")
    args = parser.parse_args()
    labels = [b for b in args.backends.split(",") if b]
    unknown = set(labels) - set(BACKEND_SETS)
    if unknown:
        parser.error(f"unknown backend set(s) {', '.join(sorted(unknown))}; choose from {', '.join(BACKEND_SETS)}")
    with tempfile.TemporaryDirectory() as tmp_name, no_heartbeat_on_a_temporary_server():
        tmp = Path(tmp_name)
        sets = {"faces": tmp / "faces", "no face": tmp / "no-face", "warm": tmp / "warm"}
        unique_photos(sets["faces"], args.photos, names=FACE_SAMPLES)
        unique_photos(sets["no face"], max(4, args.photos // 8), names=NO_FACE_SAMPLES, seed_offset=20_000)
        unique_photos(sets["warm"], 2 * args.batch_size * args.workers, names=FACE_SAMPLES, seed_offset=10_000)
        startup = start_server()
        rows = [("photos", f"{args.photos} (~1 MP JPEG, one face each, batches of {args.batch_size})"),
                ("server start-up s", f"{startup:.1f}   (excluded below)")]
        for label in labels:
            config = CurationConfig(workers=args.workers, batch_size=args.batch_size, progress=False,
                                    **BACKEND_SETS[label])
            rows += measure(label, config, sets, tmp, args.photos, not args.no_dask)
    text = print_table("curation benchmark", rows)
    save(text, f"curate-{socket.gethostname()}.txt")


if __name__ == "__main__":
    main()
