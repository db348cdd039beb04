"""Running a curation stage over a batch of photos, as one Prefect task run per (stage, batch).

Each stage's function (tasks/stages/<stage>.py) fills in its columns of one
`FaceRecord`; `run_batch` does the rest: read the batch, skip rows already
rejected, turn exceptions into `error`/`rejected` rows, write the batch to the
path named by its key (chosen by the caller, see tasks/keys.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE

from components.types import PhotoError, Rejected
from tasks.catalog import curation_stage
from tasks.config import LoadConfig, StageConfig
from tasks.records import ERROR, REJECTED, FaceRecord, from_table, to_table
from tasks.storage import read_parquet, write_parquet
from tasks.workspace import Workspace

StageFn = Callable[[FaceRecord, StageConfig, LoadConfig], None]


def stage_function(stage: str) -> StageFn:
    module, _, name = curation_stage(stage).body.partition(":")
    return getattr(importlib.import_module(module), name)


def apply_stage(stage: str, records: list[FaceRecord], config: StageConfig, load: LoadConfig) -> None:
    """Run one stage over a batch; a photo's failure never stops the others."""
    fn = stage_function(stage)
    for record in records:
        if not record.ok:
            continue
        try:
            fn(record, config, load)
        except MemoryError:
            raise  # the job must fail visibly, not blame one photo
        except Rejected as exc:
            record.fail(REJECTED, stage, str(exc))
        except PhotoError as exc:
            record.fail(ERROR, stage, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per photo
            record.fail(ERROR, stage, f"{stage} failed: {type(exc).__name__}: {exc}")


def run_batch(stage: str, root: str, batch: str, output: str, config: StageConfig, load: LoadConfig) -> str:
    """Read `batch`, apply `stage`, write the result to `output` (atomically); return `output`."""
    workspace = Workspace(root)
    records = from_table(read_parquet(workspace.path(batch)))
    apply_stage(stage, records, config, load)
    write_parquet(workspace.path(output), to_table(records))
    return output


# No Prefect cache: the artefact named by its key is the cache (flows/execute.py
# checks it before submitting), and nothing is persisted but the artefact.
curation_batch_task = task(run_batch, name="curation-stage", task_run_name="{stage}", cache_policy=NO_CACHE,
                           persist_result=False)
