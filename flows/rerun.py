"""Re-run one stage of a finished or failed job (and everything after it), with config overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from flows.config import CurationConfig
from flows.runs import RunRecord, latest_run, load_run, runs_dir
from tasks.curation import STAGES
from tasks.portrait import PORTRAIT_STAGES

ALL_STAGES = {**{name: spec[2] for name, spec in STAGES.items()}, **PORTRAIT_STAGES}


def check_stage(stage: str, portrait: bool) -> None:
    allowed = list(ALL_STAGES) if portrait else list(STAGES)
    if stage not in allowed:
        raise ValueError(f"unknown stage {stage!r} for this job; stages: {', '.join(allowed)}")


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """["keep=3", "strength=0.5"] -> {"keep": 3, "strength": 0.5} (values read as YAML scalars)."""
    parsed = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes key=value, got {item!r}")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return parsed


def with_overrides(config: BaseModel, section: str, overrides: dict[str, Any]) -> BaseModel:
    """`config` with `overrides` applied to its `section` sub-model, validated."""
    if not overrides:
        return config
    current = getattr(config, section, None)
    if not isinstance(current, BaseModel):
        raise ValueError(f"stage {section!r} has no settings to --set")
    fields = sorted(set(type(current).model_fields) - {"backend"})
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown --set key(s) {', '.join(unknown)} for stage {section!r}; "
                         f"valid keys: {', '.join(fields)}")
    try:
        updated = type(current).model_validate({**current.model_dump(), **overrides})
    except ValidationError as exc:
        raise ValueError(f"invalid --set for stage {section!r}: {exc.errors()[0]['msg']}") from None
    return config.model_copy(update={section: updated})


def rerun(job_dir: str, stage: str, sets: list[str]) -> dict:
    root = Path(job_dir)
    overrides = parse_sets(sets)
    if (runs_dir(root) / "portrait.json").is_file():
        return _rerun_portrait(root, stage, overrides)
    return _rerun_curation(root, latest_run(root), stage, overrides)


def _rerun_curation(root: Path, record: RunRecord, stage: str, overrides: dict[str, Any]) -> dict:
    from flows.curate import run_curation

    check_stage(stage, portrait=False)
    config = with_overrides(CurationConfig.model_validate(record.config), stage, overrides)
    return run_curation(record.inputs, str(root), config, run_id=record.run_id, reuse_batches=True,
                        refresh_from=stage)


def _rerun_portrait(root: Path, stage: str, overrides: dict[str, Any]) -> dict:
    from flows.portrait import RUN_ID, portrait_flow
    from flows.portrait_config import PortraitConfig

    check_stage(stage, portrait=True)
    record = load_run(root, RUN_ID)
    config = PortraitConfig.model_validate(record.config)
    if stage in STAGES:
        config = config.model_copy(update={"curation": with_overrides(config.curation, stage, overrides)})
    else:
        config = with_overrides(config, stage, overrides)
    out = root.parents[1] if config.job else root.parent  # the job is OUT/<user>[/<job>]
    return portrait_flow(photos=record.inputs, out=str(out), config=config, reuse_batches=True,
                         refresh_from=stage)
