"""Shared bits of the benchmark scripts: synthetic unique photos and a table printer."""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


# The sample photos with one face each, and the one without (a throughput figure of its own).
FACE_SAMPLES = ("biden.jpg", "obama.jpg", "obama2.jpg")
NO_FACE_SAMPLES = ("dogs.jpg",)


def unique_photos(folder: Path, count: int, megapixels: float = 1.0, source: Path = SAMPLES,
                  seed_offset: int = 0, names: tuple[str, ...] | None = None) -> list[Path]:
    """`count` distinct files (distinct sha256) made from the sample photos (or those `names`) at ~`megapixels`."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = []
    for path in sorted(source.glob("*.jpg")):
        if names is not None and path.name not in names:
            continue
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
            bases.append(im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS))
    paths, digests = [], set()
    for i in range(count):
        pixels = np.asarray(bases[i % len(bases)]).copy()
        mark_number(pixels, i + seed_offset)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
        digests.add(hashlib.sha256(buffer.getvalue()).hexdigest())
        path = folder / f"photo_{i:04d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    assert len(digests) == count, "copies came out identical: the dedup would reject some"
    return paths


def mark_number(pixels: np.ndarray, number: int, bits: int = 20) -> None:
    """`number` in black and white 8x8 blocks along the top edge: one JPEG block each, so no two copies
    compress to the same bytes (a one-pixel change did: 2 of 12 copies were rejected as duplicates)."""
    for bit in range(bits):
        pixels[:8, 8 * bit:8 * bit + 8] = 255 if (number >> bit) & 1 else 0


def print_table(title: str, rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    text = "\n".join([title, "-" * len(title)] + [f"{k:<{width}}  {v}" for k, v in rows])
    print(text)
    return text


RESULTS = Path(__file__).resolve().parent / "results"


def save(text: str, name: str) -> Path:
    """A benchmark's table under bench/results/, replaced whole."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)
    return path


def private_prefect_home(prefix: str) -> None:
    """A temporary server and database of our own, unless the user points at one.

    Other processes sharing ~/.prefect race on its SQLite file. Removed at exit
    after the server stops (atexit runs last-registered first, and the server
    registers its own stop when it starts, after this).
    """
    if not os.environ.get("PREFECT_API_URL") and not os.environ.get("PREFECT_HOME"):
        home = tempfile.mkdtemp(prefix=f"{prefix}-prefect-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["PREFECT_HOME"] = home


def start_server() -> float:
    """Seconds to start the temporary server and run an empty flow, so later timings measure work, not start-up.

    The server is shared with the worker processes started later (Dask, process
    pools): see flows/prefect_server.py for what happens otherwise.
    """
    from prefect import flow

    from flows.prefect_server import share_temporary_server

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        """Runs once on the fresh server."""

    t = time.perf_counter()
    share_temporary_server()
    warm_up()
    return time.perf_counter() - t


def host_line() -> str:
    """The machine and the versions that set the figures (torch's version read without importing it)."""
    import platform
    import socket
    from importlib.metadata import version

    return (f"{socket.gethostname()}, {os.cpu_count()} CPUs, torch {version('torch')}, "
            f"Python {platform.python_version()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")


def ingested(photos: Path, out: Path, config) -> list:
    """The batches of `photos` as the flow ingests them into `out`, as artefacts."""
    from flows.execute import Artefact
    from tasks.ingest import ingest
    from tasks.workspace import input_key

    batches = ingest([str(photos)], str(out), config.load, config.batch_size, set(), config.workers).batches
    return [Artefact(key=input_key(b), path=b) for b in batches]


def stage_runner(out: Path, config):
    """run(stage, batch) -> artefact: one curation stage on one batch as the flow runs it, without Prefect."""
    from flows.config import curation_values
    from flows.execute import Plan
    from tasks.curation import run_batch

    plan = Plan(out, curation_values(config))

    def run(stage, batch):
        artefact = plan.artefact(stage, {"batch": batch})
        run_batch(stage.name, str(out), batch.path, artefact.path, getattr(config, stage.name), config.load)
        return artefact

    return run
