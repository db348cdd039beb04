"""Which curated photo is the template face that fusion puts onto the generated images.

The embedded default takes the curation stage's quality score; FaceChain's
FQA (components/seed/fqa.py) scores the crops again.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.types import TemplateCandidate


class HighestQuality:
    """The curation stage's quality score, as it is (no model)."""

    def scores(self, candidates: Sequence[TemplateCandidate]) -> list[float]:
        return [c.quality for c in candidates]
