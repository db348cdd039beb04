"""rank: score each image by identity similarity; keep the top `keep` of those with one usable face."""

from __future__ import annotations

import math

import numpy as np

from components.ranking import top_k
from tasks import models
from tasks.catalog import FACE_DETECTOR
from tasks.config import RankConfig
from tasks.imaging import decode_png
from tasks.portrait_rows import curated_ok, read_rows, write_rows
from tasks.records import from_table
from tasks.storage import read_parquet
from tasks.workspace import Workspace


def rank_images(root: str, output: str, inputs: dict[str, str], rank: RankConfig) -> None:
    rows = read_rows(root, inputs["fuse"])
    template = from_table(read_parquet(Workspace(root).path(inputs["select"])))[0]
    users = np.asarray([r.embedding for r in curated_ok(root, inputs["curate"])], dtype=np.float32)
    candidates = [i for i, row in enumerate(rows) if row["image"] is not None]
    with models.borrow("rank", rank, detector=FACE_DETECTOR, embedder="embed:dlib-resnet") as ranker:
        scores = ranker.score([decode_png(rows[i]["image"]) for i in candidates],
                              np.asarray(template.embedding, dtype=np.float32), users)
    for i, score in zip(candidates, scores):
        rows[i].update(faces=score.faces, score=None if math.isnan(score.score) else score.score,
                       reason=score.reason)
    for place, j in enumerate(top_k(scores, rank.keep), start=1):
        rows[candidates[j]]["rank"] = place
    for row in rows:
        if row["rank"] is None and not row["reason"]:
            row["reason"] = f"not in the top {rank.keep}"
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["index"]))
    write_rows(root, output, rows)
