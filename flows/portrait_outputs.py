"""What a user sees of a portrait job: results.parquet, PNGs, face_lora.safetensors, report.html."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from components.diffusion.test_models import TEST_MODEL_LABEL
from components.report import ReportImage, render_report
from flows.portrait_config import PortraitConfig
from tasks.portrait_rows import curated_ok, read_rows
from tasks.records import from_table
from tasks.storage import atomic_write_bytes, read_parquet, write_parquet

# Every generated image has a row: its PNG (fused when fusion found a face, else as generated),
# whether it was kept, its rank and score, and why it was dropped.
RESULTS_SCHEMA = pa.schema([
    ("rank", pa.int32()), ("kept", pa.bool_()), ("score", pa.float64()), ("seed", pa.int64()),
    ("prompt", pa.string()), ("negative_prompt", pa.string()), ("style", pa.string()), ("image", pa.binary()),
    ("fused", pa.bool_()), ("faces", pa.int32()), ("reason", pa.string()), ("index", pa.int32()),
])


def result_rows(ranked: list[dict]) -> list[dict]:
    return [{"rank": r["rank"], "kept": r["rank"] is not None, "score": r["score"], "seed": r["seed"],
             "prompt": r["prompt"], "negative_prompt": r["negative_prompt"], "style": r["style"],
             "image": r["image"] if r["image"] is not None else r["generated"], "fused": r["image"] is not None,
             "faces": r["faces"], "reason": r["reason"], "index": r["index"]} for r in ranked]


def write_outputs(root: Path, artefacts: dict[str, str], style, config: PortraitConfig, steps: int) -> dict:
    """`artefacts`: the relative path of each stage's output by stage name ("curate" is the dataset part)."""
    rows = result_rows(read_rows(str(root), artefacts["rank"]))
    write_parquet(root / "results.parquet", pa.Table.from_pylist(rows, schema=RESULTS_SCHEMA))
    kept = [r for r in rows if r["kept"]]
    dropped = [r for r in rows if not r["kept"]]
    portraits = _write_pngs(root / "portraits", kept)
    lora = artefacts.get("train")
    lora_copy = root / "face_lora.safetensors"
    if lora is not None:  # train-free jobs have no face LoRA
        atomic_write_bytes(lora_copy, (root / lora).read_bytes())
    usable = curated_ok(str(root), artefacts["curate"])
    template = from_table(read_parquet(root / artefacts["select"]))[0]
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
    notice = f"Made with the {TEST_MODEL_LABEL}: these are not real portraits." if config.base.is_test_model else None
    html = render_report(
        title=f"Portraits of {config.user} - {style.name}",
        test_model_notice=notice,
        summary=summary,
        inputs=[ReportImage(png=r.image, caption=Path(r.source).name, details={"quality": f"{r.quality:.2f}"})
                for r in usable],
        template=ReportImage(png=template.image, caption=Path(template.source).name,
                             details={"quality": f"{template.quality:.2f}"}),
        kept=[ReportImage(png=r["image"], caption=f"#{r['rank']} score {r['score']:.3f}",
                          details={"seed": str(r["seed"]), "prompt": r["prompt"]}) for r in kept],
        dropped=[ReportImage(png=r["image"], caption=r["reason"], details={"seed": str(r["seed"])}) for r in dropped],
    )
    atomic_write_bytes(root / "report.html", html.encode())
    summary["report"] = str(root / "report.html")
    return {**summary, "portraits": [str(p) for p in portraits], "table": _artifact_table(rows),
            "markdown": _markdown(summary, config.base.is_test_model)}


def _write_pngs(folder: Path, kept: list[dict]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()  # a re-run with another `keep` must not leave stale portraits
    return [atomic_write_bytes(folder / f"rank{r['rank']:02d}_seed{r['seed']}.png", r["image"]) for r in kept]


def _artifact_table(rows: list[dict]) -> list[dict]:
    return [{"rank": r["rank"], "score": r["score"], "seed": r["seed"], "reason": r["reason"]} for r in rows]


def _markdown(summary: dict, test_model: bool) -> str:
    lines = ["# Portrait job", ""]
    if test_model:
        lines += [f"**{TEST_MODEL_LABEL}: these are not real portraits.**", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in summary.items()]
    return "\n".join(lines)
