"""What a user sees of a portrait job: results.parquet, PNGs, face_lora.safetensors, report.html."""

from __future__ import annotations

from pathlib import Path



from components.diffusion.tiny import TEST_MODEL_LABEL
from components.report import ReportImage, render_report
from flows.portrait_config import PortraitConfig
from tasks.records import from_table
from tasks.storage import atomic_write_bytes, read_parquet, write_parquet
from tasks.portrait import curated_ok

RESULT_COLUMNS = ["rank", "score", "seed", "prompt", "negative_prompt", "style", "image", "faces", "reason", "index"]


def write_outputs(root: Path, workroot: str, part: str, template: str, ranked: str, lora: str | None, style,
                  config: PortraitConfig, steps: int, test_model: bool) -> dict:
    rows = read_parquet(root / ranked)
    write_parquet(root / "results.parquet", rows.select(RESULT_COLUMNS))
    kept = [r for r in rows.to_pylist() if r["rank"] is not None]
    dropped = [r for r in rows.to_pylist() if r["rank"] is None]
    portraits = _write_pngs(root / "portraits", kept)
    lora_copy = root / "face_lora.safetensors"
    if lora is not None:  # train-free jobs have no face LoRA
        atomic_write_bytes(lora_copy, (root / lora).read_bytes())
    usable = curated_ok(workroot, part)
    template_record = from_table(read_parquet(root / template))[0]
    best = max((r["score"] for r in kept), default=None)
    summary = {
        "job": str(root), "photos used": str(len(usable)), "steps trained": str(steps),
        "images generated": str(len(rows)), "images kept": str(len(kept)),
        "best score": f"{best:.3f}" if best is not None else "none",
        "style": style.name, "base model": config.base.spec,
        "mode": config.mode,
        "face LoRA": str(lora_copy) if lora is not None else f"none (adapter {config.train_free.adapter})",
        "results": str(root / "results.parquet"),
    }
    html = render_report(
        title=f"Portraits of {config.user} - {style.name}",
        test_model_notice=(f"Made with the {TEST_MODEL_LABEL}: these are not real portraits." if test_model else None),
        summary=summary,
        inputs=[ReportImage(png=r.image, caption=Path(r.source).name, details={"quality": f"{r.quality:.2f}"})
                for r in usable],
        template=ReportImage(png=template_record.image, caption=Path(template_record.source).name,
                             details={"quality": f"{template_record.quality:.2f}"}),
        kept=[ReportImage(png=r["image"], caption=f"#{r['rank']} score {r['score']:.3f}",
                          details={"seed": str(r["seed"]), "prompt": r["prompt"]}) for r in kept],
        dropped=[ReportImage(png=_dropped_png(r), caption=r["reason"], details={"seed": str(r["seed"])})
                 for r in dropped],
    )
    atomic_write_bytes(root / "report.html", html.encode())
    summary["report"] = str(root / "report.html")
    return {**summary, "portraits": [str(p) for p in portraits], "table": _artifact_table(kept, dropped),
            "markdown": _markdown(summary, test_model)}


def _write_pngs(folder: Path, kept: list[dict]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()  # a re-run with another `keep` must not leave stale portraits
    return [atomic_write_bytes(folder / f"rank{r['rank']:02d}_seed{r['seed']}.png", r["image"]) for r in kept]


def _dropped_png(row: dict) -> bytes:
    return row["image"] if row["image"] is not None else row["generated"]


def _artifact_table(kept: list[dict], dropped: list[dict]) -> list[dict]:
    return [{"rank": r["rank"], "score": r["score"], "seed": r["seed"], "reason": r["reason"]} for r in kept + dropped]


def _markdown(summary: dict, test_model: bool) -> str:
    lines = ["# Portrait job", ""]
    if test_model:
        lines += [f"**{TEST_MODEL_LABEL}: these are not real portraits.**", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in summary.items()]
    return "\n".join(lines)



