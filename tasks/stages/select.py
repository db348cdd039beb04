"""select: the template face, the curated photo its backend scores highest (ties: the later source)."""

from __future__ import annotations

import numpy as np

from components.types import TemplateCandidate
from tasks import models
from tasks.config import StageConfig
from tasks.imaging import decode_png
from tasks.portrait_rows import curated_ok
from tasks.storage import read_parquet, write_parquet
from tasks.workspace import Workspace


def select_template(root: str, output: str, inputs: dict[str, str], select: StageConfig) -> None:
    workspace = Workspace(root)
    records = curated_ok(root, inputs["curate"])
    candidates = [TemplateCandidate(image=decode_png(r.image), bbox=np.asarray(r.crop_bbox),
                                    landmarks68=r.landmarks68_array(), face_width=r.face_width or 0.0,
                                    detection_score=r.detection_score or 0.0, quality=r.quality or 0.0)
                  for r in records]
    with models.borrow("select", select) as scorer:
        scores = scorer.scores(candidates)
    best = max(zip(scores, (r.source for r in records), records), key=lambda t: (t[0], t[1]))[2]
    table = read_parquet(workspace.path(inputs["curate"]))
    index = table.column("sha256").to_pylist().index(best.sha256)
    write_parquet(workspace.path(output), table.slice(index, 1))
