"""What a user sees of a job, read from its folder (run records, curated rows, results) and its Prefect runs.

Plain file reads (JSON, Parquet columns): no torch, no diffusers, no flow code.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from components.validation import inside
from flows.runs import RunRecord, runs_dir
from web.jobs import JobMeta

DONE = {"done", "cached"}
JOB_STATES = {"SCHEDULED": "queued", "PENDING": "queued", "RUNNING": "running", "PAUSED": "paused",
              "CANCELLING": "cancelling", "CANCELLED": "cancelled", "COMPLETED": "completed", "FAILED": "failed",
              "CRASHED": "failed"}
FINISHED = {"completed", "failed", "cancelled"}
RESULT_IMAGE, CURATED_IMAGE = re.compile(r"result-(\d{1,4})\.png"), re.compile(r"curated-(\d{1,4})\.png")


def stage_order(config: dict) -> list[str]:
    """The job's stages in order: its curation, then its portrait stages (as `flows status` lists them)."""
    from flows.status import curation_stage_runs, portrait_stage_runs

    return curation_stage_runs() + portrait_stage_runs(config)


def records(root: Path) -> dict[str, RunRecord]:
    found = {}
    for path in sorted(runs_dir(root).glob("*.json")):
        try:
            found[path.stem] = RunRecord.model_validate_json(path.read_text())
        except ValueError:  # being replaced right now: the next poll reads it whole
            continue
    return found


def stages(recs: dict[str, RunRecord], config: dict) -> list[dict[str, Any]]:
    """Each stage run of the job (`config`: its PortraitConfig as JSON) with its state."""
    merged = {}
    for record in recs.values():
        merged.update(record.stages)
    return [{"stage": name, "state": merged[name].state if name in merged else "not run",
             "error": merged[name].error if name in merged else None} for name in stage_order(config)]


def progress(stage_list: list[dict[str, Any]]) -> dict[str, Any]:
    done = sum(s["state"] in DONE for s in stage_list)
    current = next((s["stage"] for s in stage_list if s["state"] == "running"), None)
    return {"done": done, "total": len(stage_list), "fraction": round(done / len(stage_list), 3), "current": current}


def job_state(meta: JobMeta, runs: dict[str, Any], recs: dict[str, RunRecord]) -> tuple[str, dict | None]:
    """The job's state from its latest Prefect run; from its records when Prefect no longer knows the run."""
    latest = meta.submissions[-1] if meta.submissions else None
    run = runs.get(latest.flow_run_id) if latest else None
    if run is not None and run.state is not None:
        return JOB_STATES.get(run.state.type.value, run.state.type.value.lower()), {
            "flow_run_id": str(run.id), "name": run.name, "state": run.state.name, "type": run.state.type.value,
            "message": run.state.message, "started": _iso(run.start_time), "ended": _iso(run.end_time)}
    portrait = recs.get("portrait")
    return ("completed" if portrait and portrait.state == "completed" else "unknown"), None


def submissions(meta: JobMeta, runs: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for s in meta.submissions:
        run = runs.get(s.flow_run_id)
        out.append({**s.model_dump(), "state": run.state.name if run is not None and run.state else "unknown"})
    return out


def curated_photos(root: Path, recs: dict[str, RunRecord], meta: JobMeta) -> list[dict[str, Any]]:
    """Each uploaded photo's curation status and reason, with the crop's URL when it has one."""
    part = recs.get("curation").part if recs.get("curation") else None
    if not part:
        return []
    path = inside(root, part)
    rows = pq.read_table(path, columns=["source", "status", "reason", "quality"]).to_pylist()
    names = {p.stored: p.filename for p in meta.photos}
    return [{"photo": names.get(Path(r["source"]).name, Path(r["source"]).name), "status": r["status"],
             "reason": r["reason"], "quality": _number(r["quality"]),
             "image": f"curated-{i}.png" if r["status"] == "ok" else None} for i, r in enumerate(rows)]


def results(root: Path) -> list[dict[str, Any]]:
    """Every generated image: kept ones with their rank, dropped ones with the reason."""
    path = root / "results.parquet"
    if not path.is_file():
        return []
    columns = [c for c in ("index", "rank", "score", "seed", "style", "reason", "prompt")
               if c in pq.read_schema(path).names]
    rows = pq.read_table(path, columns=columns).to_pylist()
    return [{"name": f"result-{r['index']}.png", "rank": r["rank"], "kept": r["rank"] is not None,
             "score": _number(r["score"]), "seed": r["seed"], "style": r.get("style"), "reason": r["reason"],
             "prompt": r.get("prompt")} for r in rows]


def image_bytes(root: Path, name: str, recs: dict[str, RunRecord]) -> bytes | None:
    """PNG of `result-N.png` (each generated image: fused when fusion found a face) or `curated-N.png`."""
    if (m := RESULT_IMAGE.fullmatch(name)) is not None and (root / "results.parquet").is_file():
        rows = pq.read_table(root / "results.parquet", columns=["index", "image"]).to_pylist()
        return next((r["image"] for r in rows if r["index"] == int(m.group(1))), None)
    if (m := CURATED_IMAGE.fullmatch(name)) is not None and recs.get("curation") and recs["curation"].part:
        rows = pq.read_table(inside(root, recs["curation"].part), columns=["image"]).column("image").to_pylist()
        n = int(m.group(1))
        return rows[n] if n < len(rows) else None
    return None


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
