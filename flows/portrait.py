"""The per-user portrait job: curate -> train face LoRA -> generate -> select -> fuse -> rank -> report."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.curate import curate_flow, is_forced
from flows.joblock import JobLock
from flows.portrait_config import PortraitConfig
from flows.portrait_outputs import write_outputs
from flows.runs import RunRecord, load_run, save_run
from tasks.adapter import generate_train_free_task
from tasks.config import BaseModelConfig
from tasks.portrait import curated_ok, fuse_task, generate_task, rank_task, select_task, train_task
from tasks.records import from_table
from tasks.storage import read_parquet, remove_stale_temporaries
from tasks.styles import resolve_style as find_style
from tasks.workspace import Workspace

RUN_ID, CURATION_RUN_ID = "portrait", "curation"
PORTRAIT_TASKS = {"train": train_task, "generate": generate_task, "select": select_task, "fuse": fuse_task,
                  "rank": rank_task}


class NoUsablePhotos(RuntimeError):
    """No photo survived curation: the job stops before training."""


def job_dir(out: str, user: str, job: str | None = None) -> Path:
    """OUT/<user>, or OUT/<user>/<job> when the job has its own folder (one per web/API job)."""
    return Workspace(out).path(user if job is None else f"{user}/{job}")


def resolve_style(config: PortraitConfig):
    return find_style(config.styles_dir, config.style, config.style_lora)


@flow(name="portrait", log_prints=True)
def portrait_flow(photos: list[str], out: str, config: PortraitConfig, reuse_batches: bool = False,
                  refresh_from: str | None = None) -> dict:
    """One user's job in OUT/<user>/ (OUT/<user>/<job>/ with `config.job`). `reuse_batches` / `refresh_from`: see `curate_flow` (the re-run path)."""
    style = resolve_style(config)  # validated before any work starts
    job = Workspace(job_dir(out, config.user, config.job))
    with JobLock(job.root):
        remove_stale_temporaries(job.root)
        root = str(job.root)
        curated = curate_flow(inputs=photos, out=root, config=config.curation, run_id=CURATION_RUN_ID,
                              reuse_batches=reuse_batches, refresh_from=refresh_from)
        part = curated["part"]
        usable = curated_ok(root, part) if part else []
        if not usable:
            raise NoUsablePhotos(_no_photo_message(root, part))
        warnings = _check_minimum(config, len(usable))
        record = _portrait_record(job, photos, config)
        run = StageRunner(job, record, refresh_from)
        if config.mode == "train-free":
            steps, lora = 0, None
            generated = run("generate", part, root, config.generate, style, config.style_lora, config.base,
                            config.train_free, gpu=config.gpu, task=generate_train_free_task)
        else:
            steps = config.steps_for(len(usable))
            lora = run("train", part, root, config.train.model_copy(update={"steps": steps}), config.base,
                       gpu=config.gpu)
            generated = run("generate", lora, part, root, config.generate, style, config.style_lora, config.base,
                            gpu=config.gpu)
        template = run("select", part, root)
        fused = run("fuse", generated, template, root, config.fuse)
        ranked = run("rank", fused, template, part, root, config.rank)
        summary = write_outputs(job.root, root, part, template, ranked, lora, style, config, steps,
                                test_model=_is_test_model(config.base))
        summary["warnings"] = warnings
        _publish_artifacts(summary)
        record.state = "completed"
        save_run(job.root, record)
        return summary


class StageRunner:
    """Runs a portrait task, records done / cached / failed in the run record, forces re-runs."""

    def __init__(self, job: Workspace, record: RunRecord, refresh_from: str | None) -> None:
        self.job, self.record, self.refresh_from = job, record, refresh_from

    def __call__(self, stage: str, *args, task=None, **kwargs):
        force = is_forced(stage, self.refresh_from)
        task = (task or PORTRAIT_TASKS[stage]).with_options(result_storage=self.job.results,
                                                            refresh_cache=True if force else None)
        self.record.mark(stage, "running")
        save_run(self.job.root, self.record)
        state = task(*args, force=force, return_state=True, **kwargs)
        if not state.is_completed():
            self.record.mark(stage, "failed", error=state.message)
            self.record.state, self.record.error = "failed", f"stage {stage!r} failed: {state.message}"
            save_run(self.job.root, self.record)
            raise RuntimeError(self.record.error)
        result = state.result()
        if not (self.job.root / result).exists():  # a cache hit whose artefact was deleted since
            result = task.with_options(refresh_cache=True)(*args, force=True, **kwargs)
        self.record.mark(stage, "cached" if state.name == "Cached" else "done", [Path(result).parent.name
                         if stage == "train" else Path(result).stem])
        save_run(self.job.root, self.record)
        return result


def _portrait_record(job: Workspace, photos: list[str], config: PortraitConfig) -> RunRecord:
    try:
        record = load_run(job.root, RUN_ID)
    except FileNotFoundError:
        record = RunRecord(run_id=RUN_ID, kind="portrait")
    record.inputs, record.config, record.state = list(photos), config.model_dump(mode="json"), "running"
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


def _no_photo_message(root: str, part: str | None) -> str:
    lines = ["no photo survived curation; nothing to train on:"]
    if part:
        for r in from_table(read_parquet(Path(root) / part)):
            lines.append(f"  {r.source}: {r.status} - {r.reason}")
    else:
        lines.append("  (no photo was given, or every photo was already curated by another run)")
    return "\n".join(lines)


def _is_test_model(base: BaseModelConfig) -> bool:
    return base.spec == "tiny"


def _publish_artifacts(summary: dict) -> None:
    create_table_artifact(key="portrait-results", table=summary["table"],
                          description="Ranked portraits of this job")
    create_markdown_artifact(key="portrait-summary", markdown=summary["markdown"])

