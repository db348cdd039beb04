"""Curation throughput: components called directly vs the Prefect flow, in one run.

    python bench/curate.py [--photos 200] [--workers 2] [--batch-size 16]

Runs, on the same unique ~1 MP photos: the stage functions called directly
with 1 worker and with `--workers` threads (scaling), the flow on the
threads runner (Prefect's overhead: flow/direct), and the flow on a Dask
local cluster of `--workers` processes. Flow times exclude the temporary
server's start-up (a fixed cost, reported separately).
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

from bench.common import print_table, save, start_server, unique_photos  # noqa: E402
from flows.config import CurationConfig  # noqa: E402
from flows.execute import Artefact, Plan  # noqa: E402
from flows.config import curation_values  # noqa: E402
from tasks.catalog import CURATION_STAGES  # noqa: E402
from tasks.curation import run_batch  # noqa: E402
from tasks.workspace import input_key  # noqa: E402
from tasks.ingest import ingest  # noqa: E402


def run_direct(photos: Path, out: Path, config: CurationConfig) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    per_stage = {}
    t = time.perf_counter()
    batches = [Artefact(key=input_key(b), path=b)
               for b in ingest([str(photos)], str(out), config.load, config.batch_size, set()).batches]
    per_stage["ingest (read+hash)"] = time.perf_counter() - t
    plan = Plan(out, curation_values(config))

    def run(stage, batch: Artefact) -> Artefact:
        artefact = plan.artefact(stage, {"batch": batch})
        run_batch(stage.name, str(out), batch.path, artefact.path, getattr(config, stage.name), config.load)
        return artefact

    with ThreadPoolExecutor(config.workers) as pool:
        for stage in CURATION_STAGES:
            t = time.perf_counter()
            batches = list(pool.map(lambda b: run(stage, b), batches))
            per_stage[stage.name] = time.perf_counter() - t
    return time.perf_counter() - started, per_stage


def run_flow(photos: Path, out: Path, config: CurationConfig) -> float:
    from flows.curate import curate_flow

    t = time.perf_counter()
    curate_flow(inputs=[str(photos)], out=str(out), config=config)
    return time.perf_counter() - t


def run_on_warm_cluster(photos: Path, warm_photos: Path, out: Path, config: CurationConfig, workers: int) -> float:
    """The flow on a Dask cluster of `workers` processes that already started and loaded its models.

    Cluster start (~7 s) and each worker's model loads are paid once per
    cluster in production; here they are paid by a warm-up run, so the timed
    run shows how the work itself scales over processes (no shared GIL).
    """
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_cluster = config.model_copy(update={"runner": "dask", "dask_address": cluster.scheduler_address,
                                               "workers": workers})
        run_flow(warm_photos, out / "warm-up", on_cluster)
        return run_flow(photos, out / "timed", on_cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    config = CurationConfig(workers=args.workers, batch_size=args.batch_size, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        unique_photos(photos, args.photos)
        direct_one, _ = run_direct(photos, Path(tmp) / "direct-1", config.model_copy(update={"workers": 1}))
        direct, per_stage = run_direct(photos, Path(tmp) / "direct", config)
        startup = start_server()
        flow_time = run_flow(photos, Path(tmp) / "flow", config)
        dask_time = run_flow(photos, Path(tmp) / "dask", config.model_copy(update={"runner": "dask"}))
        warm = Path(tmp) / "warm-photos"
        unique_photos(warm, 2 * args.batch_size * args.workers, seed_offset=10_000)
        warm_one = run_on_warm_cluster(photos, warm, Path(tmp) / "warm-1", config, 1)
        warm_many = run_on_warm_cluster(photos, warm, Path(tmp) / "warm-n", config, args.workers)
    n, w = args.photos, args.workers
    rows = [("photos", f"{n} (~1 MP JPEG, batches of {args.batch_size})"),
            ("direct, 1 worker photos/s", f"{n / direct_one:.2f}"),
            (f"direct, {w} threads photos/s", f"{n / direct:.2f}   (target >= 2)"),
            (f"flow, {w} threads photos/s", f"{n / flow_time:.2f}"),
            (f"flow, Dask {w} processes photos/s", f"{n / dask_time:.2f}   (cluster start included)"),
            ("flow / direct time", f"{flow_time / direct:.3f}   (target <= 1.10)"),
            (f"{w} threads vs 1 (direct)", f"{direct_one / direct:.2f}x   (threads share the GIL)"),
            (f"Dask {w} vs direct 1 worker", f"{direct_one / dask_time:.2f}x"),
            ("warm Dask, 1 process photos/s", f"{n / warm_one:.2f}   (cluster started and models loaded before)"),
            (f"warm Dask, {w} processes photos/s", f"{n / warm_many:.2f}"),
            (f"{w} processes vs 1 (warm Dask)", f"{warm_one / warm_many:.2f}x   (target >= 1.8x)"),
            ("server start-up s", f"{startup:.1f}   (excluded above)")]
    rows += [(f"  {stage} s/photo", f"{sec / n * args.workers:.4f}  ({sec:.1f} s wall)") for stage, sec in per_stage.items()]
    rows.append(("peak RSS MiB", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"))
    text = print_table("curation benchmark", rows)
    save(text, f"curate-{socket.gethostname()}.txt")


if __name__ == "__main__":
    main()
