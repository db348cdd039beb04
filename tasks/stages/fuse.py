"""fuse: the template face aligned, colour-matched and blended onto each generated image."""

from __future__ import annotations

from tasks import models
from tasks.config import FuseConfig
from tasks.imaging import decode_png, encode_png
from tasks.portrait_rows import read_rows, selected_record, write_rows


def fuse_images(root: str, output: str, inputs: dict[str, str], fuse: FuseConfig) -> None:
    rows = read_rows(root, inputs["generate"])
    template = decode_png(selected_record(root, inputs["select"]).image)
    with models.borrow("fuse", fuse) as fuser:
        for row in rows:
            fused = fuser.fuse(template, decode_png(row["generated"]))
            row["image"] = encode_png(fused.image) if fused.image is not None else None
            row["reason"] = fused.reason
    write_rows(root, output, rows)
