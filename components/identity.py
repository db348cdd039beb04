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
