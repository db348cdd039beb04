"""template-crop: each chosen template face's square crop, face mask, pose map and Canny edges.

Refuses a face number the template does not have (before any person is curated or trained).
"""

from __future__ import annotations

import pyarrow as pa

from tasks import models
from tasks.config import TemplateCropConfig
from tasks.imaging import encode_png
from tasks.storage import write_parquet
from tasks.template_rows import CROP_SCHEMA, template_faces, template_image
from tasks.workspace import Workspace


def crop_template_faces(root: str, output: str, inputs: dict[str, str], template_crop: TemplateCropConfig,
                        faces: tuple[int, ...]) -> None:
    from components.template import choose_face
    from components.template_crop import prepare_face

    found = template_faces(root, inputs["template"])
    for number in faces:  # every face checked before any is prepared
        choose_face(found, number)
    image, config, rows = template_image(root, inputs["template"]), template_crop, []
    with models.borrow("pose", config.pose) as estimator, models.borrow_named("landmarks", "dlib-68") as landmarker:
        for number in faces:
            p = prepare_face(image, found, number, size=config.size, landmarker=landmarker,
                             pose_estimator=estimator, face_ratio=config.face_ratio, dilate=config.dilate,
                             dilate_below_eyes=config.dilate_below_eyes, canny_low=config.canny_low,
                             canny_high=config.canny_high)
            rows.append(dict(number=p.number, left=p.crop.left, top=p.crop.top, side=p.crop.side, size=p.crop.size,
                             image=encode_png(p.image), landmarks5=p.landmarks5.tolist(),
                             landmarks68=p.landmarks68.tolist(), mask=encode_png(p.mask),
                             pose_map=encode_png(p.pose_map), canny=encode_png(p.canny), body_found=p.body_found))
    write_parquet(Workspace(root).path(output), pa.Table.from_pylist(rows, schema=CROP_SCHEMA))
