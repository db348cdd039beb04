"""Rows of a ranking: the one rule both rank stages (style and template jobs) place images by."""

from __future__ import annotations

import math

from components.ranking import top_k


def ranked_rows(rows: list[dict], candidates: list[int], scores: list, keep: int) -> list[dict]:
    """`rows` with each candidate's score, the top `keep` ranked, every other row's reason; best first.

    `scores[j]` (a RankScore) belongs to `rows[candidates[j]]`."""
    for i, score in zip(candidates, scores):
        rows[i].update(faces=score.faces, score=None if math.isnan(score.score) else score.score, reason=score.reason)
    for place, j in enumerate(top_k(scores, keep), start=1):
        rows[candidates[j]]["rank"] = place
    for row in rows:
        if row["rank"] is None and not row["reason"]:
            row["reason"] = f"not in the top {keep}"
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["index"]))
