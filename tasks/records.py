"""The one record type of the curation stages and its Parquet schema.

A stage reads a batch of `FaceRecord`s, fills in its columns and writes them
all back, so every stage output is a self-contained artefact. Images travel as
PNG bytes; the source photo's own bytes travel until the crop replaces them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from components.types import Face

OK, REJECTED, ERROR = "ok", "rejected", "error"

POINTS = pa.list_(pa.list_(pa.float64(), 2))

SCHEMA = pa.schema([
    ("source", pa.string()),
    ("sha256", pa.string()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("stage", pa.string()),  # the stage that set a non-ok status
    ("data", pa.binary()),  # the photo file's bytes, until the crop stage
    ("format", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("exif_orientation", pa.int8()),
    ("rotation", pa.int16()),
    ("roll", pa.float64()),
    ("aligned_bbox", pa.list_(pa.float64(), 4)),  # after roll correction, original pixels
    ("aligned_landmarks", POINTS),
    ("bbox", pa.list_(pa.float64(), 4)),  # in the oriented photo's pixels
    ("landmarks", POINTS),  # 5 points, oriented photo's pixels
    ("detection_score", pa.float64()),
    ("face_width", pa.float64()),  # in the original photo's pixels
    ("crop_bbox", pa.list_(pa.float64(), 4)),  # in the 512 crop
    ("crop_landmarks", POINTS),  # 5 points in the crop
    ("landmarks68", POINTS),  # in the crop
    ("outside_fraction", pa.float64()),
    ("image", pa.binary()),  # PNG of the crop (white background once segmented)
    ("mask", pa.binary()),  # PNG, 255 = head
    ("gender", pa.string()),
    ("age", pa.int16()),
    ("trigger_word", pa.string()),
    ("tags", pa.list_(pa.string())),
    ("quality", pa.float64()),
    ("quality_parts", pa.map_(pa.string(), pa.float64())),
    ("embedding", pa.list_(pa.float32())),
    ("identity", pa.string()),
])

# Columns not carried into the final dataset.
INTERNAL = ("data", "stage")


@dataclass
class FaceRecord:
    source: str
    sha256: str
    status: str = OK
    reason: str = ""
    stage: str = ""
    data: bytes | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    exif_orientation: int | None = None
    rotation: int | None = None
    roll: float | None = None
    aligned_bbox: list[float] | None = None
    aligned_landmarks: list[list[float]] | None = None
    bbox: list[float] | None = None
    landmarks: list[list[float]] | None = None
    detection_score: float | None = None
    face_width: float | None = None
    crop_bbox: list[float] | None = None
    crop_landmarks: list[list[float]] | None = None
    landmarks68: list[list[float]] | None = None
    outside_fraction: float | None = None
    image: bytes | None = None
    mask: bytes | None = None
    gender: str | None = None
    age: int | None = None
    trigger_word: str | None = None
    tags: list[str] = field(default_factory=list)
    quality: float | None = None
    quality_parts: dict[str, float] | None = None
    embedding: list[float] | None = None
    identity: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def fail(self, status: str, stage: str, reason: str) -> None:
        self.status, self.stage, self.reason = status, stage, reason

    # -- the one place where a component's Face and this record's columns meet --

    def set_face(self, face: Face, scale: float) -> None:
        """Store a face found in a working copy `scale` times the original in original-photo pixels."""
        self.bbox = (face.bbox / scale).tolist()
        self.landmarks = (face.landmarks / scale).tolist()
        self.detection_score = face.score
        self.face_width = face.width / scale

    def set_aligned_face(self, face: Face, scale: float) -> None:
        self.aligned_bbox = (face.bbox / scale).tolist()
        self.aligned_landmarks = (face.landmarks / scale).tolist()

    def face(self, scale: float) -> Face:
        """The detected face in a working copy `scale` times the original."""
        return Face(bbox=np.asarray(self.bbox) * scale, landmarks=np.asarray(self.landmarks) * scale,
                    score=self.detection_score or 0.0)

    def aligned_face(self, scale: float) -> Face:
        return Face(bbox=np.asarray(self.aligned_bbox) * scale, landmarks=np.asarray(self.aligned_landmarks) * scale,
                    score=self.detection_score or 0.0)

    def landmarks68_array(self) -> np.ndarray:
        return np.asarray(self.landmarks68, dtype=np.float64)


FIELDS = [f.name for f in dataclasses.fields(FaceRecord)]
assert FIELDS == SCHEMA.names, "FaceRecord and SCHEMA must list the same columns in the same order"


def to_table(records: list[FaceRecord]) -> pa.Table:
    columns = {name: [getattr(r, name) for r in records] for name in FIELDS}
    # pyarrow reads a map from a list of (key, value) pairs.
    columns["quality_parts"] = [list(p.items()) if p is not None else None for p in columns["quality_parts"]]
    return pa.table(columns, schema=SCHEMA)


def from_table(table: pa.Table) -> list[FaceRecord]:
    """Records from a stage batch or a dataset part (which lacks the internal columns)."""
    for name in FIELDS:
        if name not in table.column_names:
            table = table.append_column(SCHEMA.field(name), pa.nulls(len(table), SCHEMA.field(name).type))
    table = table.select(FIELDS).cast(SCHEMA)
    rows = table.to_pylist()
    for row in rows:
        if row["quality_parts"] is not None:
            row["quality_parts"] = dict(row["quality_parts"])
    return [FaceRecord(**row) for row in rows]
