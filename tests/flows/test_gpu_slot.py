"""GPU stages hold a slot of a Prefect global concurrency limit: jobs sharing a GPU take turns."""

from __future__ import annotations

import threading
import time

import pytest

from tasks.gpu import GpuConfig, gpu_slot

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_no_limit_on_cpu_by_default():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the default names a real limit")
    with gpu_slot(GpuConfig()) as name:
        assert name is None


def hold_twice_at_once(config: GpuConfig) -> list[tuple[float, float]]:
    """Two threads each hold a slot for 1 s; returns their (start, end) spans, sorted."""
    spans: list[tuple[float, float]] = []

    def hold():
        with gpu_slot(config):
            start = time.monotonic()
            time.sleep(1.0)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(spans) == 2
    return sorted(spans)


def test_two_holders_of_a_one_slot_limit_take_turns():
    (_, first_end), (second_start, _) = hold_twice_at_once(GpuConfig(limit_name="test-gpu-turns", jobs_per_gpu=1))
    assert second_start >= first_end - 0.05  # the second started only after the first let go


def test_two_slots_let_two_jobs_share_the_gpu():
    (_, first_end), (second_start, _) = hold_twice_at_once(GpuConfig(limit_name="test-gpu-shared", jobs_per_gpu=2))
    assert second_start < first_end  # overlapping
