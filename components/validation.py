"""Checks for names and paths that come from users (CLI arguments, flow parameters).

Pure functions, no I/O beyond resolving paths: a bad value raises `ValueError`
whose message says what was given and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ALLOWED_NAME = "letters, digits, '.', '_' and '-', starting with a letter or digit, no '..'"


def safe_name(value: str, what: str, max_len: int = 64) -> str:
    """`value` if it is safe as one path component (an identity, a style, a run name), else ValueError.

    Allowed: [A-Za-z0-9][A-Za-z0-9._-]*, at most `max_len` characters, no "..":
    no separators, no leading dot (hidden files, "." and ".."), no spaces or
    control characters, nothing a shell or a file system reads specially.
    """
    if not isinstance(value, str):
        raise ValueError(f"invalid {what} {value!r}: expected a string of {ALLOWED_NAME}")
    if not value:
        problem = "empty"
    elif len(value) > max_len:
        problem = f"longer than {max_len} characters"
    elif ".." in value:
        problem = "contains '..'"
    elif _NAME.fullmatch(value) is None:
        problem = "starts with '.', '_' or '-'" if _NAME.fullmatch("a" + value) else "contains a character not allowed"
    else:
        return value
    raise ValueError(f"invalid {what} {value!r}: {problem}; allowed: {ALLOWED_NAME}, "
                     f"at most {max_len} characters")


def inside(root: Path, candidate: Path) -> Path:
    """`candidate` (relative paths are taken under `root`) resolved, if it stays inside `root`.

    Symlinks are resolved on both sides, so a link that leads out of `root`
    is refused like a "../" would be.
    """
    candidate = Path(candidate)
    try:
        root_resolved = Path(root).resolve()
        resolved = (candidate if candidate.is_absolute() else root_resolved / candidate).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise ValueError(f"path {str(candidate)!r} cannot be resolved: {exc}") from None
    if resolved != root_resolved and not resolved.is_relative_to(root_resolved):
        raise ValueError(f"path {str(candidate)!r} is outside {str(root_resolved)!r}: refused")
    return resolved
