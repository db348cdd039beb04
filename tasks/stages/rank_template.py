"""rank (template jobs): each replaced face judged against its own person (found at its place in
the template; the group's other faces are no reason to drop), an image scores as its weakest
replaced face; the top `keep` are kept."""

from __future__ import annotations

import numpy as np

from components.ranking import ReplacedFaceRanking
from components.types import FaceTarget
from tasks import models
from tasks.config import RankConfig
from tasks.imaging import decode_png
from tasks.portrait_rows import curated_ok, read_rows, selected_record, write_rows
from tasks.ranked import ranked_rows
from tasks.template_rows import face_inputs, template_faces


def require_embedding_ranker(rank) -> None:
    """ReplacedFaceRanking uses the embedded ranker's detector, embedder and weights."""
    if rank.backend != RankConfig().backend:
        raise ValueError(f"template jobs rank each replaced face by its embedding: use the rank backend "
                         f"{RankConfig().backend!r}, not {rank.backend!r}")


def rank_replaced_faces(root: str, output: str, inputs: dict[str, str], rank: RankConfig) -> None:
    require_embedding_ranker(rank)
    rows = read_rows(root, inputs["paste"])
    faces = template_faces(root, inputs["template"])
    selected, parts = face_inputs(inputs, "select"), face_inputs(inputs, "curate")
    targets = [FaceTarget(number=number, bbox=faces[number - 1].bbox,
                          person=np.asarray([r.embedding for r in curated_ok(root, parts[number])], np.float32),
                          template_embedding=np.asarray(selected_record(root, select).embedding, np.float32))
               for number, select in selected.items()]
    candidates = [i for i, row in enumerate(rows) if row["image"] is not None and not row["reason"]]
    with models.borrow("rank", rank) as ranker:
        scores = ReplacedFaceRanking(ranker).score([decode_png(rows[i]["image"]) for i in candidates], targets)
    write_rows(root, output, ranked_rows(rows, candidates, scores, rank.keep))

