"""paste (template jobs): for each image index, every face's result pasted into the full template,
one after the other (the output of one face is the template of the next); outside the faces'
masks the template comes back unchanged. An image with a face that failed keeps the faces that
worked and says which failed (it is not ranked)."""

from __future__ import annotations

from tasks.config import PasteConfig
from tasks.imaging import decode_png, encode_png
from tasks.portrait_rows import PORTRAIT_SCHEMA, read_rows, write_rows
from tasks.template_rows import face_inputs, prepared_faces, template_image


def paste_faces(root: str, output: str, inputs: dict[str, str], paste: PasteConfig) -> None:
    from components.template import paste_back

    base, prepared = template_image(root, inputs["template"]), prepared_faces(root, inputs["template-crop"])
    per_face = [read_rows(root, path) for path in face_inputs(inputs, "inpaint").values()]
    rows = []
    for group in zip(*per_face):
        image, reasons = base, []
        for row in group:
            if row["image"] is None:
                reasons.append(f"face {row['face']}: {row['reason']}")
                continue
            face = prepared[row["face"]]
            image = paste_back(image, decode_png(row["image"]), face.image, face.crop, decode_png(row["mask"], "L"),
                               erode=paste.erode, feather=paste.feather)
        first = group[0]
        rows.append({name: first.get(name) for name in PORTRAIT_SCHEMA.names} | dict(
            generated=None, image=encode_png(image), faces=None, score=None, rank=None, reason="; ".join(reasons)))
    write_rows(root, output, rows)
