"""The Prefect task that runs one job stage (portrait, adapter): the catalogue names its function.

The caller (flows/execute.py) has computed the stage's key and the path of
its artefact; the stage function writes exactly that file. Nothing else is
persisted: the artefact is the result.
"""

from __future__ import annotations

import importlib
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.catalog import Stage


def stage_body(stage: Stage):
    module, _, name = stage.body.partition(":")
    return getattr(importlib.import_module(module), name)


def run_stage(stage: Stage, root: str, output: str, inputs: dict[str, str], values: dict[str, Any]) -> str:
    stage_body(stage)(root=root, output=output, inputs=inputs, **values)
    return output


stage_task = task(run_stage, name="stage", task_run_name="{stage.name}", cache_policy=NO_CACHE, persist_result=False)
