"""The per-user portrait job: curate, then the portrait stages of the catalogue in order, then the outputs.

`portrait_flow` is what the CLI and the `portrait-job` deployment run;
`run_portrait` is its body, which re-runs call inside their own flow.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from flows.artifacts import publish_portrait
from flows.curate import curate_photos
from flows.execute import Artefact, Executor, Plan, forced_from, portrait_chain
from flows.joblock import job_session
from flows.model_checks import check_runs_here
from flows.portrait_config import PortraitConfig, check_job_inputs, portrait_values
from flows.portrait_outputs import write_outputs
from flows.runners import lazy_task_runner
from flows.runs import RunRecord, load_run, save_run
from tasks.catalog import PORTRAIT, job_stage_names
from tasks.keys import FileFingerprints
from tasks.portrait_rows import curated_ok
from tasks.records import from_table
from tasks.storage import read_parquet
from tasks.workspace import Workspace

RUN_ID, CURATION_RUN_ID = "portrait", "curation"


class NoUsablePhotos(RuntimeError):
    """No photo survived curation: the job stops before training."""


@flow(name="portrait", log_prints=True)
def portrait_flow(photos: list[str], out: str, config: PortraitConfig) -> dict:
    """One user's job in OUT/<user>[/<job>]."""
    style = check_job_inputs(config)  # an unknown style, a missing model: fail before any work
    check_runs_here(config.memory)
    job = Workspace(config.job_dir(out))
    with job_session(job.root), lazy_task_runner(config.curation) as runner:
        return run_portrait(job, photos, config, style, runner)


def run_portrait(job: Workspace, photos: list[str], config: PortraitConfig, style, runner,
                 reuse_batches: bool = False, refresh_from: str | None = None) -> dict:
    forced = forced_from(job_stage_names(PORTRAIT, config.mode), refresh_from)
    curated = curate_photos(job, photos, config.curation, runner, run_id=CURATION_RUN_ID,
                            reuse_batches=reuse_batches, forced=forced)
    part = curated["part"]
    usable = curated_ok(str(job.root), part) if part else []
    if not usable:
        raise NoUsablePhotos(_no_photo_message(job.root, part))
    warnings = _check_minimum(config, len(usable))
    record = _portrait_record(job, photos, config)
    steps = config.steps_for(len(usable)) if config.mode == "train" else 0
    plan = Plan(job.root, portrait_values(config, style, steps), FileFingerprints(record.fingerprints))
    executor = Executor(plan, record, lambda r: save_run(job.root, r), forced)
    try:
        done = portrait_chain(executor, Artefact(key=Path(part).stem, path=part), config.mode)
    except BaseException as exc:
        record.state, record.error = "failed", str(exc)
        save_run(job.root, record)
        raise
    record.fingerprints = plan.fingerprints.known
    summary = write_outputs(job.root, {name: a.path for name, a in done.items()}, style, config, steps)
    summary["warnings"] = warnings
    publish_portrait(config.user, config.job or config.user, summary["table"], summary["markdown"])
    record.state = "completed"
    save_run(job.root, record)
    return summary


def _portrait_record(job: Workspace, photos: list[str], config: PortraitConfig) -> RunRecord:
    try:
        record = load_run(job.root, RUN_ID)
    except FileNotFoundError:
        record = RunRecord(run_id=RUN_ID, kind="portrait")
    record.inputs, record.config, record.state, record.error = list(photos), config.model_dump(mode="json"), \
        "running", None
    save_run(job.root, record)
    return record


def _check_minimum(config: PortraitConfig, usable: int) -> list[str]:
    """Warnings for the summary; an error instead when the configuration says so."""
    if usable >= config.min_photos:
        return []
    message = f"only {usable} usable photo(s), fewer than the configured minimum of {config.min_photos}"
    if config.fail_below_min_photos:
        raise NoUsablePhotos(message)
    warning = f"{message}; identity may be weak"
    get_run_logger().warning(warning)
    return [warning]


def _no_photo_message(root: Path, part: str | None) -> str:
    lines = ["no photo survived curation; nothing to train on:"]
    if part:
        for r in from_table(read_parquet(root / part)):
            lines.append(f"  {r.source}: {r.status} - {r.reason}")
    else:
        lines.append("  (no photo was given, or every photo was already curated by another run)")
    return "\n".join(lines)
