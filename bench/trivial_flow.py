"""An empty flow with the CLI's settings: the yardstick of a re-run's fixed cost (bench/rerun.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.settings import apply_defaults, no_heartbeat_on_a_temporary_server  # noqa: E402

apply_defaults()

from prefect import flow  # noqa: E402


@flow(name="trivial")
def trivial() -> int:
    return 1


if __name__ == "__main__":
    with no_heartbeat_on_a_temporary_server():
        trivial()
