"""A Prefect global concurrency limit per GPU, so jobs share a GPU without running out of memory.

GPU stages (training, generation, adapters) hold a slot of `gpu-<index>` while
they run; CPU stages of other jobs go on meanwhile. The limit is created on
first use with `jobs_per_gpu` slots; operators can change it with
`prefect gcl update gpu-0 --limit N`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field


class GpuConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit_name: str | None = Field(None, description="None = gpu-<device index> on CUDA, no limit on CPU")
    jobs_per_gpu: int = Field(1, ge=1, le=64)


def slot_name(config: GpuConfig) -> str | None:
    if config.limit_name:
        return config.limit_name
    import torch

    return f"gpu-{torch.cuda.current_device()}" if torch.cuda.is_available() else None


def ensure_limit(name: str, slots: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
            except ObjectAlreadyExists:  # another job created it in between
                pass


@contextlib.contextmanager
def gpu_slot(config: GpuConfig | None) -> Iterator[str | None]:
    """Hold one slot of this GPU's limit (nothing on CPU unless a limit name is set)."""
    name = slot_name(config or GpuConfig())
    if name is None:
        yield None
        return
    from prefect.concurrency.sync import concurrency

    ensure_limit(name, (config or GpuConfig()).jobs_per_gpu)
    with concurrency(name, occupy=1, strict=True):
        yield name
