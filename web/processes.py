"""Programs started by `serve` (Prefect's server, worker, deploy), each in its own process group.

Stopping one stops its whole group and every process it started in other
groups too (the worker runs each job in a new session), so nothing outlives
serve.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


class ManagedProcess:
    def __init__(self, command: list[str], env: dict[str, str], log: Path, cwd: Path = REPO,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.command, self.env, self.log, self.cwd, self.on_stop = command, env, log, cwd, on_stop
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "ManagedProcess":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else ""

    def stop(self, grace: float = 15) -> None:
        if self.proc is None:
            return
        groups = process_groups(self.proc.pid)
        signal_groups(groups, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        groups |= process_groups(self.proc.pid) if self.proc.poll() is None else set()
        signal_groups(groups, signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        if self.on_stop is not None:
            self.on_stop()

    @staticmethod
    def run_to_end(command: list[str], env: dict[str, str], log: Path, cwd: Path = REPO,
                   timeout: float = 300) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout, start_new_session=True).returncode
        if code != 0:
            raise RuntimeError(f"{' '.join(command[:3])} ... failed ({code}); its log:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")


def process_groups(pid: int) -> set[int]:
    """The process group of `pid` and of each of its descendants."""
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    groups = set()
    for process in processes:
        try:
            groups.add(os.getpgid(process.pid))
        except ProcessLookupError:
            continue
    return groups - {os.getpgrp()}  # never our own group


def signal_groups(groups: set[int], signum: int) -> None:
    for group in groups:
        try:
            os.killpg(group, signum)
        except (ProcessLookupError, PermissionError):
            continue
