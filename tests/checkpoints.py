"""An in-memory CheckpointStore for trainer tests."""

from __future__ import annotations


class MemoryCheckpoints:
    """CheckpointStore kept in a dict; `saved` records every save in order."""

    def __init__(self, initial: tuple[int, bytes] | None = None):
        self.saved: dict[int, bytes] = {}
        self._latest = initial

    def latest(self) -> tuple[int, bytes] | None:
        return self._latest

    def save(self, step: int, payload: bytes) -> None:
        self.saved[step] = payload
        self._latest = (step, payload)
