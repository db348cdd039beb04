"""template: the template photo read with limits, its faces found and numbered left to right."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from components.template import FaceNumberError, ordered_faces
from tasks import models
from tasks.config import TemplateConfig
from tasks.imaging import encode_png
from tasks.inputs import read_input_photo
from tasks.storage import write_parquet
from tasks.template_rows import TEMPLATE_SCHEMA
from tasks.workspace import Workspace


def find_template_faces(root: str, output: str, inputs: dict[str, str], template: TemplateConfig) -> None:
    data, photo = read_input_photo(template.image, "template", template, template.decode_max_side)
    with models.borrow("detect", template) as detector:
        found = ordered_faces(detector.detect(photo.image))
    if not found:
        raise FaceNumberError(f"no face found in the template photo {Path(template.image).name}")
    row = dict(source=Path(template.image).name, sha256=hashlib.sha256(data).hexdigest(),
               image=encode_png(photo.image), width=photo.image.shape[1], height=photo.image.shape[0],
               scale=photo.scale, faces=[dict(number=i, bbox=f.bbox.tolist(), landmarks=f.landmarks.tolist(),
                                              score=f.score) for i, f in enumerate(found, start=1)])
    write_parquet(Workspace(root).path(output), pa.Table.from_pylist([row], schema=TEMPLATE_SCHEMA))
