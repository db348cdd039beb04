"""The artefacts of the template and pose stages, and readers for them.

`template`: the template photo (decoded, PNG) and its faces numbered left to right;
`template-crop`: one row per chosen face (crop, landmarks, mask, controls);
`pose-map`: the skeleton; `inpaint`: one row per image of one face.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.types import Face
from tasks.face_runs import split_instance
from tasks.imaging import decode_png
from tasks.storage import read_parquet
from tasks.workspace import Workspace

POINTS = pa.list_(pa.list_(pa.float64(), 2))
TEMPLATE_SCHEMA = pa.schema([
    ("source", pa.string()), ("sha256", pa.string()), ("image", pa.binary()), ("width", pa.int32()),
    ("height", pa.int32()), ("scale", pa.float64()),
    ("faces", pa.list_(pa.struct([("number", pa.int32()), ("bbox", pa.list_(pa.float64(), 4)),
                                  ("landmarks", POINTS), ("score", pa.float64())]))),
])
CROP_SCHEMA = pa.schema([
    ("number", pa.int32()), ("left", pa.float64()), ("top", pa.float64()), ("side", pa.float64()),
    ("size", pa.int32()), ("image", pa.binary()), ("landmarks5", POINTS), ("landmarks68", POINTS),
    ("mask", pa.binary()), ("pose_map", pa.binary()), ("canny", pa.binary()), ("body_found", pa.bool_()),
])
POSE_SCHEMA = pa.schema([
    ("source", pa.string()), ("sha256", pa.string()), ("ready_map", pa.bool_()), ("pose_map", pa.binary()),
    ("keypoints", POINTS), ("scores", pa.list_(pa.float64())),
])
INPAINT_SCHEMA = pa.schema([
    ("index", pa.int32()), ("seed", pa.int64()), ("face", pa.int32()), ("style", pa.string()),
    ("prompt", pa.string()), ("negative_prompt", pa.string()), ("image", pa.binary()), ("mask", pa.binary()),
    ("reason", pa.string()),
])
def face_inputs(inputs: dict[str, str], name: str) -> dict[int, str]:
    """{face: path} of a per-face stage's artefacts among a stage's inputs (`inpaint[2]` -> 2), by face."""
    found = {}
    for key, path in inputs.items():
        stage, face = split_instance(key)
        if stage == name and face is not None:
            found[face] = path
    return dict(sorted(found.items()))


def template_row(root: str, template: str) -> dict:
    return read_parquet(Workspace(root).path(template)).to_pylist()[0]


def template_faces(root: str, template: str) -> list[Face]:
    return [Face(bbox=np.asarray(f["bbox"]), landmarks=np.asarray(f["landmarks"]), score=f["score"])
            for f in template_row(root, template)["faces"]]


def template_image(root: str, template: str) -> np.ndarray:
    return decode_png(read_parquet(Workspace(root).path(template)).column("image")[0].as_py())


def pose_map_image(root: str, pose: str) -> np.ndarray:
    return decode_png(read_parquet(Workspace(root).path(pose)).column("pose_map")[0].as_py())


def prepared_faces(root: str, crops: str) -> dict[int, object]:
    """{face number: PreparedFace} of a template-crop artefact."""
    from components.template import SquareCrop
    from components.template_crop import PreparedFace

    out = {}
    for row in read_parquet(Workspace(root).path(crops)).to_pylist():
        out[row["number"]] = PreparedFace(
            number=row["number"], crop=SquareCrop(row["left"], row["top"], row["side"], row["size"]),
            image=decode_png(row["image"]), landmarks5=np.asarray(row["landmarks5"]),
            landmarks68=np.asarray(row["landmarks68"]), mask=decode_png(row["mask"], "L"),
            pose_map=decode_png(row["pose_map"]), canny=decode_png(row["canny"]), body_found=row["body_found"])
    return out
