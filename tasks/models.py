"""Components built once per worker process and lent to one thread at a time.

A pool per (stage, backend, options): a thread borrows an idle instance (or
a new one is built when all are busy) and gives it back after the call. So
each worker process loads each model once per concurrent thread, and keeps
it across flow runs and across the short-lived threads Prefect and Dask run
tasks in; no instance serves two threads at once (dlib's DNN keeps its
activations in the network object). Tasks get configs, never model objects.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from components import registry
from tasks.config import StageConfig


class Pool:
    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._lock:
            item = self._idle.pop() if self._idle else None
        if item is None:
            item = self._build()
        try:
            yield item
        finally:
            with self._lock:
                self._idle.append(item)


def borrow(stage: str, config: StageConfig):
    """`with borrow("align", config) as aligner: ...`: the backend `config` names, with its options.

    The other components it is built from come from `registry.DEPENDENCIES`
    (each instance gets its own, so they are never shared between threads either).
    """
    return _pool(stage, config.backend, tuple(sorted(config.component_options().items())),
                 tuple(sorted(registry.dependencies(stage, config.backend).items()))).borrow()


def borrow_named(stage: str, backend: str, **options: Any):
    return _pool(stage, backend, tuple(sorted(options.items())), ()).borrow()


_POOLS_LOCK = threading.Lock()


def _pool(stage: str, backend: str, options: tuple, dependencies: tuple) -> Pool:
    with _POOLS_LOCK:
        return _pool_for(stage, backend, options, dependencies)


@functools.cache
def _pool_for(stage: str, backend: str, options: tuple, dependencies: tuple) -> Pool:
    def build() -> Any:
        deps = {name: registry.create(*spec.split(":", 1)) for name, spec in dependencies}
        return registry.create(stage, backend, **dict(options), **deps)

    return Pool(build)
