"""What the hand-off between curation stages costs, and what an in-memory hand-off would save.

    python bench/handoff.py [--photos 32] [--batch-size 16]

Curates ~1 MP face photos stage by stage (as the flow does), then measures on
the artefacts it wrote, in core-ms per photo (process CPU time):
- each stage's Parquet round trip: reading its input batch (read + records)
  and writing its output (records + write);
- the decodes the stages repeat: the source photo (orient, detect, align and
  crop each decode it; then turn it upright) and the crop's PNG (segment,
  retouch, tag, quality and embed each decode it; segment and retouch encode).
With one task running all stages of a batch (tasks/batch_images.py), each
stage still writes its artefact, but reads nothing back and decodes nothing
twice: the saving is the reads plus the repeated decodes.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.settings import apply_defaults  # noqa: E402

apply_defaults()

from bench.common import FACE_SAMPLES, ingested, print_table, save, stage_runner, unique_photos  # noqa: E402
from flows.config import CurationConfig  # noqa: E402
from tasks.catalog import CURATION_STAGES  # noqa: E402
from tasks.imaging import decode_png, encode_png  # noqa: E402
from tasks.sources import decode_source, oriented_source  # noqa: E402
from tasks.records import from_table, to_table  # noqa: E402
from tasks.storage import read_parquet, write_parquet  # noqa: E402

SOURCE_DECODERS = ("orient", "detect", "align", "crop")
PNG_DECODERS = ("segment", "retouch", "tag", "quality", "embed")
PNG_ENCODES = 3  # segment: image and mask; retouch: image


def cpu_ms(fn, repeat: int = 1) -> float:
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return 1000 * (time.process_time() - started) / repeat


def curate_stage_by_stage(photos: Path, out: Path, config: CurationConfig) -> dict[str, list[str]]:
    """Each stage's input batches, as the flow hands them on."""
    batches, run = ingested(photos, out, config), stage_runner(out, config)
    inputs = {}
    for stage in CURATION_STAGES:
        inputs[stage.name] = [b.path for b in batches]
        batches = [run(stage, b) for b in batches]
    inputs["final"] = [b.path for b in batches]
    return inputs


def parquet_costs(out: Path, inputs: dict[str, list[str]], photos: int) -> list[tuple[str, float, float]]:
    rows = []
    for stage in (s.name for s in CURATION_STAGES):
        read = sum(cpu_ms(lambda b=b: from_table(read_parquet(out / b))) for b in inputs[stage]) / photos
        tables = [to_table(from_table(read_parquet(out / b))) for b in inputs[stage]]
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            write = sum(cpu_ms(lambda t=t, i=i: write_parquet(Path(tmp) / f"{i}.parquet", to_table(from_table(t))))
                        for i, t in enumerate(tables)) / photos
        rows.append((stage, read, write))
    return rows


def decode_costs(out: Path, inputs: dict[str, list[str]], config: CurationConfig) -> dict[str, float]:
    """Per photo: one source decode, one turn upright, one PNG decode and one PNG encode of a crop."""
    detected = [r for b in inputs["align"] for r in from_table(read_parquet(out / b)) if r.ok]
    cropped = [r for b in inputs["final"] for r in from_table(read_parquet(out / b)) if r.ok and r.image]
    source = sum(cpu_ms(lambda r=r: decode_source(r, config.load)) for r in detected) / len(detected)
    oriented = sum(cpu_ms(lambda r=r: oriented_source(r, config.load)) for r in detected) / len(detected)
    png = sum(cpu_ms(lambda r=r: decode_png(r.image)) for r in cropped) / len(cropped)
    encode = sum(cpu_ms(lambda r=r: encode_png(decode_png(r.image))) for r in cropped) / len(cropped) - png
    return {"source decode": source, "turn upright": max(oriented - source, 0.0), "png decode": png,
            "png encode": encode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    config = CurationConfig(batch_size=args.batch_size, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        unique_photos(photos, args.photos, names=FACE_SAMPLES)
        out = Path(tmp) / "out"
        inputs = curate_stage_by_stage(photos, out, config)
        parquet = parquet_costs(out, inputs, args.photos)
        decodes = decode_costs(out, inputs, config)
    reads, writes = sum(r for _, r, _ in parquet), sum(w for _, _, w in parquet)
    repeated = ((len(SOURCE_DECODERS) - 1) * (decodes["source decode"] + decodes["turn upright"])
                + len(PNG_DECODERS) * decodes["png decode"])
    rows = [("photos", f"{args.photos} (~1 MP JPEG with a face, batches of {args.batch_size}); core-ms per photo")]
    rows += [(f"  {stage}: read input / write output", f"{read:6.2f} / {write:6.2f}") for stage, read, write in parquet]
    rows += [("Parquet reads, all stages", f"{reads:.2f}"), ("Parquet writes, all stages", f"{writes:.2f}")]
    rows += [(f"one {name}", f"{value:.2f}") for name, value in decodes.items()]
    rows += [("repeated decodes (3 source + turn, 5 PNG)", f"{repeated:.2f}"),
             ("PNG encodes kept for the artefacts (3)", f"{PNG_ENCODES * decodes['png encode']:.2f}"),
             ("in-memory hand-off saves", f"{reads + repeated:.2f}   (writes stay: each stage keeps its artefact)")]
    text = print_table("curation stage hand-off", rows)
    save(text, f"handoff-{socket.gethostname()}.txt")


if __name__ == "__main__":
    main()
