"""What `python -m flows backends` and a `facechain` profile need, as data (no Prefect, no CLI).

`backend_rows()` lists every registered backend with whether it is its
stage's default, the model it loads, whether that model is on this machine
and its licence; only the seed backends declare a model and a licence.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.registry import REGISTRY, resolve

# `--profile facechain`: every stage FaceChain runs with its own model, by backend name.
# FQA is FaceChain's template-selection score: it belongs to the select step, which today
# takes the quality column; see the report for the proposed `select` option.
FACECHAIN_PROFILE: dict[str, str] = {
    "orient": "rot-bgr",
    "segment": "m2fp",
    "tag": "fairface",
    "quality": "flcm",
    "rank": "rts",
}
FACECHAIN_SELECT = "fqa"  # the quality backend FaceChain scores template candidates with
# Stage options the profile sets besides the backend: the quality task rejects under its
# config's threshold (0.3 by default), so FLCM's 0.855 must be the config's too.
FACECHAIN_OPTIONS: dict[str, dict[str, float]] = {"quality": {"threshold": 0.855}}


# Constructor arguments built from other stages ("stage:backend"), where a backend differs from
# its stage's default: RTS finds faces with our detector and aligns them with our 68 landmarks.
DEPENDENCIES: dict[tuple[str, str], dict[str, str]] = {
    ("rank", "embedding-similarity"): {"detector": "detect:yunet", "embedder": "embed:dlib-resnet"},
    ("rank", "rts"): {"detector": "detect:yunet", "landmarker": "landmarks:dlib-68"},
}


@dataclass(frozen=True)
class BackendRow:
    stage: str
    backend: str
    default: bool  # the stage's embedded default (its first registry entry)
    target: str  # "module:Class"
    model_id: str | None  # the hub id it loads (seed backends), None for embedded ones
    revision: str | None
    present: bool | None  # its model is on this machine; None when it needs no hub model
    licence: str | None


def backend_rows(stages: list[str] | None = None) -> list[BackendRow]:
    """Imports each backend's module (light: models load in constructors), never a model."""
    rows = []
    for stage in stages or list(REGISTRY):
        for position, (name, target) in enumerate(REGISTRY[stage].items()):
            cls = resolve(stage, name)
            model_id = getattr(cls, "MODEL_ID", None)
            rows.append(BackendRow(
                stage=stage, backend=name, default=position == 0, target=target, model_id=model_id,
                revision=getattr(cls, "REVISION", None), present=cls.present() if model_id else None,
                licence=getattr(cls, "LICENCE", None)))
    return rows


def seed_rows() -> list[BackendRow]:
    return [row for row in backend_rows() if row.model_id]
