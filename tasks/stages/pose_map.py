"""pose-map: pose mode's OpenPose skeleton, extracted from a photo of a person or a ready map
letterboxed to the size. No person -> NoPersonFound (before any person is curated or trained)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks import models
from tasks.config import LoadConfig, PoseMapConfig
from tasks.imaging import encode_png
from tasks.inputs import read_input_photo
from tasks.storage import write_parquet
from tasks.template_rows import POSE_SCHEMA
from tasks.workspace import Workspace


def make_pose_map(root: str, output: str, inputs: dict[str, str], pose_map: PoseMapConfig, load: LoadConfig) -> None:
    from components.openpose import draw_body, fit_pose_map

    config = pose_map
    data, photo = read_input_photo(config.image, "pose map" if config.ready else "pose photo", load, load.max_side)
    keypoints, scores = [], []
    if config.ready:
        skeleton = fit_pose_map(photo.image, config.size)
    else:
        with models.borrow("pose", config) as estimator:
            # into a square first (black bars), so the pose keeps its place on the square map
            pose = estimator.estimate(fit_pose_map(photo.image, max(photo.image.shape[:2])))
        scale = config.size / max(photo.image.shape[:2])
        pose = pose.scaled(np.array([[scale, 0, 0], [0, scale, 0]]))
        skeleton = draw_body(pose, (config.size, config.size))
        keypoints, scores = np.nan_to_num(pose.keypoints, nan=-1.0).tolist(), pose.scores.tolist()
    row = dict(source=Path(config.image).name, sha256=hashlib.sha256(data).hexdigest(), ready_map=config.ready,
               pose_map=encode_png(skeleton), keypoints=keypoints, scores=scores)
    write_parquet(Workspace(root).path(output), pa.Table.from_pylist([row], schema=POSE_SCHEMA))

