"""One job directory, one running job: an exclusive, non-blocking file lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class JobBusy(RuntimeError):
    pass


class JobLock:
    """Held for the whole job; the OS releases it if the process dies (no stale locks)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> "JobLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobBusy(f"another job is running in {self.path.parent} (lock {self.path}); "
                          "wait for it to finish or use another --out / --user") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def job_session(root: Path) -> Iterator[None]:
    """What every run of a job holds, whoever starts it (CLI, deployment, re-run): the job's lock,
    with the temporary files a killed run left behind removed under it, and the runtime settings."""
    from flows.settings import apply_defaults
    from tasks.storage import remove_stale_temporaries

    apply_defaults()
    with JobLock(root):
        remove_stale_temporaries(root)
        yield
