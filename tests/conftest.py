"""Shared fixtures: the real photos (data/samples, copies of ../shared/faces) and small helpers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import components  # noqa: F401  first: installs the torchvision import guard (components/seed/torchvision_cpu.py)

FACES_DIR = Path(os.environ.get("FACES_DIR", Path(__file__).resolve().parents[1] / "data" / "samples"))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """`count` intra-op threads inside the block, the previous setting restored after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread while a module's tests run (restored after it, so the rest of a
    whole-suite session keeps its setting): on the shared 2-core box two OpenMP threads
    competing with other processes made the tiny model ~40x slower (measured 0.55 vs 24 steps/s)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    # The photos ship with the repository: their absence is a broken checkout, never a reason to skip.
    assert (FACES_DIR / "manifest.csv").is_file(), f"real test photos not found at {FACES_DIR} (FACES_DIR)"
    return FACES_DIR


@pytest.fixture(scope="session")
def load_rgb(faces_dir):
    """load_rgb("obama.jpg", max_side=1024) -> HxWx3 uint8 array."""

    def load(name: str, max_side: int = 1024) -> np.ndarray:
        with Image.open(faces_dir / name) as im:
            im = im.convert("RGB")
            im.thumbnail((max_side, max_side))
            return np.asarray(im).copy()

    return load


@pytest.fixture(scope="session")
def detector():
    from components.detection import DlibHogDetector

    return DlibHogDetector()


@pytest.fixture(scope="session")
def embedder():
    from components.embedding import DlibResnetEmbedder

    return DlibResnetEmbedder()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One temporary Prefect server for the session, with the settings measured here.

    The flow heartbeat costs ~1 s per flow and can only be switched off in code.
    Its URL is exported, so Dask and process-pool workers report to it instead
    of each starting a server of its own (flows/prefect_server.py).
    """
    from flows.settings import apply_defaults

    apply_defaults()
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.prefect_server import share_temporary_server

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=90):
            exported = share_temporary_server()
            try:
                yield
            finally:
                if exported:
                    del os.environ["PREFECT_API_URL"]


@pytest.fixture
def small_photos(faces_dir, tmp_path):
    """A folder of downscaled copies (fast), one of them without a face."""
    from tests.imagetools import downscaled_copies

    return downscaled_copies(faces_dir, tmp_path / "photos", ("obama.jpg", "obama2.jpg", "biden.jpg", "dogs.jpg"))
