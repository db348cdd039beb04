"""Running the curation stages over a batch of photos: all the stages a batch needs in one Prefect task run.

Each stage's function (tasks/stages/<stage>.py) fills in its columns of one
`FaceRecord`; `run_chain` does the rest: read the batch (or the artefact of
the last stage already done), run each stage in turn over the records, skip
rows already rejected, turn exceptions into `error`/`rejected` rows, and
write each stage's artefact to the path named by its key (chosen by the
caller, see tasks/keys.py), so every stage output stays a self-contained
artefact. Between the stages of one run the records and the arrays they
need stay in memory (tasks/batch_images.py): the photo is decoded once and
its face detected once per batch.

Stage modules are imported by name (importlib): this module is part of every
curation stage's code version, and must not import any stage's code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from components.types import PhotoError, Rejected
from tasks.batch_images import BatchImages
from tasks.catalog import curation_stage
from tasks.config import LoadConfig, StageConfig
from tasks.records import ERROR, REJECTED, FaceRecord, from_table, to_table
from tasks.storage import read_parquet, write_parquet
from tasks.workspace import Workspace

StageFn = Callable[[FaceRecord, StageConfig, LoadConfig, BatchImages], None]


@dataclass(frozen=True)
class ChainStep:
    """One stage of a batch chain: its artefact (relative to the job root) and its configuration."""

    stage: str
    output: str
    config: StageConfig
    run: bool = True  # False: the artefact is current: read it (only if a later step runs), do not recompute


def stage_function(stage: str) -> StageFn:
    module, _, name = curation_stage(stage).body.partition(":")
    return getattr(importlib.import_module(module), name)


def apply_stage(stage: str, records: list[FaceRecord], config: StageConfig, load: LoadConfig,
                images: BatchImages | None = None) -> None:
    """Run one stage over a batch; a photo's failure never stops the others."""
    fn = stage_function(stage)
    images = images if images is not None else BatchImages()
    for record in records:
        if not record.ok:
            continue
        try:
            fn(record, config, load, images)
        except MemoryError:
            raise  # the job must fail visibly, not blame one photo
        except Rejected as exc:
            record.fail(REJECTED, stage, str(exc))
        except PhotoError as exc:
            record.fail(ERROR, stage, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per photo
            record.fail(ERROR, stage, f"{stage} failed: {type(exc).__name__}: {exc}")


def run_chain(root: str, source: str, steps: list[ChainStep], load: LoadConfig,
              images: BatchImages | None = None) -> list[str]:
    """Read `source`, then each step in order: run it and write its artefact, or take its artefact as it is.

    Returns the stages that ran. `images` (tests, benchmarks) sees what was decoded.
    """
    workspace = Workspace(root)
    images = images if images is not None else BatchImages()
    records: list[FaceRecord] | None = None
    current, ran = source, []
    for step in steps:
        if not step.run:
            records, current = None, step.output  # read only if a later step needs it
            continue
        if records is None:
            records = from_table(read_parquet(workspace.path(current)))
            images.clear()  # what it held belonged to other records
        apply_stage(step.stage, records, step.config, load, images)
        write_parquet(workspace.path(step.output), to_table(records))
        ran.append(step.stage)
    return ran


def run_batch(stage: str, root: str, batch: str, output: str, config: StageConfig, load: LoadConfig) -> str:
    """One stage on its own: read `batch`, apply `stage`, write `output` (atomically); return `output`."""
    run_chain(root, batch, [ChainStep(stage=stage, output=output, config=config)], load)
    return output


def chain_run_name(parameters: dict[str, Any]) -> str:
    steps = parameters["steps"]
    return steps[0].stage if len(steps) == 1 else f"{steps[0].stage}..{steps[-1].stage}"


# No Prefect cache: the artefacts named by their keys are the cache (flows/execute.py
# checks them before submitting), and nothing is persisted but the artefacts.
curation_chain_task = task(run_chain, name="curation-batch", task_run_name=chain_run_name, cache_policy=NO_CACHE,
                           persist_result=False)
