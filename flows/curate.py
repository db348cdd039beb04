"""The curation flow: photos -> a Parquet dataset of aligned, segmented, tagged face crops.

`curate_flow` is what the CLI and the deployments run, so both apply the same
task runner, lock and clean-up; `curate_photos` is its body, which the
portrait job and re-runs call inside their own flow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prefect import flow

from flows.artifacts import publish_curation
from flows.config import CurationConfig, curation_values
from flows.execute import Artefact, Executor, Plan, curation_chain
from flows.joblock import job_session
from flows.progress import StageProgress
from flows.runners import lazy_task_runner
from flows.runs import RunRecord, load_run, new_run_id, save_run
from tasks.assemble import assemble_task, dataset_location, known_hashes
from tasks.catalog import CURATION_STAGES
from tasks.dataset import DatasetStore
from tasks.ingest import ingest_task
from tasks.keys import FileFingerprints, part_name
from tasks.workspace import Workspace, input_key


@flow(name="curate", log_prints=True)
def curate_flow(inputs: list[str], out: str, config: CurationConfig | None = None, run_id: str | None = None) -> dict:
    """Curate `inputs` (files or folders) into `out`/faces/ (or `config.dataset`).

    A `run_id` names the run so that running it again replaces its own dataset part.
    """
    config = config or CurationConfig()
    workspace = Workspace(out)
    with job_session(workspace.root), lazy_task_runner(config) as runner:
        result = curate_photos(workspace, inputs, config, runner, run_id=run_id)
    publish_curation(result)
    return result


def curate_photos(workspace: Workspace, inputs: list[str], config: CurationConfig, runner, run_id: str | None = None,
                  reuse_batches: bool = False, forced: Callable[[str], bool] = lambda stage: False) -> dict:
    """Ingest (unless re-using the run's batches), each stage over every batch, then the dataset part.

    Stages whose artefacts exist under their current key are not run again
    unless `forced` says so (a re-run from that stage on).
    """
    record = _start_record(workspace, inputs, config, run_id)
    save = lambda r: save_run(workspace.root, r)  # noqa: E731
    try:
        if not (reuse_batches and record.batches):
            ingested = ingest_task(inputs, str(workspace.root), config.load, config.batch_size,
                                   known_hashes(str(workspace.root), exclude=_own_parts(record), dataset=config.dataset),
                                   config.workers)
            record.batches = ingested.batches
            record.mark("ingest", "done", [input_key(b) for b in ingested.batches], outputs=ingested.batches)
            save(record)
        fingerprints = FileFingerprints(record.fingerprints)
        executor = Executor(Plan(workspace.root, curation_values(config), fingerprints), record, save, forced)
        finals = _run_stages(executor, record, config, runner)
        part = _assemble(workspace, record, config, finals, force=forced(CURATION_STAGES[-1].name))
        record.state = "completed"
        return {"run_id": record.run_id, "part": part, "counts": record.counts, "reasons": record.reasons,
                "dataset": dataset_location(str(workspace.root), config.dataset), "job": str(workspace.root)}
    except BaseException as exc:
        record.state, record.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        save(record)


def _run_stages(executor: Executor, record: RunRecord, config: CurationConfig, runner) -> list[Artefact]:
    batches = [Artefact(key=input_key(b), path=b) for b in record.batches]
    with StageProgress(total=len(batches) * len(CURATION_STAGES), enabled=config.progress) as progress:
        artefacts = curation_chain(executor, batches, runner, progress.advance)
    return artefacts[CURATION_STAGES[-1].name]


def _assemble(workspace: Workspace, record: RunRecord, config: CurationConfig, finals: list[Artefact],
              force: bool) -> str | None:
    """The run's dataset part: claimed before it is written, re-used when it is already there."""
    name = part_name([a.key for a in finals], config.single_identity, config.identity_threshold)
    store = DatasetStore(dataset_location(str(workspace.root), config.dataset))
    if finals and record.part and store.name_of(record.part) == name and store.exists(name) and not force:
        record.mark("assemble", "cached", [Path(name).stem], outputs=[record.part])
        return record.part
    # Claim the part before writing it: a kill between the write and the record's
    # update must not make the next run skip these photos as "already curated".
    record.mark("assemble", "running", [Path(name).stem], outputs=[name])
    save_run(workspace.root, record)
    assembled = assemble_task([a.path for a in finals], [a.key for a in finals], str(workspace.root),
                              config.single_identity, config.dataset, config.identity_threshold,
                              own_parts=_own_parts(record))
    record.counts, record.reasons = assembled.counts, assembled.reasons
    old, record.part = record.part, assembled.part
    record.mark("assemble", "done", [Path(name).stem] if assembled.part else [],
                outputs=[assembled.part] if assembled.part else [])
    save_run(workspace.root, record)
    if old and old != assembled.part:  # a re-run's new part replaces the one this run wrote before
        store.delete(store.name_of(old))
    return assembled.part


def _own_parts(record: RunRecord) -> list[str]:
    """Parts this run wrote or was writing: its photos are not "already curated"."""
    claimed = record.stages.get("assemble")
    return [p for p in [record.part, *(claimed.outputs if claimed and claimed.state == "running" else [])] if p]


def _start_record(workspace: Workspace, inputs: list[str], config: CurationConfig, run_id: str | None) -> RunRecord:
    if run_id is not None and (workspace.root / "runs" / f"{run_id}.json").exists():
        record = load_run(workspace.root, run_id)
        record.config, record.state, record.error = config.model_dump(mode="json"), "running", None
    else:
        record = RunRecord(run_id=run_id or new_run_id(), kind="curate", inputs=list(inputs),
                           config=config.model_dump(mode="json"))
    save_run(workspace.root, record)
    return record
