"""The web app's job queue under load: N tiny portrait jobs submitted at once (N = 1, 4, 16).

    python bench/serve.py [--sizes 1,4,16] [--concurrency C] [--url URL --token TOKEN]

Without --url it starts `python -m flows serve` (a local Prefect server, the
process work pool at C jobs at once, a worker, the web app) in a temporary
folder, as `make serve` does, and stops it with Ctrl-C at the end. With
--url it uses a running instance (the token's user must be allowed N jobs:
`serve --jobs-per-user 16`).

For each N it reports the latency (p50/p95) of the N `POST /api/v1/jobs`
sent at once and of `GET /api/v1/jobs/{id}` polled while the jobs run,
jobs per minute, and the queue's total time (first submit to last
completion) over N times the time of one job run alone (the N = 1 run).
The table goes to stdout and to bench/results/serve-<hostname>.txt.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import print_table, save  # noqa: E402
from tests.web import served as serving  # noqa: E402  (starts serve as a user does, stops it with Ctrl-C)

USER = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def run_batch(client, photos: list[Path], n: int, poll_s: float = 0.25) -> dict:
    """N jobs at once; GET latencies sampled while they run; wall time to the last completion."""
    started = time.perf_counter()

    def post(i: int):
        t = time.perf_counter()
        response = serving.submit(client, photos, seed=str(1000 + i))
        return time.perf_counter() - t, response

    with ThreadPoolExecutor(min(n, 16)) as pool:
        posted = list(pool.map(post, range(n)))
    failed = [r.text for _, r in posted if r.status_code != 202]
    if failed:
        raise RuntimeError(f"{len(failed)} submission(s) refused: {failed[0]}")
    jobs = [r.json()["job"] for _, r in posted]
    pending, gets, ended = set(jobs), [], {}
    stop = threading.Event()
    while pending:
        job = random.choice(sorted(pending))
        t = time.perf_counter()
        view = client.get(f"/api/v1/jobs/{job}").json()
        gets.append(time.perf_counter() - t)
        if view["state"] in serving.FINISHED:
            if view["state"] != "completed":
                raise RuntimeError(f"job {job} ended {view['state']}: {view['errors']}")
            pending.discard(job)
            ended[job] = time.perf_counter() - started
        stop.wait(poll_s)
    return {"n": n, "posts": [s for s, _ in posted], "gets": gets, "total": max(ended.values())}


def table(results: list[dict], concurrency: str) -> str:
    solo = next(r["total"] for r in results if r["n"] == 1)
    rows = [("machine", f"{socket.gethostname()}, {__import__('os').cpu_count()} cores, jobs at once: {concurrency}"),
            ("job", "tiny model, 2 photos at 600 px, 64 px, 4 train steps, 2 images x 2 steps"),
            ("solo job (N=1), s", f"{solo:.1f}")]
    for r in results:
        ms = lambda xs, q: f"{1000 * percentile(xs, q):.0f}"  # noqa: E731
        rows += [(f"N={r['n']:<3} POST /jobs p50/p95 ms", f"{ms(r['posts'], .5)} / {ms(r['posts'], .95)}"),
                 (f"N={r['n']:<3} GET /jobs/id p50/p95 ms", f"{ms(r['gets'], .5)} / {ms(r['gets'], .95)} "
                                                             f"({len(r['gets'])} requests while jobs ran)"),
                 (f"N={r['n']:<3} jobs/minute", f"{60 * r['n'] / r['total']:.2f}"),
                 (f"N={r['n']:<3} queue total / sum of solo", f"{r['total'] / (r['n'] * solo):.2f} "
                                                              f"({r['total']:.1f} s / {r['n']} x {solo:.1f} s)")]
    return print_table("serve: N tiny jobs submitted at once", rows)


def _concurrency_of(instance) -> str:
    import re

    if instance is None:
        return "the instance's"
    found = re.search(r"running (\d+) job", (instance.data / "serve.out").read_text())
    return found.group(1) if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,16", help="N values; 1 is always run first (the solo time)")
    parser.add_argument("--concurrency", default=None, help="serve's jobs at once (default: serve's own)")
    parser.add_argument("--url", default=None, help="a running serve instance (default: start one)")
    parser.add_argument("--token", default=None, help="with --url: a user's token")
    args = parser.parse_args()
    sizes = sorted({1, *(int(s) for s in args.sizes.split(","))})
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        photos = serving.small_photos(Path(tmp) / "photos")
        instance = None
        if args.url:
            client = serving.httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"},
                                          timeout=60)
        else:
            extra = ["--concurrency", args.concurrency] if args.concurrency else []
            instance = serving.start(Path(tmp) / "serve", [USER], "--jobs-per-user", str(max(sizes)),
                                     "--max-queue", str(max(sizes) * 2), *extra)
            client = instance.client(USER, timeout=60)
        try:
            results = [run_batch(client, photos, n) for n in sizes]
        finally:
            if instance is not None:
                leftovers = serving.stop(instance)
                if leftovers:
                    print(f"warning: processes left after serve stopped: {leftovers}", file=sys.stderr)
        text = table(results, args.concurrency or _concurrency_of(instance))
    print(f"saved: {save(text, f'serve-{socket.gethostname()}.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
