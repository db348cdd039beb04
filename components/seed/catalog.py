"""What `python -m flows backends` shows, as data (no Prefect, no CLI): each registered backend, the model it
loads, whether that model is on this machine, and its licence. Only the seed backends declare a model."""

from __future__ import annotations

from dataclasses import dataclass

from components.registry import REGISTRY, resolve


@dataclass(frozen=True)
class BackendRow:
    stage: str
    backend: str
    default: bool  # the backend the stage runs unless told otherwise (the flows' config default)
    target: str  # "module:Class"
    model_id: str | None  # the hub id it loads (seed backends), None for embedded ones
    revision: str | None
    present: bool | None  # its model is on this machine; None when it needs no hub model
    licence: str | None


def backend_rows(defaults: dict[str, str], stages: list[str] | None = None) -> list[BackendRow]:
    """Imports each backend's module (light: models load in constructors), never a model.

    `defaults`: stage -> its default backend (the configs know it, not the registry).
    """
    rows = []
    for stage in stages or list(REGISTRY):
        for name, target in REGISTRY[stage].items():
            cls = resolve(stage, name)
            model_id = getattr(cls, "MODEL_ID", None)
            rows.append(BackendRow(
                stage=stage, backend=name, default=defaults.get(stage) == name, target=target, model_id=model_id,
                revision=getattr(cls, "REVISION", None), present=cls.present() if model_id else None,
                licence=getattr(cls, "LICENCE", None)))
    return rows


def seed_rows() -> list[BackendRow]:
    return [row for row in backend_rows({}) if row.model_id]
