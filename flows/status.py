"""What each stage of a job did, and whether its artefact is still current. No Prefect, torch or dlib.

A stage shows "done" or "cached" only when its artefact exists under the key
the job's settings and the code give it now; otherwise "stale" (code or
settings changed since: a re-run recomputes it) or "missing" (deleted).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from flows.config import CurationConfig, curation_values
from flows.execute import Artefact, Plan, Planner, curation_chain, portrait_chain
from flows.runs import RunRecord, StageStatus, runs_dir
from tasks.catalog import CURATION, STYLE, STYLE_STAGES, TRAIN, job_stage_names, stage_instances
from tasks.keys import FileFingerprints, part_name
from tasks.workspace import input_key


def job_is_running(root: Path) -> bool:
    lock = root / ".lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def read_records(root: Path) -> list[RunRecord]:
    records = [RunRecord.model_validate_json(p.read_text()) for p in sorted(runs_dir(root).glob("*.json"))]
    if not records:
        raise FileNotFoundError(f"{root} holds no run record (runs/*.json): is it a job directory?")
    return records


def current_artefacts(root: Path, records: list[RunRecord]) -> dict[str, dict[str, list[Artefact]]]:
    """For each run (by id), the artefacts each stage run would have now (from the record's inputs,
    settings and today's code)."""
    current: dict[str, dict[str, list[Artefact]]] = {}
    for record in records:
        if record.kind == "curate":
            current[record.run_id] = _curation_artefacts(root, record)
    curations = [r for r in records if r.kind == "curate"]
    portrait = next((r for r in records if r.kind == "portrait"), None)
    if portrait is not None:
        current[portrait.run_id] = {k: [v] for k, v in _portrait_artefacts(root, portrait, curations).items()}
    return current


def _curation_artefacts(root: Path, curation: RunRecord) -> dict[str, list[Artefact]]:
    config = CurationConfig.model_validate(curation.config)
    batches = [Artefact(key=input_key(b), path=b) for b in curation.batches]
    chain = curation_chain(Planner(Plan(root, curation_values(config), FileFingerprints(curation.fingerprints))),
                           batches)
    finals = chain[job_stage_names(CURATION)[-1]] if chain else []
    if finals:
        name = part_name([a.key for a in finals], config.single_identity, config.identity_threshold)
        chain["assemble"] = [Artefact(key=Path(name).stem, path=_part_path(curation, name))]
    return chain


def _part_path(record: RunRecord, name: str) -> str:
    """Where the run keeps its part (the dataset folder inside the job, or a dataset URL)."""
    folder = record.part.rsplit("/", 1)[0] if record.part and "/" in record.part else "faces"
    return f"{folder}/{name}"


def _portrait_artefacts(root: Path, record: RunRecord, curations: list[RunRecord]) -> dict[str, Artefact]:
    from flows.people import from_record
    from flows.portrait_config import PortraitConfig, chain_people, portrait_values, resolve_style

    config = PortraitConfig.model_validate(record.config)
    given, usable = from_record(record.given)
    if not given and curations and curations[0].part:  # a record from before people were recorded
        part = curations[0].part
        given, usable = {"curate": Artefact(key=Path(part).stem, path=part)}, {None: curations[0].counts.get("ok", 0)}
    if not given:
        return {}
    person, faces = chain_people(config, usable)
    plan = Plan(root, portrait_values(config, resolve_style(config)), FileFingerprints(record.fingerprints))
    done = portrait_chain(Planner(plan), given, config.mode, config.kind, person, faces)
    return {name: artefact for name, artefact in done.items() if name not in given}


def stage_verdict(root: Path, status: StageStatus, current: list[Artefact] | None) -> str:
    """done / cached as recorded only when still current; else stale / missing."""
    if status.state not in ("done", "cached", "reused") or current is None:
        return status.state
    if [a.key for a in current] != status.keys:
        return "stale"
    if any(not (root / a.path).exists() for a in current if "://" not in a.path):
        return "missing"
    return status.state


NOTES = {"stale": "code or settings changed since: a re-run recomputes it",
         "missing": "artefact deleted since: a re-run recomputes it"}


def status_lines(job_dir: str) -> list[str]:
    root = Path(job_dir).resolve()
    records = read_records(root)
    running = job_is_running(root)
    try:
        current = current_artefacts(root, records)
        planning_error = None
    except (ValueError, OSError, RuntimeError) as exc:  # e.g. the style file or base model is gone: show the record
        current, planning_error = {}, str(exc)
    lines = []
    for record in records:
        state = record.state
        if state == "running" and not running:
            state = "interrupted (re-run the same command to resume)"
        lines.append(f"run {record.run_id} ({record.kind}): {state}, updated {record.updated}")
        if record.error:
            lines.append(f"  error: {record.error}")
        for stage in _stages_of(record):
            status = record.stages.get(stage, StageStatus())
            verdict = stage_verdict(root, status, current.get(record.run_id, {}).get(stage))
            keys = ", ".join(status.keys[:3]) + (f" (+{len(status.keys) - 3})" if len(status.keys) > 3 else "")
            lines.append(f"  {stage:13s} {verdict:8s} {keys}".rstrip())
            if verdict in NOTES:
                lines.append(f"  {'':13s} {NOTES[verdict]}")
            if status.error:
                lines.append(f"  {'':13s} error: {status.error}")
    if planning_error:
        lines.append(f"(could not check whether artefacts are current: {planning_error})")
    return lines


def _stages_of(record: RunRecord) -> list[str]:
    if record.kind == "curate":
        return curation_stage_runs()
    if record.kind == "style":
        return [s.name for s in STYLE_STAGES]
    return portrait_stage_runs(record.config)


def curation_stage_runs() -> list[str]:
    """Curation's stages in order, with its ingest and assemble steps."""
    return ["ingest", *job_stage_names(CURATION), "assemble"]


def portrait_stage_runs(config: dict) -> list[str]:
    """A portrait job's stages in order (its recorded config); a template job's per-face stages once per
    face (`train[2]`)."""
    faces = sorted(int(face) for face in config.get("persons") or {})
    return stage_instances(config.get("mode") or TRAIN, config.get("kind") or STYLE, faces)
