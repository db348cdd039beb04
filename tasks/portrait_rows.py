"""The rows the portrait stages pass along (one per generated image) and the curated photos they read."""

from __future__ import annotations

import pyarrow as pa

from tasks.records import OK, FaceRecord, from_table
from tasks.storage import read_parquet, write_parquet
from tasks.workspace import Workspace

PORTRAIT_SCHEMA = pa.schema([
    ("index", pa.int32()),
    ("seed", pa.int64()),
    ("style", pa.string()),
    ("prompt", pa.string()),
    ("negative_prompt", pa.string()),
    ("generated", pa.binary()),  # PNG straight from the diffusion model
    ("image", pa.binary()),  # PNG after fusion; null when fusion found no face
    ("faces", pa.int32()),
    ("score", pa.float64()),
    ("rank", pa.int32()),  # 1 = best; null when not kept
    ("reason", pa.string()),  # why the image was dropped; "" when kept
])


def curated_ok(root: str, part: str) -> list[FaceRecord]:
    records = from_table(read_parquet(Workspace(root).path(part)))
    return [r for r in records if r.status == OK]


def selected_record(root: str, select: str) -> FaceRecord:
    """The curated photo the select stage chose (the fusion template, the person's reference)."""
    return from_table(read_parquet(Workspace(root).path(select)))[0]


def generated_rows(seeds: list[int], images: list[bytes], style: str, prompt: str, negative: str) -> list[dict]:
    return [dict(index=i, seed=s, style=style, prompt=prompt, negative_prompt=negative, generated=png, image=None,
                 faces=None, score=None, rank=None, reason="") for i, (s, png) in enumerate(zip(seeds, images))]


def read_rows(root: str, path: str) -> list[dict]:
    return read_parquet(Workspace(root).path(path)).to_pylist()


def write_rows(root: str, path: str, rows: list[dict]) -> None:
    write_parquet(Workspace(root).path(path), pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
