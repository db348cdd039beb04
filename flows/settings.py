"""Prefect settings measured to matter on these machines (see README, 'Prefect settings').

Applied as environment defaults before Prefect is imported; a user's own
environment wins.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "DO_NOT_TRACK": "1",
    # torch's OpenMP threads busy-wait: with shared cores, 12 tiny training steps took 63-92 s instead of 4 s.
    "OMP_WAIT_POLICY": "PASSIVE",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def apply_defaults() -> None:
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def no_heartbeat_on_a_temporary_server(needs_prefect: bool = True):
    """The flow heartbeat (~1 s per flow) only helps a long-running server spot crashed runs.

    A temporary server dies with the process, so there it is switched off;
    it cannot be set from the environment (the setting must be >= 30).
    Commands that run no flow do not import Prefect at all.
    """
    import contextlib

    if not needs_prefect or os.environ.get("PREFECT_API_URL"):
        return contextlib.nullcontext()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
