"""Planning and running stages by their artefacts' keys.

A stage's key (tasks/keys.py) is known before it runs, and its artefact is
written under it: if the artefact exists, the stage is done for these inputs,
this configuration and this code, and it is not run again (recorded as
"cached") unless forced. So a re-run plans the whole job from its record in
milliseconds and runs only what changed; `status` uses the same plan without
running anything (this module imports Prefect only when a stage must run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.runs import RunRecord
from tasks.catalog import CURATION_STAGES, Stage, portrait_stages
from tasks.keys import FileFingerprints, stage_key


class StageFailed(RuntimeError):
    """A stage failed; the message names it and the cause."""


@dataclass(frozen=True)
class Artefact:
    key: str
    path: str  # relative to the job root


class Plan:
    """The artefact each stage writes, from its inputs' artefacts and the job's configuration values."""

    def __init__(self, root: str | Path, values: dict[str, Any], fingerprints: FileFingerprints | None = None) -> None:
        self.root = Path(root).resolve()
        self.values = values
        self.fingerprints = fingerprints or FileFingerprints()

    def artefact(self, stage: Stage, inputs: dict[str, Artefact]) -> Artefact:
        key = stage_key(stage, [inputs[name].key for name in stage.reads], self.values, self.fingerprints)
        return Artefact(key=key, path=stage.output_path(key))

    def exists(self, artefact: Artefact) -> bool:
        return (self.root / artefact.path).exists()

    def values_for(self, stage: Stage) -> dict[str, Any]:
        names = (stage.config_name, *stage.params, *stage.runtime)
        return {name: self.values[name] for name in names if name in self.values}


class Executor:
    """Runs stages of one job that are missing or forced, and records what each did."""

    def __init__(self, plan: Plan, record: RunRecord, save: Callable[[RunRecord], None],
                 forced: Callable[[str], bool] = lambda stage: False) -> None:
        self.plan, self.record, self.save, self.forced = plan, record, save, forced

    def run(self, stage: Stage, inputs: dict[str, Artefact]) -> Artefact:
        """One stage (portrait, adapter): a Prefect task run when its artefact is missing or forced."""
        artefact = self.plan.artefact(stage, inputs)
        if self._reusable(stage, [artefact]):
            return artefact
        from tasks.execution import stage_task

        self._mark(stage.name, "running", [artefact])
        state = stage_task(stage, str(self.plan.root), artefact.path, {n: a.path for n, a in inputs.items()},
                           self.plan.values_for(stage), return_state=True)
        self._settle(stage.name, [state], [artefact])
        return artefact

    def run_batches(self, stage: Stage, batches: list[Artefact], runner) -> list[Artefact]:
        """A curation stage over every batch, the missing ones submitted to `runner` at once."""
        artefacts = [self.plan.artefact(stage, {"batch": b}) for b in batches]
        if self._reusable(stage, artefacts):
            return artefacts
        from prefect.futures import wait

        from tasks.curation import curation_batch_task

        self._mark(stage.name, "running", artefacts)
        forced = self.forced(stage.name)
        todo = [i for i, a in enumerate(artefacts) if forced or not self.plan.exists(a)]
        values = self.plan.values_for(stage)
        futures = [runner.submit(curation_batch_task, parameters=dict(
            stage=stage.name, root=str(self.plan.root), batch=batches[i].path, output=artefacts[i].path,
            config=values[stage.config_name], load=values["load"])) for i in todo]
        wait(futures)
        self._settle(stage.name, [f.state for f in futures], artefacts)
        return artefacts

    def _reusable(self, stage: Stage, artefacts: list[Artefact]) -> bool:
        if self.forced(stage.name) or not all(self.plan.exists(a) for a in artefacts):
            return False
        self._mark(stage.name, "cached", artefacts)
        return True

    def _settle(self, stage: str, states: list, artefacts: list[Artefact]) -> None:
        failed = [s for s in states if not s.is_completed()]
        if failed:
            message = failed[0].message or "failed"
            self.record.mark(stage, "failed", [a.key for a in artefacts], error=message)
            self.save(self.record)
            raise StageFailed(f"stage {stage!r} failed: {message}")
        self._mark(stage, "done", artefacts)

    def _mark(self, stage: str, state: str, artefacts: list[Artefact]) -> None:
        self.record.mark(stage, state, [a.key for a in artefacts], outputs=[a.path for a in artefacts])
        self.save(self.record)


class Planner:
    """The executor's interface, running nothing: which artefact each stage would write (for `status`)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def run(self, stage: Stage, inputs: dict[str, Artefact]) -> Artefact:
        return self.plan.artefact(stage, inputs)

    def run_batches(self, stage: Stage, batches: list[Artefact], runner=None) -> list[Artefact]:
        return [self.plan.artefact(stage, {"batch": b}) for b in batches]


def curation_chain(executor: Executor | Planner, batches: list[Artefact], runner=None,
                   advance: Callable[[str, int], None] = lambda stage, n: None) -> dict[str, list[Artefact]]:
    """Each curation stage over all batches (a wave), in catalogue order; each stage's artefacts by name."""
    out = {}
    for stage in CURATION_STAGES:
        batches = out[stage.name] = executor.run_batches(stage, batches, runner)
        advance(stage.name, len(batches))
    return out


def portrait_chain(executor: Executor | Planner, curated: Artefact, mode: str) -> dict[str, Artefact]:
    """The portrait stages of `mode` in catalogue order, each given the artefacts it reads."""
    done = {"curate": curated}
    for stage in portrait_stages(mode):
        done[stage.name] = executor.run(stage, {name: done[name] for name in stage.reads})
    return done


def forced_from(order: list[str], refresh_from: str | None) -> Callable[[str], bool]:
    """`stage` comes at or after `refresh_from` in the job's stage order."""
    if refresh_from is None:
        return lambda stage: False
    start = order.index(refresh_from)
    return lambda stage: stage in order and order.index(stage) >= start
