"""Settings changed from the command line: `--set STAGE.KEY=VALUE` (and `rerun --set KEY=VALUE`).

Values are read as YAML scalars; `backend` switches a stage to another backend,
which starts from that backend's own defaults. Everything is validated by the
stage's config type (tasks/choices.py), so a bad key or value is an error that
names the valid ones.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tasks.catalog import ALL_STAGES, CURATION_STAGES
from tasks.choices import config_classes, with_settings


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """["keep=3", "strength=0.5"] -> {"keep": 3, "strength": 0.5} (values read as YAML scalars)."""
    parsed = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes key=value, got {item!r}")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return parsed


def parse_stage_sets(sets: list[str]) -> dict[str, dict[str, Any]]:
    """["rank.keep=3", "segment.backend=m2fp"] -> {"rank": {"keep": 3}, "segment": {"backend": "m2fp"}}."""
    by_stage: dict[str, dict[str, Any]] = {}
    for key, value in parse_sets(sets).items():
        stage, dot, name = key.partition(".")
        if not dot or not name:
            raise ValueError(f"--set takes STAGE.KEY=VALUE, got {key!r} (e.g. rank.keep=3, segment.backend=m2fp)")
        by_stage.setdefault(stage, {})[name] = value
    return by_stage


def config_type_of(section: str):
    for stage in ALL_STAGES:
        if stage.config_name == section and stage.config_type is not None:
            return stage.config_type
    return None


def with_overrides(config: BaseModel, section: str, overrides: dict[str, Any]) -> BaseModel:
    """`config` with `overrides` applied to its `section` sub-model, validated."""
    if not overrides:
        return config
    current = getattr(config, section, None)
    if not isinstance(current, BaseModel):
        raise ValueError(f"stage {section!r} has no settings to --set")
    config_type = config_type_of(section) or type(current)
    classes = config_classes(config_type)
    backend = overrides.get("backend", current.backend)
    if backend not in classes and len(classes) > 1:
        raise ValueError(f"unknown backend {backend!r} for stage {section!r}; backends: {', '.join(sorted(classes))}")
    # One class for every backend of the stage (its `backend` is any registered name): the registry checks it.
    fields = sorted(classes.get(backend, type(current)).model_fields)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown --set key(s) {', '.join(unknown)} for stage {section!r}; "
                         f"valid keys: {', '.join(fields)}")
    try:
        updated = with_settings(config_type, current, overrides)
    except ValidationError as exc:
        raise ValueError(f"invalid --set for stage {section!r}: {exc.errors()[0]['msg']}") from None
    return config.model_copy(update={section: updated})


def with_stage_settings(config: BaseModel, settings: dict[str, dict[str, Any]]) -> BaseModel:
    """A flow config (CurationConfig or PortraitConfig) with each stage's settings applied."""
    curation_names = {s.name for s in CURATION_STAGES}
    for section, overrides in settings.items():
        if section in curation_names and hasattr(config, "curation"):
            config = config.model_copy(update={"curation": with_overrides(config.curation, section, overrides)})
        else:
            config = with_overrides(config, section, overrides)
    return config
