"""One temporary Prefect server per run, shared with the worker processes the run starts.

With no API URL set, Prefect starts a temporary server in every process that
needs one: in this process for the flow, and again inside each Dask worker or
process-pool worker for the tasks it runs (the task context they receive
carries no URL). Measured here: a bench run with the Dask runner started five
extra servers; each costs ~10-20 s to start, writes the same SQLite database
as the others, and reports its tasks where the flow's server never sees them.
Those servers die with their workers, which Dask kills when they have not
exited within 4 s; a server stopped before its reactive-triggers service got
past loading automations fails its shutdown with `AssertionError: Reactive
triggers not started` / `Application shutdown failed` (Prefect 3.8.8,
prefect/server/events/services/triggers.py: `stop()` asserts that `start()`
reached its consumer task).

Starting the server up front and exporting its URL makes every process
started afterwards use it: one server, one database, one clean shutdown.
"""

from __future__ import annotations

import os


def share_temporary_server(timeout: int = 90) -> str | None:
    """Export the API URL of this process's server for the worker processes it starts; None when already exported.

    The server is the one configured (a test harness's, in settings only), or
    this process's temporary server, started now if it is not running yet
    (Prefect keeps one per process: a flow already running on it goes on
    using it). Call before creating worker processes (a Dask cluster, a
    process pool): they read the URL from the environment they inherit.
    """
    from prefect.settings import PREFECT_API_URL

    if os.environ.get("PREFECT_API_URL"):
        return None
    url = PREFECT_API_URL.value()
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start(timeout=timeout)
        url = server.api_url
    os.environ["PREFECT_API_URL"] = url
    return url
