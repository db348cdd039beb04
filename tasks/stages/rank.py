"""rank: score each image by identity similarity; keep the top `keep` of those with one usable face."""

from __future__ import annotations

import numpy as np

from tasks import models
from tasks.config import StageConfig
from tasks.imaging import decode_png
from tasks.portrait_rows import curated_ok, read_rows, selected_record, write_rows
from tasks.ranked import ranked_rows


def rank_images(root: str, output: str, inputs: dict[str, str], rank: StageConfig) -> None:
    rows = read_rows(root, inputs["fuse"])
    template = selected_record(root, inputs["select"])
    curated = curated_ok(root, inputs["curate"])
    users = np.asarray([r.embedding for r in curated], dtype=np.float32)
    candidates = [i for i, row in enumerate(rows) if row["image"] is not None]
    with models.borrow("rank", rank) as ranker:
        # The crops go along for rankers with embeddings of their own (RTS); dlib's uses the stored ones.
        scores = ranker.score([decode_png(rows[i]["image"]) for i in candidates],
                              np.asarray(template.embedding, dtype=np.float32), users,
                              template_image=decode_png(template.image),
                              user_images=[decode_png(r.image) for r in curated])
    write_rows(root, output, ranked_rows(rows, candidates, scores, rank.keep))
