"""inpaint (template jobs, per face): each fused image of the face's person aligned onto the
template face, inpainted under the ControlNets (face points, template edges), refined, and fused
again with the person's selected photo; crop-sized rows for `paste`.

It reads detection, crops, training and generation from their artefacts: a new strength
re-runs this stage, `paste` and `rank` only.
"""

from __future__ import annotations

import pyarrow as pa

from components.types import Rejected
from tasks import models
from tasks.config import BaseModelConfig, ControlNetConfig, DetectConfig, FuseConfig, GenerateConfig, InpaintConfig, \
    TrainFreeConfig
from tasks.controlled import identity_for, inpaint_pipeline_for
from tasks.job_style import make_request
from tasks.gpu import GpuConfig, gpu_slot
from tasks.imaging import decode_png, encode_png
from tasks.job_style import JobStyle
from tasks.portrait_rows import read_rows, selected_record
from tasks.storage import write_parquet
from tasks.template_rows import INPAINT_SCHEMA, prepared_faces
from tasks.workspace import Workspace


def inpaint_face(root: str, output: str, inputs: dict[str, str], inpaint: InpaintConfig, generate: GenerateConfig,
                 controlnets: ControlNetConfig, base: BaseModelConfig, style: JobStyle, fuse: FuseConfig, face: int,
                 train_free: TrainFreeConfig | None = None, gpu: GpuConfig | None = None) -> None:
    from components.template_face import InpaintSettings, replace_face

    prepared = prepared_faces(root, inputs["template-crop"])[face]
    person_photo = decode_png(selected_record(root, inputs["select"]).image)
    settings = InpaintSettings(strength=inpaint.strength, scales=(inpaint.pose_scale, inpaint.canny_scale),
                               refine_strength=inpaint.refine_strength,
                               refine_scales=(inpaint.refine_pose_scale, inpaint.refine_canny_scale), init=inpaint.init)
    rows = []
    with gpu_slot(gpu), models.borrow("detect", DetectConfig()) as detector, \
            models.borrow("fuse", fuse) as fuser, models.borrow_named("landmarks", "dlib-68") as landmarker:
        identity = identity_for(root, inputs["curate"], inputs.get("train"), base, style, train_free)
        pipeline = inpaint_pipeline_for(controlnets, base)
        for row in read_rows(root, inputs["fuse"]):
            out = dict(index=row["index"], seed=row["seed"], face=face, style=row["style"], prompt=row["prompt"],
                       negative_prompt=row["negative_prompt"], image=None, mask=None, reason=row["reason"])
            if row["image"] is not None:
                request = make_request(generate, style, row["prompt"], row["negative_prompt"], [row["seed"]],
                                       prepared.crop.size, prepared.crop.size, inpaint.steps)
                try:
                    replaced = replace_face(prepared, decode_png(row["image"]), detector=detector,
                                            landmarker=landmarker, identity=identity, pipeline=pipeline,
                                            request=request, settings=settings)
                except Rejected as error:
                    out["reason"] = str(error)
                else:
                    again = fuser.fuse(person_photo, replaced.image)  # FaceChain fuses once more at the end
                    image = again.image if again.image is not None else replaced.image
                    out.update(image=encode_png(image), mask=encode_png(replaced.mask), reason="")
            rows.append(out)
    write_parquet(Workspace(root).path(output), pa.Table.from_pylist(rows, schema=INPAINT_SCHEMA))
