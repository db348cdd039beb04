"""Join the batches of a run into one dataset part (OUT/faces/ or the configured dataset URL)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from prefect import task

import numpy as np

from components.embedding import SAME_PERSON_DISTANCE
from components.identity import cluster_identities
from components.tagging import majority_trigger_word
from tasks.records import INTERNAL, OK, FaceRecord, from_table, to_table
from tasks.dataset import DatasetStore
from tasks.storage import digest, read_parquet
from tasks.workspace import Workspace, code_version, input_key

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


def assign_identities(records: list[FaceRecord], threshold: float, single_identity: bool) -> None:
    """Folder-layout identities stay; the other ok photos are clustered by embedding."""
    ok = [r for r in records if r.status == OK and r.embedding is not None]
    if single_identity:
        for r in ok:
            r.identity = r.identity or "person"
        return
    unnamed = [r for r in ok if not r.identity]
    labels = cluster_identities(np.asarray([r.embedding for r in unnamed]), threshold)
    for record, label in zip(unnamed, labels):
        record.identity = f"cluster-{label}"


def apply_majority_per_identity(records: list[FaceRecord]) -> None:
    groups: dict[str, list[FaceRecord]] = {}
    for r in records:
        if r.status == OK and r.identity:
            groups.setdefault(r.identity, []).append(r)
    for members in groups.values():
        apply_majority_trigger(members)


def dataset_location(root: str, dataset: str | None) -> str:
    return dataset or str(Workspace(root).root / DATASET_DIR)


def known_hashes(root: str, exclude: list[str], dataset: str | None = None) -> set[str]:
    """sha256 of every photo already in the dataset, except in the parts `exclude`."""
    return DatasetStore(dataset_location(root, dataset)).hashes(exclude)


def part_name(batches: list[str], single_identity: bool, identity_threshold: float) -> str:
    """The dataset part a run's batches become (known before it is written, so a run can claim it)."""
    key = digest("assemble", [input_key(b) for b in batches], single_identity, identity_threshold,
                 code_version("assemble", None))
    return f"part-{key}.parquet"


def assemble(batches: list[str], root: str, single_identity: bool, dataset: str | None = None,
             identity_threshold: float = SAME_PERSON_DISTANCE) -> Assembled:
    workspace = Workspace(root)
    records = [r for b in batches for r in from_table(read_parquet(workspace.path(b)))]
    counts = Counter(r.status for r in records)
    reasons = Counter(r.reason for r in records if r.status != OK)
    if not records:
        return Assembled(part=None)
    assign_identities(records, identity_threshold, single_identity)
    apply_majority_per_identity(records)
    store = DatasetStore(dataset_location(root, dataset))
    name = part_name(batches, single_identity, identity_threshold)
    if not store.exists(name):
        store.write(name, final_table(records))
    part = store.where(name)
    if dataset is None:  # inside the workspace: relative, so the job directory can move
        part = workspace.relative(Path(part))
    return Assembled(part=part, counts=dict(counts), reasons=dict(reasons))


assemble_task = task(assemble, name="assemble", cache_policy=None, persist_result=False)
