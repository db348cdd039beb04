"""The job's input files other than a person's photos (the template, the pose photo or map).

Hostile like every photo: read with the ingest limits (size, regular file) and decoded with
`decode_photo`'s (decompression bombs refused from the header), every failure a ValueError
naming the file and its role, so a bad one stops the job before any work.
"""

from __future__ import annotations

from pathlib import Path

from components.photo import decode_photo
from components.types import DecodedPhoto, PhotoError
from tasks.config import LoadConfig


def read_input_photo(path: str, role: str, limits, max_side: int) -> tuple[bytes, DecodedPhoto]:
    """(bytes, decoded photo) of `path`; `limits` has max_bytes, max_pixels and min_side."""
    from tasks.ingest import read_record
    from tasks.records import OK

    record = read_record(Path(path), [], LoadConfig(max_bytes=limits.max_bytes))
    if record.status != OK:
        raise ValueError(f"{role} {path}: {record.reason}")
    try:
        return record.data, decode_photo(record.data, max_pixels=limits.max_pixels, max_side=max_side,
                                         min_side=limits.min_side)
    except PhotoError as error:
        raise ValueError(f"{role} {path}: {error}") from None
