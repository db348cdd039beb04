"""Planning and running stages by their artefacts' keys.

A stage's key (tasks/keys.py) is known before it runs, and its artefact is
written under it: if the artefact exists, the stage is done for these inputs,
this configuration and this code, and it is not run again (recorded as
"cached") unless forced. So a re-run plans the whole job from its record in
milliseconds and runs only what changed; `status` uses the same plan without
running anything (this module imports Prefect only when a stage must run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

    def run_chain(self, stages: Sequence[Stage], batches: list[Artefact], runner,
                  advance: Callable[[str, int], None] = lambda stage, n: None) -> dict[str, list[Artefact]]:
        """Curation: `stages` over every batch, all the stages one batch needs in one task run (its chain).

        A batch runs from its first stage whose artefact is missing (or forced)
        to its last one, starting from the artefact of the stage before: what
        is done is neither recomputed nor decoded. The chains are submitted to
        `runner` at once; each stage is recorded done / cached / failed from
        the artefacts it was to write.
        """
        chains = [chain_artefacts(self.plan, stages, batch) for batch in batches]
        planned = by_stage(stages, chains)
        needed = [[self.forced(stage.name) or not self.plan.exists(chain[i]) for i, stage in enumerate(stages)]
                  for chain in chains]
        for i, stage in enumerate(stages):
            todo = sum(needs[i] for needs in needed)
            self.record.mark(stage.name, "running" if todo else "cached", [a.key for a in planned[stage.name]],
                             outputs=[a.path for a in planned[stage.name]])
            advance(stage.name, len(batches) - todo)
        self.save(self.record)
        if not any(any(needs) for needs in needed):
            return planned
        from prefect.futures import wait

        from flows.progress import ArtefactWatch
        from tasks.curation import curation_chain_task

        pending = [(stage.name, chain[i]) for chain, needs in zip(chains, needed)
                   for i, stage in enumerate(stages) if needs[i]]
        watch = ArtefactWatch(self.plan.root, [(name, a.path) for name, a in pending], advance)
        with watch:
            futures = [runner.submit(curation_chain_task, parameters=self._chain_parameters(stages, batch, chain, needs))
                       for batch, chain, needs in zip(batches, chains, needed) if any(needs)]
            wait(futures)
        self._settle_chains(stages, planned, pending, watch.written, [f.state for f in futures])
        return planned

    def _chain_parameters(self, stages: Sequence[Stage], batch: Artefact, chain: list[Artefact],
                          needs: list[bool]) -> dict[str, Any]:
        from tasks.curation import ChainStep

        first = needs.index(True)
        last = len(needs) - 1 - needs[::-1].index(True)
        steps = [ChainStep(stage=stages[i].name, output=chain[i].path, run=needs[i],
                           config=self.plan.values_for(stages[i])[stages[i].config_name])
                 for i in range(first, last + 1)]
        source = batch.path if first == 0 else chain[first - 1].path
        return dict(root=str(self.plan.root), source=source, steps=steps, load=self.plan.values["load"])

    def _settle_chains(self, stages: Sequence[Stage], planned: dict[str, list[Artefact]],
                       pending: list[tuple[str, Artefact]], written: set[str], states: list) -> None:
        """done: every artefact the stage was to write was written; the first stage short of that failed."""
        failed = [s for s in states if not s.is_completed()]
        message = (failed[0].message or "failed") if failed else "an artefact was not written"
        short = {name for name, artefact in pending if artefact.path not in written}
        to_run = {name for name, _ in pending}
        first_failed = next((s.name for s in stages if s.name in short), None)
        if first_failed is None and failed:
            first_failed = next(s.name for s in reversed(stages) if s.name in to_run)
        for stage in stages:
            if stage.name not in to_run:
                continue
            keys, outputs = [a.key for a in planned[stage.name]], [a.path for a in planned[stage.name]]
            if stage.name == first_failed:
                self.record.mark(stage.name, "failed", keys, error=message)
            elif stage.name in short:
                self.record.mark(stage.name, "not run", keys)
            else:
                self.record.mark(stage.name, "done", keys, outputs=outputs)
        self.save(self.record)
        if first_failed is not None:
            raise StageFailed(f"stage {first_failed!r} failed: {message}")

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

    def run_chain(self, stages: Sequence[Stage], batches: list[Artefact], runner=None,
                  advance: Callable[[str, int], None] = lambda stage, n: None) -> dict[str, list[Artefact]]:
        return by_stage(stages, [chain_artefacts(self.plan, stages, batch) for batch in batches])


def chain_artefacts(plan: Plan, stages: Sequence[Stage], batch: Artefact) -> list[Artefact]:
    """The artefact of each stage of one batch's chain, each stage reading the one before."""
    out, previous = [], batch
    for stage in stages:
        previous = plan.artefact(stage, {"batch": previous})
        out.append(previous)
    return out


def by_stage(stages: Sequence[Stage], chains: list[list[Artefact]]) -> dict[str, list[Artefact]]:
    return {stage.name: [chain[i] for chain in chains] for i, stage in enumerate(stages)}


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
    """The curation stages in catalogue order over all batches, one chain per batch; each stage's artefacts."""
    return executor.run_chain(CURATION_STAGES, batches, runner, advance)


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
