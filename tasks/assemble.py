"""Join the batches of a run into one dataset part under OUT/faces/."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task

from components.tagging import majority_trigger_word
from tasks.records import INTERNAL, OK, FaceRecord, from_table, to_table
from tasks.storage import digest, read_parquet, write_parquet
from tasks.workspace import Workspace, input_key

DATASET_DIR = "faces"


@dataclass
class Assembled:
    part: str | None  # relative path of the dataset part; None when the run had no photo
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


def final_table(records: list[FaceRecord]) -> pa.Table:
    table = to_table(records)
    return table.drop_columns(list(INTERNAL))


def apply_majority_trigger(records: list[FaceRecord]) -> None:
    """Several photos of one person share the trigger word most of them got."""
    words = [r.trigger_word for r in records if r.status == OK and r.trigger_word]
    if words:
        word = majority_trigger_word(words)
        for record in records:
            if record.status == OK:
                record.trigger_word = word


def known_hashes(root: str, exclude: str | None) -> set[str]:
    """sha256 of every photo already in the dataset, except in the part `exclude`."""
    folder = Workspace(root).root / DATASET_DIR
    hashes: set[str] = set()
    for part in sorted(folder.glob("part-*.parquet")):
        if exclude is None or part.name != exclude.rsplit("/", 1)[-1]:
            hashes.update(pq.read_table(part, columns=["sha256"]).column("sha256").to_pylist())
    return hashes


def assemble(batches: list[str], root: str, single_identity: bool) -> Assembled:
    workspace = Workspace(root)
    records = [r for b in batches for r in from_table(read_parquet(workspace.path(b)))]
    counts = Counter(r.status for r in records)
    reasons = Counter(r.reason for r in records if r.status != OK)
    if not records:
        return Assembled(part=None)
    if single_identity:
        apply_majority_trigger(records)
    key = digest("assemble", [input_key(b) for b in batches], single_identity)
    output = workspace.root / DATASET_DIR / f"part-{key}.parquet"
    if not output.exists():
        write_parquet(output, final_table(records))
    return Assembled(part=workspace.relative(output), counts=dict(counts), reasons=dict(reasons))


assemble_task = task(assemble, name="assemble", cache_policy=None, persist_result=False)
