"""What a user sees of a portrait job: results.parquet, PNGs, face_lora.safetensors, report.html."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from components.diffusion.test_models import TEST_MODEL_LABEL
from components.report import ReportImage, render_report
from flows.portrait_config import PortraitConfig
from tasks.catalog import face_instance
from tasks.portrait_rows import curated_ok, read_rows, selected_record
from tasks.storage import atomic_write_bytes, write_parquet

# Every generated image has a row: its PNG (fused when fusion found a face, else as generated),
# whether it was kept, its rank and score, and why it was dropped.
RESULTS_SCHEMA = pa.schema([
    ("rank", pa.int32()), ("kept", pa.bool_()), ("score", pa.float64()), ("seed", pa.int64()),
    ("prompt", pa.string()), ("negative_prompt", pa.string()), ("style", pa.string()), ("image", pa.binary()),
    ("fused", pa.bool_()), ("faces", pa.int32()), ("reason", pa.string()), ("index", pa.int32()),
    # what the job made: kind (style / template / pose), mode (train / train-free), the template
    # photo and the numbers of its replaced faces, the pose photo or map
    ("kind", pa.string()), ("mode", pa.string()), ("template", pa.string()), ("face_numbers", pa.list_(pa.int32())),
    ("pose", pa.string()),
])


def result_rows(ranked: list[dict], config: PortraitConfig) -> list[dict]:
    made = {"kind": config.kind, "mode": config.mode,
            "template": Path(config.template.image).name if config.template else None,
            "face_numbers": list(config.faces) or None,
            "pose": Path(config.pose_map.image).name if config.pose_map else None}
    return [{"rank": r["rank"], "kept": r["rank"] is not None, "score": r["score"], "seed": r["seed"],
             "prompt": r["prompt"], "negative_prompt": r["negative_prompt"], "style": r["style"],
             "image": r["image"] if r["image"] is not None else r["generated"], "fused": r["image"] is not None,
             "faces": r["faces"], "reason": r["reason"], "index": r["index"], **made} for r in ranked]


def write_outputs(root: Path, artefacts: dict[str, str], style, config: PortraitConfig,
                  trained: dict[int | None, int | str]) -> dict:
    """`artefacts`: the relative path of each stage run's output by run name ("curate" is the dataset
    part; a template job's people by face: "curate[2]", "select[2]", "train[2]"); `trained`: the
    training steps of each person (None: the job's one person), or "reused"."""
    rows = result_rows(read_rows(str(root), artefacts["rank"]), config)
    write_parquet(root / "results.parquet", pa.Table.from_pylist(rows, schema=RESULTS_SCHEMA))
    kept = [r for r in rows if r["kept"]]
    dropped = [r for r in rows if not r["kept"] and r["image"] is not None]
    portraits = _write_pngs(root / "portraits", kept)
    loras = _copy_loras(root, artefacts)
    people = _people(artefacts)
    usable = {face: curated_ok(str(root), artefacts[name]) for face, name in people.items()}
    templates = {face: selected_record(str(root), artefacts[face_instance("select", face)]) for face in people}
    best = max((r["score"] for r in kept), default=None)
    summary = {
        "job": str(root), "photos used": _per_face({f: len(u) for f, u in usable.items()}),
        "steps trained": _per_face(trained), "images generated": str(len(rows)), "images kept": str(len(kept)),
        "best score": f"{best:.3f}" if best is not None else "none",
        "style": style.name, "base model": config.base.spec,
        "mode": config.mode, "kind": config.kind,
        "face LoRA": ", ".join(str(p) for p in loras) or f"none (adapter {config.train_free.adapter})",
        "results": str(root / "results.parquet"),
    }
    if config.template is not None:
        summary["template"] = f"{Path(config.template.image).name}, faces {', '.join(map(str, config.faces))}"
    if config.pose_map is not None:
        summary["pose"] = Path(config.pose_map.image).name
    notice = f"Made with the {TEST_MODEL_LABEL}: these are not real portraits." if config.base.is_test_model else None
    html = render_report(
        title=f"Portraits of {config.user} - {style.name}",
        test_model_notice=notice,
        summary=summary,
        inputs=[ReportImage(png=r.image, caption=_whose(face) + Path(r.source).name,
                            details={"quality": f"{r.quality:.2f}"}) for face, records in usable.items() for r in records],
        template=[ReportImage(png=t.image, caption=_whose(face) + Path(t.source).name,
                              details={"quality": f"{t.quality:.2f}"}) for face, t in templates.items()],
        controls=controls(root, artefacts, config),
        kept=[ReportImage(png=r["image"], caption=f"#{r['rank']} score {r['score']:.3f}",
                          details={"seed": str(r["seed"]), "prompt": r["prompt"]}) for r in kept],
        dropped=[ReportImage(png=r["image"], caption=r["reason"], details={"seed": str(r["seed"])}) for r in dropped],
    )
    atomic_write_bytes(root / "report.html", html.encode())
    summary["report"] = str(root / "report.html")
    return {**summary, "portraits": [str(p) for p in portraits], "table": _artifact_table(rows),
            "markdown": _markdown(summary, config.base.is_test_model)}


def controls(root: Path, artefacts: dict[str, str], config: PortraitConfig) -> list[ReportImage]:
    """The template photo with its faces numbered (the chosen ones marked), each face's crop pose
    map, or the pose map: what the images were made from, shown beside them."""
    from components.template import draw_numbered_faces
    from tasks.imaging import encode_png
    from tasks.template_rows import pose_map_image, prepared_faces, template_faces, template_image

    root_str, shown = str(root), []
    if "template" in artefacts:
        image = template_image(root_str, artefacts["template"])
        faces = template_faces(root_str, artefacts["template"])
        shown.append(ReportImage(png=encode_png(draw_numbered_faces(image, faces, config.faces)),
                                 caption=f"template: {Path(config.template.image).name}",
                                 details={"faces found": str(len(faces)),
                                          "replaced": ", ".join(map(str, config.faces))}))
        for number, face in prepared_faces(root_str, artefacts["template-crop"]).items():
            shown.append(ReportImage(png=encode_png(face.pose_map), caption=f"face {number}: pose and face points",
                                     details={"body found": "yes" if face.body_found else "no (face points only)"}))
    if "pose-map" in artefacts:
        shown.append(ReportImage(png=encode_png(pose_map_image(root_str, artefacts["pose-map"])),
                                 caption=f"pose map: {Path(config.pose_map.image).name}"))
    return shown


def _people(artefacts: dict[str, str]) -> dict[int | None, str]:
    """{face: its curated part's run name}, None for the job's one person."""
    from tasks.template_rows import face_inputs

    if "curate" in artefacts:
        return {None: "curate"}
    return {face: face_instance("curate", face) for face in face_inputs(artefacts, "curate")}


def _whose(face: int | None) -> str:
    return "" if face is None else f"face {face}: "


def _per_face(values: dict[int | None, object]) -> str:
    return ", ".join(str(v) if f is None else f"face {f}: {v}" for f, v in values.items()) or "0"


def _copy_loras(root: Path, artefacts: dict[str, str]) -> list[Path]:
    """The face LoRA(s) next to the results: face_lora.safetensors, or face_lora_face<N>.safetensors."""
    copies = []
    for face in _people(artefacts):
        lora = artefacts.get(face_instance("train", face))
        if lora is not None:  # train-free jobs have no face LoRA
            name = "face_lora.safetensors" if face is None else f"face_lora_face{face}.safetensors"
            copies.append(atomic_write_bytes(root / name, (root / lora).read_bytes()))
    return copies


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
