"""Names of per-face stage runs: `inpaint[2]` is the inpaint stage's run for template face 2.

Its own module (not the catalogue) so that the stages reading their per-face inputs do not have the
whole catalogue in their code version.
"""

from __future__ import annotations

import re

_FACE_RUN = re.compile(r"(.+?)(?:\[(\d+)\])?")


def face_instance(name: str, face: int | None) -> str:
    """The name of a per-face stage's run for template face `face` (in run records and `status`);
    `name` itself for a job with one person (face None)."""
    return name if face is None else f"{name}[{face}]"


def split_instance(run: str) -> tuple[str, int | None]:
    """face_instance's inverse: ("inpaint", 2) for "inpaint[2]", ("curate", None) for "curate"."""
    name, face = _FACE_RUN.fullmatch(run).groups()
    return name, int(face) if face is not None else None
