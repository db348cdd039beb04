"""Short stable hashes of JSON-able values (kept free of pyarrow: `status` and planning use them)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (dicts are key-sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]
