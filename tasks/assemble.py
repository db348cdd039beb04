"""Join the batches of a run into one dataset part (OUT/faces/ or the configured dataset URL)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from components.embedding import SAME_PERSON_DISTANCE
from components.identity import centroids, cluster_identities, nearest_identity, new_identity_name
from components.tagging import majority_trigger_word
from tasks.dataset import DatasetStore
from tasks.records import INTERNAL, OK, FaceRecord, from_table, to_table
from tasks.keys import part_name
from tasks.storage import read_parquet
from tasks.workspace import Workspace

DATASET_DIR = "faces"
KNOWN_COLUMNS = ["status", "identity", "embedding", "trigger_word"]


@dataclass
class Assembled:
    part: str | None  # relative path of the dataset part; None when the run had no photo
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class KnownFaces:
    """The ok rows already in the dataset (other parts): who they are and their trigger words."""

    identities: list[tuple[str, list[float]]] = field(default_factory=list)
    words: dict[str, list[str]] = field(default_factory=dict)


def final_table(records: list[FaceRecord]) -> pa.Table:
    table = to_table(records)
    return table.drop_columns(list(INTERNAL))


def assign_identities(records: list[FaceRecord], known: list[tuple[str, list[float]]], threshold: float,
                      single_identity: bool) -> None:
    """Identities that hold across the dataset, not just this run.

    Folder-layout identities stay as given. Every other ok face joins the
    identity (of the dataset's other parts, or named in this run) whose
    centroid is within `threshold`; the rest are clustered among themselves,
    each cluster a new identity named after its founding photo. Rows already
    in the dataset are never rewritten.
    """
    ok = [r for r in records if r.status == OK and r.embedding is not None]
    if single_identity:
        for r in ok:
            r.identity = r.identity or "person"
        return
    named = [(r.identity, r.embedding) for r in ok if r.identity]
    labelled = [*known, *named]
    known_centroids = centroids([label for label, _ in labelled], np.asarray([e for _, e in labelled])) \
        if labelled else {}
    unmatched = []
    for record in (r for r in ok if not r.identity):
        record.identity = nearest_identity(np.asarray(record.embedding), known_centroids, threshold)
        if record.identity is None:
            unmatched.append(record)
    labels = cluster_identities(np.asarray([r.embedding for r in unmatched]), threshold)
    clusters: dict[int, list[FaceRecord]] = {}
    for record, label in zip(unmatched, labels):
        clusters.setdefault(label, []).append(record)
    for members in clusters.values():
        name = new_identity_name([r.sha256 for r in members])
        for record in members:
            record.identity = name


def apply_majority_per_identity(records: list[FaceRecord], known_words: dict[str, list[str]]) -> None:
    """Each identity's new rows get the trigger word most of the identity's photos got, old and new."""
    groups: dict[str, list[FaceRecord]] = {}
    for r in records:
        if r.status == OK and r.identity:
            groups.setdefault(r.identity, []).append(r)
    for identity, members in groups.items():
        words = [*known_words.get(identity, []), *(r.trigger_word for r in members if r.trigger_word)]
        if words:
            word = majority_trigger_word(words)
            for record in members:
                record.trigger_word = word


def known_faces(store: DatasetStore, exclude: list[str]) -> KnownFaces:
    known = KnownFaces()
    skip = {store.name_of(e) for e in exclude if e}
    for name in store.parts():
        if name in skip:
            continue
        table = store.read(name, columns=[c for c in KNOWN_COLUMNS if c in store.schema(name).names])
        for row in table.to_pylist():
            if row.get("status") != OK or not row.get("identity"):
                continue
            if row.get("embedding") is not None:
                known.identities.append((row["identity"], row["embedding"]))
            if row.get("trigger_word"):
                known.words.setdefault(row["identity"], []).append(row["trigger_word"])
    return known


def dataset_location(root: str, dataset: str | None) -> str:
    return dataset or str(Workspace(root).root / DATASET_DIR)


def known_hashes(root: str, exclude: list[str], dataset: str | None = None) -> set[str]:
    """sha256 of every photo already in the dataset, except in the parts `exclude`."""
    return DatasetStore(dataset_location(root, dataset)).hashes(exclude)


def assemble(batches: list[str], batch_keys: list[str], root: str, single_identity: bool, dataset: str | None = None,
             identity_threshold: float = SAME_PERSON_DISTANCE, own_parts: list[str] = ()) -> Assembled:
    """Write the run's part unless it exists; identities are matched against the rest of the dataset."""
    workspace = Workspace(root)
    records = [r for b in batches for r in from_table(read_parquet(workspace.path(b)))]
    counts = Counter(r.status for r in records)
    reasons = Counter(r.reason for r in records if r.status != OK)
    if not records:
        return Assembled(part=None)
    store = DatasetStore(dataset_location(root, dataset))
    name = part_name(batch_keys, single_identity, identity_threshold)
    if not store.exists(name):
        known = known_faces(store, [*own_parts, name])
        assign_identities(records, known.identities, identity_threshold, single_identity)
        apply_majority_per_identity(records, known.words)
        store.write(name, final_table(records))
    part = store.where(name)
    if dataset is None:  # inside the workspace: relative, so the job directory can move
        part = workspace.relative(Path(part))
    return Assembled(part=part, counts=dict(counts), reasons=dict(reasons))


assemble_task = task(assemble, name="assemble", cache_policy=NO_CACHE, persist_result=False)
