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
from tasks.catalog import CURATION_STAGES, STYLE, Stage, face_instance, portrait_stages
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

    def artefact(self, stage: Stage, inputs: dict[str, Artefact], values: dict[str, Any] | None = None) -> Artefact:
        """`inputs` in the order of `stage.reads` (a per-face read: every face's, by face); `values`
        override the job's (a person's, in a template job)."""
        key = stage_key(stage, [a.key for a in inputs.values()], {**self.values, **(values or {})}, self.fingerprints)
        return Artefact(key=key, path=stage.output_path(key))

    def exists(self, artefact: Artefact) -> bool:
        return (self.root / artefact.path).exists()

    def values_for(self, stage: Stage, values: dict[str, Any] | None = None) -> dict[str, Any]:
        every = {**self.values, **(values or {})}
        names = (stage.config_name, *stage.params, *stage.runtime)
        return {name: every[name] for name in names if name in every}


class Executor:
    """Runs stages of one job that are missing or forced, and records what each did."""

    def __init__(self, plan: Plan, record: RunRecord, save: Callable[[RunRecord], None],
                 forced: Callable[[str], bool] = lambda stage: False) -> None:
        self.plan, self.record, self.save, self.forced = plan, record, save, forced

    def run(self, stage: Stage, inputs: dict[str, Artefact], name: str | None = None,
            values: dict[str, Any] | None = None) -> Artefact:
        """One stage (portrait, adapter): a Prefect task run when its artefact is missing or forced.

        `name`: the run's name in the record (a per-face stage's `face_instance`); `values`: see Plan."""
        name = name or stage.name
        artefact = self.plan.artefact(stage, inputs, values)
        if self._reusable(stage, [artefact], name):
            return artefact
        from tasks.execution import stage_task

        self._mark(name, "running", [artefact])
        task = stage_task if name == stage.name else stage_task.with_options(task_run_name=name)
        state = task(stage, str(self.plan.root), artefact.path, {n: a.path for n, a in inputs.items()},
                     self.plan.values_for(stage, values), return_state=True)
        self._settle(name, [state], [artefact])
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

    def _reusable(self, stage: Stage, artefacts: list[Artefact], name: str | None = None) -> bool:
        if self.forced(stage.name) or not all(self.plan.exists(a) for a in artefacts):
            return False
        self._mark(name or stage.name, "cached", artefacts)
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

    def run(self, stage: Stage, inputs: dict[str, Artefact], name: str | None = None,
            values: dict[str, Any] | None = None) -> Artefact:
        return self.plan.artefact(stage, inputs, values)

    def run_batches(self, stage: Stage, batches: list[Artefact], runner=None) -> list[Artefact]:
        return [self.plan.artefact(stage, {"batch": b}) for b in batches]


class InProcess(Planner):
    """Runs each stage whose artefact is missing right here, without Prefect or a run record
    (benchmarks, tests of a chain); `seconds` holds each run's time by run name."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self.seconds: dict[str, float] = {}

    def run(self, stage: Stage, inputs: dict[str, Artefact], name: str | None = None,
            values: dict[str, Any] | None = None) -> Artefact:
        import time

        from tasks.execution import stage_body

        artefact = self.plan.artefact(stage, inputs, values)
        if not self.plan.exists(artefact):
            start = time.perf_counter()
            stage_body(stage)(root=str(self.plan.root), output=artefact.path,
                              inputs={n: a.path for n, a in inputs.items()}, **self.plan.values_for(stage, values))
            self.seconds[name or stage.name] = time.perf_counter() - start
        return artefact


def curation_chain(executor: Executor | Planner, batches: list[Artefact], runner=None,
                   advance: Callable[[str, int], None] = lambda stage, n: None) -> dict[str, list[Artefact]]:
    """Each curation stage over all batches (a wave), in catalogue order; each stage's artefacts by name."""
    out = {}
    for stage in CURATION_STAGES:
        batches = out[stage.name] = executor.run_batches(stage, batches, runner)
        advance(stage.name, len(batches))
    return out


def portrait_chain(executor: Executor | Planner, given: dict[str, Artefact], mode: str, kind: str = STYLE,
                   person: dict[str, Any] | None = None, faces: dict[int, dict[str, Any]] | None = None,
                   stages: list[Stage] | None = None) -> dict[str, Artefact]:
    """The portrait stages of `mode` and `kind` in catalogue order, each given the artefacts it reads.

    `given`: artefacts from outside the chain by run name ("curate"; in template jobs "curate[2]",
    and "train[2]" for a LoRA reused from another job); a run already given is not run.
    `person`: values of the job's one person (its `train` steps); `faces`: in template jobs, each
    chosen face with its person's values. `stages`: a subset (default: all of the job's).
    """
    done = dict(given)
    for stage in stages if stages is not None else portrait_stages(mode, kind):
        if not stage.per_face:
            if stage.name not in done:
                done[stage.name] = executor.run(stage, _reads(done, stage, faces or {}), values=person)
            continue
        for face, values in (faces or {}).items():
            name = face_instance(stage.name, face)
            if name not in done:
                done[name] = executor.run(stage, _reads(done, stage, {face: values}), name, {**values, "face": face})
    return done


def _reads(done: dict[str, Artefact], stage: Stage, faces: dict[int, Any]) -> dict[str, Artefact]:
    """What `stage` reads: a job-wide artefact by its name; else, for a per-face run, its face's run
    (`fuse[2]`) under the read's name, and for a stage over all faces, every face's run by run name."""
    inputs = {}
    for read in stage.reads:
        if read in done:
            inputs[read] = done[read]
        elif stage.per_face:
            [face] = faces
            inputs[read] = done[face_instance(read, face)]
        else:
            inputs.update({face_instance(read, f): done[face_instance(read, f)] for f in faces})
    return inputs


def forced_from(order: list[str], refresh_from: str | None) -> Callable[[str], bool]:
    """`stage` comes at or after `refresh_from` in the job's stage order."""
    if refresh_from is None:
        return lambda stage: False
    start = order.index(refresh_from)
    return lambda stage: stage in order and order.index(stage) >= start
