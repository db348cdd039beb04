"""Components built once per worker and reused by every batch.

The cache is per worker thread on purpose: dlib's DNN keeps activations in
the network object, so one instance must not serve two threads at once. With
thread, process or Dask runners each worker loads each model once, and
nothing heavy crosses a process boundary (tasks get configs, never models).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from components import registry
from tasks.config import StageConfig

_LOCK = threading.Lock()


def component(stage: str, config: StageConfig, **dependencies: Any) -> Any:
    """The component for `config`, built on first use in this process."""
    return _cached(stage, config.backend, tuple(sorted(config.component_options().items())),
                   tuple(sorted(dependencies.items(), key=lambda kv: kv[0])))


def named(stage: str, backend: str, **options: Any) -> Any:
    return _cached(stage, backend, tuple(sorted(options.items())), ())


@functools.cache
def _build(stage: str, backend: str, options: tuple, dependencies: tuple, thread: int) -> Any:
    return registry.create(stage, backend, **dict(options), **dict(dependencies))


def _cached(stage: str, backend: str, options: tuple, dependencies: tuple) -> Any:
    # Two threads asking for the same model at once must not both load it.
    with _LOCK:
        return _build(stage, backend, options, dependencies, threading.get_ident())
