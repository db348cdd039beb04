"""Re-run one stage of a finished or failed job (and everything after it), with setting overrides.

The job is planned from its run records: every stage before the chosen one
whose artefact exists under its current key is reused without running (or
importing) anything, so a re-run of `rank` costs a flow and the ranking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.config import CurationConfig
from flows.joblock import job_session
from flows.overrides import with_overrides
from flows.runs import RunRecord, latest_run, load_run, runs_dir
from tasks.catalog import CURATION, PORTRAIT, job_stage_names, portrait_stage
from tasks.workspace import Workspace

PORTRAIT_RUN_ID = "portrait"  # flows.portrait.RUN_ID, without importing the flow here


def is_portrait_job(root: Path) -> bool:
    return (runs_dir(root) / f"{PORTRAIT_RUN_ID}.json").is_file()


def check_stage(stage: str, names: list[str]) -> None:
    if stage not in names:
        raise ValueError(f"unknown stage {stage!r} for this job; stages: {', '.join(names)}")


def portrait_overrides(record: RunRecord, stage: str, overrides: dict[str, Any]):
    """The job's PortraitConfig with `overrides` on `stage`'s settings; the stage checked against the job."""
    from flows.portrait_config import PortraitConfig

    config = PortraitConfig.model_validate(record.config)
    names = job_stage_names(PORTRAIT, config.mode, config.kind)
    check_stage(stage, names)
    if stage in job_stage_names(CURATION):
        return config.model_copy(update={"curation": with_overrides(config.curation, stage, overrides)})
    return with_overrides(config, portrait_stage(stage, config.mode, config.kind).config_name, overrides)


@flow(name="rerun", log_prints=True)
def rerun_flow(job_dir: str, stage: str, sets: dict[str, Any] | None = None) -> dict:
    """Re-run `stage` of the job in `job_dir` and every stage after it, `sets` applied to its settings."""
    job = Workspace(job_dir)
    if not runs_dir(job.root).is_dir():
        raise FileNotFoundError(f"{job_dir} holds no run record (runs/*.json): is it a job directory?")
    overrides = dict(sets or {})
    if is_portrait_job(job.root):
        return _rerun_portrait(job, stage, overrides)
    return _rerun_curation(job, latest_run(job.root), stage, overrides)


def _rerun_curation(job: Workspace, record: RunRecord, stage: str, overrides: dict[str, Any]) -> dict:
    from flows.curate import curate_photos
    from flows.execute import forced_from
    from flows.runners import lazy_task_runner

    check_stage(stage, job_stage_names(CURATION))
    config = with_overrides(CurationConfig.model_validate(record.config), stage, overrides)
    with job_session(job.root), lazy_task_runner(config) as runner:
        return curate_photos(job, record.inputs, config, runner, run_id=record.run_id, reuse_batches=True,
                             forced=forced_from(job_stage_names(CURATION), stage))


def _rerun_portrait(job: Workspace, stage: str, overrides: dict[str, Any]) -> dict:
    from flows.portrait import run_portrait
    from flows.portrait_config import resolve_style
    from flows.runners import lazy_task_runner

    record = load_run(job.root, PORTRAIT_RUN_ID)
    config = portrait_overrides(record, stage, overrides)
    style = resolve_style(config)
    with job_session(job.root), lazy_task_runner(config.curation) as runner:
        return run_portrait(job, record.inputs, config, style, runner, reuse_batches=True, refresh_from=stage)
