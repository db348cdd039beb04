"""The per-user portrait job: curate, then the portrait stages of the catalogue in order, then the outputs.

`portrait_flow` is what the CLI and the `portrait-job` deployment run;
`run_portrait` is its body, which re-runs call inside their own flow.
"""

from __future__ import annotations


from prefect import flow, get_run_logger

from flows.artifacts import publish_portrait
from flows.execute import Executor, Plan, forced_from, portrait_chain
from flows.joblock import job_session
from flows.model_checks import check_runs_here
from flows.people import NoUsablePhotos, Person, gather_people, given_artefacts, given_record
from flows.portrait_config import PortraitConfig, chain_people, check_job_inputs, portrait_values
from flows.portrait_outputs import write_outputs
from flows.runners import lazy_task_runner
from flows.runs import RunRecord, load_run, save_run
from tasks.catalog import PORTRAIT, face_instance, input_stages, job_stage_names
from tasks.keys import FileFingerprints
from tasks.workspace import Workspace

RUN_ID = "portrait"
__all__ = ["NoUsablePhotos", "portrait_flow", "run_portrait"]


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
    """The job's input stages (template, pose map: a bad one stops the job first), its people
    curated (or reused), then the portrait stages, then the outputs."""
    forced = forced_from(job_stage_names(PORTRAIT, config.mode, config.kind), refresh_from)
    record = _portrait_record(job, photos, config)
    plan = Plan(job.root, portrait_values(config, style), FileFingerprints(record.fingerprints))
    executor = Executor(plan, record, lambda r: save_run(job.root, r), forced)
    try:
        inputs = portrait_chain(executor, {}, config.mode, config.kind, stages=input_stages(config.mode, config.kind))
        people = gather_people(job, photos, config, runner, reuse_batches, forced)
        warnings = [w for face, p in people.items() for w in _check_minimum(config, p.usable, face)]
        _record_people(record, people)
        person, faces = chain_people(config, {face: p.usable for face, p in people.items()})
        done = portrait_chain(executor, {**inputs, **given_artefacts(people)}, config.mode, config.kind, person, faces)
    except BaseException as exc:
        record.state, record.error = "failed", str(exc)
        save_run(job.root, record)
        raise
    record.fingerprints = plan.fingerprints.known
    trained = {face: "reused" if people[face].lora else values["train"].steps
               for face, values in ({None: person} | faces).items() if values}
    summary = write_outputs(job.root, {name: a.path for name, a in done.items()}, style, config, trained)
    summary["warnings"] = warnings
    publish_portrait(config.user, config.job or config.user, summary["table"], summary["markdown"])
    record.state = "completed"
    save_run(job.root, record)
    return summary


def _record_people(record: RunRecord, people: dict[int | None, Person]) -> None:
    record.given = given_record(people)
    for face, person in people.items():
        if person.lora is not None:
            record.mark(face_instance("train", face), "reused", [person.lora.key], outputs=[person.lora.path])


def _portrait_record(job: Workspace, photos: list[str], config: PortraitConfig) -> RunRecord:
    try:
        record = load_run(job.root, RUN_ID)
    except FileNotFoundError:
        record = RunRecord(run_id=RUN_ID, kind="portrait")
    record.inputs, record.config, record.state, record.error = list(photos), config.model_dump(mode="json"), \
        "running", None
    save_run(job.root, record)
    return record


def _check_minimum(config: PortraitConfig, usable: int, face: int | None) -> list[str]:
    """Warnings for the summary; an error instead when the configuration says so."""
    if usable >= config.min_photos:
        return []
    whose = "" if face is None else f"face {face}: "
    message = f"{whose}only {usable} usable photo(s), fewer than the configured minimum of {config.min_photos}"
    if config.fail_below_min_photos:
        raise NoUsablePhotos(message)
    warning = f"{message}; identity may be weak"
    get_run_logger().warning(warning)
    return [warning]
