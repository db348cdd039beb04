"""Who is who in a dataset: folder layout first, else clusters of identity embeddings."""

from __future__ import annotations

from pathlib import PurePath

import numpy as np

from components.embedding import SAME_PERSON_DISTANCE


def identity_from_layout(relative: PurePath) -> str | None:
    """`person_name/photo.jpg` (relative to an input folder) names its person; a bare file does not."""
    return relative.parts[0] if len(relative.parts) >= 2 else None


def cluster_identities(embeddings: np.ndarray, threshold: float = SAME_PERSON_DISTANCE) -> list[int]:
    """Average-linkage clusters of Euclidean embedding distance < `threshold`.

    Average linkage (not single): one borderline pair cannot chain two people
    together. Labels are numbered by first appearance, so they are stable for
    the same input order.
    """
    count = len(embeddings)
    if count == 0:
        return []
    if count == 1:
        return [0]
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(np.asarray(embeddings, dtype=np.float64), method="average", metric="euclidean")
    raw = fcluster(tree, t=threshold, criterion="distance")
    order: dict[int, int] = {}
    return [order.setdefault(int(label), len(order)) for label in raw]


def centroids(labels: list[str], embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """Mean embedding of each identity."""
    groups: dict[str, list[np.ndarray]] = {}
    for label, vector in zip(labels, np.asarray(embeddings, dtype=np.float64)):
        groups.setdefault(label, []).append(vector)
    return {label: np.mean(vectors, axis=0) for label, vectors in groups.items()}


def nearest_identity(embedding: np.ndarray, known: dict[str, np.ndarray], threshold: float) -> str | None:
    """The known identity whose centroid is nearest, if it is closer than `threshold`; ties go to the name."""
    best = None
    for label in sorted(known):
        distance = float(np.linalg.norm(np.asarray(embedding, dtype=np.float64) - known[label]))
        if distance < threshold and (best is None or distance < best[0]):
            best = (distance, label)
    return best[1] if best else None


def new_identity_name(member_hashes: list[str]) -> str:
    """A new identity is named after its founding photo (the smallest sha256 of its members).

    Photo hashes are unique in a dataset, so the name is stable across runs and
    never given to another person.
    """
    return f"person-{min(member_hashes)[:12]}"
