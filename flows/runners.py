"""Task runner chosen by configuration: threads (default), processes or Dask.

Built inside the flows (not on the decorator), so a deployed run uses the
runner and worker count of its parameters exactly as the CLI does.
"""

from __future__ import annotations

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.prefect_server import share_temporary_server

RUNNERS = ("threads", "processes", "dask")


def make_task_runner(kind: str, workers: int, dask_address: str | None = None) -> TaskRunner:
    """A runner to use as a context manager: `with make_task_runner(...) as runner: runner.submit(...)`.

    Worker processes started here report to this process's Prefect server
    (flows/prefect_server.py), not to temporary servers of their own.
    """
    if kind not in RUNNERS:
        raise ValueError(f"unknown runner {kind!r}; choose {', '.join(RUNNERS)}")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if not dask_address:
        share_temporary_server()
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


class LazyTaskRunner:
    """Starts the configured runner on the first submit: a re-run that finds every batch
    done never starts a thread pool or a Dask cluster."""

    def __init__(self, kind: str, workers: int, dask_address: str | None) -> None:
        self._args = (kind, workers, dask_address)
        self._runner: TaskRunner | None = None

    def submit(self, task, parameters: dict):
        if self._runner is None:
            self._runner = make_task_runner(*self._args).__enter__()
        return self._runner.submit(task, parameters=parameters)

    def __enter__(self) -> "LazyTaskRunner":
        return self

    def __exit__(self, *exc) -> None:
        if self._runner is not None:
            self._runner.__exit__(*exc)
            self._runner = None


def lazy_task_runner(config) -> LazyTaskRunner:
    """From a curation config's `runner`, `workers` and `dask_address`."""
    return LazyTaskRunner(config.runner, config.workers, config.dask_address)
