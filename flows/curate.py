"""The curation flow: photos -> a Parquet dataset of aligned, segmented, tagged face crops."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.futures import PrefectFuture, wait

from flows.config import CurationConfig
from flows.joblock import JobLock
from flows.progress import StageProgress
from flows.runners import make_task_runner
from flows.runs import RunRecord, load_run, new_run_id, save_run
from tasks.assemble import assemble_task, dataset_location, known_hashes, part_name
from tasks.dataset import DatasetStore
from tasks.curation import STAGES, curation_stage
from tasks.ingest import ingest_task
from tasks.storage import remove_stale_temporaries
from tasks.workspace import Workspace, input_key


@flow(name="curate", log_prints=True)
def curate_flow(inputs: list[str], out: str, config: CurationConfig | None = None,
                run_id: str | None = None, reuse_batches: bool = False, refresh_from: str | None = None) -> dict:
    """Curate `inputs` (files or folders) into `out`/faces/.

    A `run_id` names the run so that running it again replaces its own
    dataset part. With `reuse_batches`, the run's recorded batches are processed
    again without reading the input files (the re-run path): stages whose key
    did not change come from cache. `refresh_from` forces that stage and every
    later one to run again even where their key did not change.
    """
    config = config or CurationConfig()
    workspace = Workspace(out)
    record = _start_record(workspace, inputs, config, run_id)
    try:
        if not (reuse_batches and record.batches):
            ingested = ingest_task(inputs, str(workspace.root), config.load, config.batch_size,
                                   known_hashes(str(workspace.root), exclude=_own_parts(record), dataset=config.dataset))
            record.batches = ingested.batches
            record.mark("ingest", "done", [input_key(b) for b in ingested.batches])
            save_run(workspace.root, record)
        finals = _run_stages(workspace, record, config, refresh_from)
        # Claim the part before writing it: a kill between the write and the record's
        # update must not make the next run skip these photos as "already curated".
        record.mark("assemble", "running", [part_name(finals, config.single_identity, config.identity_threshold)])
        save_run(workspace.root, record)
        assembled = assemble_task(finals, str(workspace.root), config.single_identity, config.dataset,
                                  config.identity_threshold)
        _replace_part(workspace, record, assembled.part, config.dataset)
        record.state = "completed"
        return {"run_id": record.run_id, "part": assembled.part, "counts": assembled.counts,
                "reasons": assembled.reasons, "dataset": dataset_location(str(workspace.root), config.dataset)}
    except BaseException as exc:
        record.state, record.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        save_run(workspace.root, record)


def _own_parts(record: RunRecord) -> list[str]:
    """Parts this run wrote or was writing: its photos are not "already curated"."""
    claimed = record.stages.get("assemble")
    return [p for p in [record.part, *(claimed.keys if claimed and claimed.state == "running" else [])] if p]


def _start_record(workspace: Workspace, inputs: list[str], config: CurationConfig, run_id: str | None) -> RunRecord:
    if run_id is not None and (workspace.root / "runs" / f"{run_id}.json").exists():
        record = load_run(workspace.root, run_id)
        record.config, record.state, record.error = config.model_dump(mode="json"), "running", None
    else:
        record = RunRecord(run_id=run_id or new_run_id(), kind="curate", inputs=list(inputs),
                           config=config.model_dump(mode="json"))
    save_run(workspace.root, record)
    return record


def _run_stages(workspace: Workspace, record: RunRecord, config: CurationConfig,
                refresh_from: str | None) -> list[str]:
    """Each stage over all batches at once (a wave), then the next stage."""
    batches = list(record.batches)
    progress = StageProgress(total=len(batches) * len(STAGES), enabled=config.progress)
    with progress:
        for stage in STAGES:
            force = is_forced(stage, refresh_from)
            stage_task = curation_stage.with_options(result_storage=workspace.results,
                                                     refresh_cache=True if force else None)
            record.mark(stage, "running")
            args = [(stage, b, str(workspace.root), getattr(config, stage), config.load, force) for b in batches]
            futures = [stage_task.submit(*a) for a in args]
            batches = _collect(stage, futures, record, progress)
            # A cache hit whose artefact was deleted since: compute it again.
            missing = [i for i, path in enumerate(batches) if not (workspace.root / path).exists()]
            for i in missing:
                batches[i] = stage_task.with_options(refresh_cache=True)(*args[i][:-1], True)
            save_run(workspace.root, record)
    return batches


def is_forced(stage: str, refresh_from: str | None) -> bool:
    """`stage` comes at or after `refresh_from` in the job's stage order."""
    from tasks.portrait import PORTRAIT_STAGES

    order = [*STAGES, *PORTRAIT_STAGES]
    return refresh_from is not None and order.index(stage) >= order.index(refresh_from)


def _collect(stage: str, futures: list[PrefectFuture], record: RunRecord, progress: StageProgress) -> list[str]:
    wait(futures)
    states = [f.state for f in futures]
    failed = [s for s in states if not s.is_completed()]
    if failed:
        message = failed[0].message or "stage failed"
        record.mark(stage, "failed", error=message)
        raise RuntimeError(f"stage {stage!r} failed: {message}")
    paths = [f.result() for f in futures]
    cached = all(s.name == "Cached" for s in states)
    record.mark(stage, "cached" if cached else "done", [input_key(p) for p in paths])
    progress.advance(stage, len(futures))
    return paths


def _replace_part(workspace: Workspace, record: RunRecord, part: str | None, dataset: str | None) -> None:
    """A re-run's new dataset part replaces the one this run wrote before."""
    old = record.part
    record.part = part
    record.mark("assemble", "done", [Path(part).stem] if part else [])
    save_run(workspace.root, record)
    if old and old != part:
        store = DatasetStore(dataset_location(str(workspace.root), dataset))
        store.delete(store.name_of(old))


def run_curation(inputs: list[str], out: str, config: CurationConfig, run_id: str | None = None,
                 reuse_batches: bool = False, refresh_from: str | None = None) -> dict:
    """Run the flow with the task runner the configuration asks for, holding OUT's lock."""
    runner = make_task_runner(config.runner, config.workers, config.dask_address)
    with JobLock(Workspace(out).root):
        remove_stale_temporaries(out)
        return curate_flow.with_options(task_runner=runner)(inputs=inputs, out=out, config=config, run_id=run_id,
                                                            reuse_batches=reuse_batches, refresh_from=refresh_from)
