"""Stages of the template and pose modes that need no diffusion: template faces, template
crops, the pose map, paste-back and ranking of the replaced faces.

Same pattern as tasks/portrait.py: read artefacts by path relative to the job root, call a
component, write one artefact named by its key (inputs + configuration + code), return its
relative path. Inputs (template and pose photos) are hostile: read with the ingest limits
and decoded with `decode_photo`'s, every failure a ValueError naming the file, before any
training starts.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from components.photo import decode_photo
from components.types import Face, FaceTarget, PhotoError
from tasks.config import LoadConfig, PasteConfig, PoseConfig, RankConfig, TemplateConfig, TemplateCropConfig
from tasks.imaging import decode_png, encode_png
from tasks.records import OK
from tasks.storage import digest, read_parquet, write_parquet
from tasks.workspace import Workspace, stage_key

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
PERSON_ARG = re.compile(r"^(\d{1,4})=(.+)$")


# -- inputs, checked before any training ------------------------------------------------------------

def parse_persons(values: list[str]) -> dict[int, str]:
    """`--person N=PHOTOS_OR_JOB` values -> {face number: folder}; two persons for one face is an error."""
    persons: dict[int, str] = {}
    for value in values:
        match = PERSON_ARG.match(value.strip())
        if not match:
            raise ValueError(f"--person {value!r}: expected N=PHOTOS_OR_JOB, e.g. 2=photos/bob")
        number, where = int(match.group(1)), match.group(2)
        if number < 1:
            raise ValueError(f"--person {value!r}: face numbers start at 1")
        if number in persons:
            raise ValueError(f"face {number} is given two persons: {persons[number]!r} and {where!r}")
        persons[number] = where
    return persons


def read_input_photo(path: str, role: str, limits: LoadConfig | TemplateConfig, max_side: int):
    """(bytes, DecodedPhoto) of a user-given template or pose photo, or a ValueError naming it."""
    from tasks.ingest import read_record

    record = read_record(Path(path), [], LoadConfig(max_bytes=limits.max_bytes))
    if record.status != OK:
        raise ValueError(f"{role} {path}: {record.reason}")
    try:
        return record.data, decode_photo(record.data, max_pixels=limits.max_pixels, max_side=max_side,
                                         min_side=limits.min_side)
    except PhotoError as error:
        raise ValueError(f"{role} {path}: {error}") from None


def load_template(template: str, root: str, config: TemplateConfig, faces: list[int], force: bool = False) -> str:
    """Template faces numbered left to right; refuses a template without faces or a face it lacks."""
    from components.template import choose_face, ordered_faces
    from tasks import models

    data, photo = read_input_photo(template, "template", config, config.decode_max_side)
    workspace = Workspace(root)
    output = workspace.stage_file("template", digest("template", file_sha(data), stage_key("template", [], config)))
    if force or not output.exists():
        with models.borrow("detect", config) as detector:
            found = ordered_faces(detector.detect(photo.image))
        row = dict(source=str(template), sha256=file_sha(data), image=encode_png(photo.image),
                   width=photo.image.shape[1], height=photo.image.shape[0], scale=photo.scale,
                   faces=[dict(number=i, bbox=f.bbox.tolist(), landmarks=f.landmarks.tolist(), score=f.score)
                          for i, f in enumerate(found, start=1)])
        write_parquet(output, pa.Table.from_pylist([row], schema=TEMPLATE_SCHEMA))
    found = template_faces(root, workspace.relative(output))
    for number in faces:
        choose_face(found, number)
    return workspace.relative(output)


def template_faces(root: str, template: str) -> list[Face]:
    row = read_parquet(Workspace(root).path(template)).to_pylist()[0]
    return [Face(bbox=np.asarray(f["bbox"]), landmarks=np.asarray(f["landmarks"]), score=f["score"])
            for f in row["faces"]]


def template_image(root: str, template: str) -> np.ndarray:
    return decode_png(read_parquet(Workspace(root).path(template)).column("image")[0].as_py())


def prepare_template_faces(template: str, root: str, faces: list[int], config: TemplateCropConfig,
                           force: bool = False) -> str:
    """Crop, mask and controls of each chosen face (one row per face, in the order given)."""
    from components.landmarks import Dlib68Landmarker
    from components.template_face import prepare_face
    from tasks import models

    workspace = Workspace(root)
    output = workspace.stage_file("template-crop", stage_key("template-crop", [template], config) + digest(faces)[:8])
    if output.exists() and not force:
        return workspace.relative(output)
    image, found = template_image(root, template), template_faces(root, template)
    rows = []
    with models.borrow("pose", config.pose) as estimator:
        for number in faces:
            p = prepare_face(image, found, number, size=config.size, landmarker=Dlib68Landmarker(),
                             pose_estimator=estimator, face_ratio=config.face_ratio, dilate=config.dilate,
                             dilate_below_eyes=config.dilate_below_eyes, canny_low=config.canny_low,
                             canny_high=config.canny_high)
            rows.append(dict(number=p.number, left=p.crop.left, top=p.crop.top, side=p.crop.side, size=p.crop.size,
                             image=encode_png(p.image), landmarks5=p.landmarks5.tolist(),
                             landmarks68=p.landmarks68.tolist(), mask=encode_png(p.mask),
                             pose_map=encode_png(p.pose_map), canny=encode_png(p.canny), body_found=p.body_found))
    write_parquet(output, pa.Table.from_pylist(rows, schema=CROP_SCHEMA))
    return workspace.relative(output)


def prepared_faces(root: str, crops: str) -> dict[int, object]:
    """{face number: PreparedFace} of a template-crop artefact."""
    from components.template import SquareCrop
    from components.template_face import PreparedFace

    out = {}
    for row in read_parquet(Workspace(root).path(crops)).to_pylist():
        out[row["number"]] = PreparedFace(
            number=row["number"], crop=SquareCrop(row["left"], row["top"], row["side"], row["size"]),
            image=decode_png(row["image"]), landmarks5=np.asarray(row["landmarks5"]),
            landmarks68=np.asarray(row["landmarks68"]), mask=decode_png(row["mask"], "L"),
            pose_map=decode_png(row["pose_map"]), canny=decode_png(row["canny"]), body_found=row["body_found"])
    return out


def make_pose_map(root: str, config: PoseConfig, limits: LoadConfig, pose_photo: str | None = None,
                  ready_map: str | None = None, force: bool = False) -> str:
    """The OpenPose skeleton for pose mode: extracted from a photo of a person, or a ready map
    (`--pose-map`) letterboxed to the size. No person -> NoPersonFound, before any training."""
    from components.openpose import draw_body, fit_pose_map
    from tasks import models

    if (pose_photo is None) == (ready_map is None):
        raise ValueError("give exactly one of a pose photo (--pose) and a ready pose map (--pose-map)")
    source = pose_photo or ready_map
    data, photo = read_input_photo(source, "pose photo" if pose_photo else "pose map", limits, limits.max_side)
    workspace = Workspace(root)
    output = workspace.stage_file("pose-map", digest("pose-map", file_sha(data), bool(ready_map),
                                                     stage_key("pose-map", [], config, limits)))
    if output.exists() and not force:
        return workspace.relative(output)
    keypoints, scores = [], []
    if ready_map:
        pose_map = fit_pose_map(photo.image, config.size)
    else:
        with models.borrow("pose", config) as estimator:
            pose = estimator.estimate(_square(photo.image))
        side = max(photo.image.shape[:2])
        pose = pose.scaled(np.array([[config.size / side, 0, 0], [0, config.size / side, 0]]))
        pose_map = draw_body(pose, (config.size, config.size))
        keypoints, scores = np.nan_to_num(pose.keypoints, nan=-1.0).tolist(), pose.scores.tolist()
    row = dict(source=str(source), sha256=file_sha(data), ready_map=bool(ready_map), pose_map=encode_png(pose_map),
               keypoints=keypoints, scores=scores)
    write_parquet(output, pa.Table.from_pylist([row], schema=POSE_SCHEMA))
    return workspace.relative(output)


def _square(image: np.ndarray) -> np.ndarray:
    """Letterboxed (black bars) into a square, so the pose keeps its place when resized to the map."""
    side = max(image.shape[:2])
    out = np.zeros((side, side, 3), np.uint8)
    top, left = (side - image.shape[0]) // 2, (side - image.shape[1]) // 2
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out


def file_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# -- after generation -------------------------------------------------------------------------------

def paste_template(template: str, crops: str, inpainted: list[str], root: str, config: PasteConfig,
                   force: bool = False) -> str:
    """Each image index: its faces pasted one after the other into the full template (the output of
    one face is the template of the next). `inpainted`: one artefact per face, in face order."""
    from components.template import paste_back
    from tasks.portrait import PORTRAIT_SCHEMA

    workspace = Workspace(root)
    output = workspace.stage_file("paste", stage_key("paste", [template, crops, *inpainted], config))
    if output.exists() and not force:
        return workspace.relative(output)
    base, prepared = template_image(root, template), prepared_faces(root, crops)
    per_face = [read_parquet(workspace.path(p)).to_pylist() for p in inpainted]
    rows = []
    for group in zip(*per_face):
        first = dict(group[0])
        reasons = [f"face {row['face']}: {row['reason']}" for row in group if row["image"] is None]
        image = None
        if not reasons:
            image = base
            for row in group:
                face = prepared[row["face"]]
                image = paste_back(image, decode_png(row["image"]), face.image, face.crop,
                                   decode_png(row["mask"], "L"), erode=config.erode, feather=config.feather)
        rows.append({name: first.get(name) for name in PORTRAIT_SCHEMA.names} | dict(
            generated=None, image=encode_png(image) if image is not None else None, reason="; ".join(reasons)))
    write_parquet(output, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
    return workspace.relative(output)


def rank_template(pasted: str, template: str, people: dict[int, tuple[str, str]], root: str, config: RankConfig,
                  force: bool = False) -> str:
    """Ranks template results by the replaced faces only, each against its own person.

    `people`: {face number: (curated part, select artefact)} of the person put on that face.
    """
    from components.ranking import ReplacedFaceRanking
    from tasks import models
    from tasks.portrait import PORTRAIT_SCHEMA, curated_ok
    from tasks.records import from_table

    workspace = Workspace(root)
    inputs = [pasted, template] + [p for number in sorted(people) for p in people[number]]
    output = workspace.stage_file("rank", stage_key("rank-template", inputs, config))
    if output.exists() and not force:
        return workspace.relative(output)
    faces = template_faces(root, template)
    targets = []
    for number, (part, select) in sorted(people.items()):
        chosen = from_table(read_parquet(workspace.path(select)))[0]
        targets.append(FaceTarget(number=number, bbox=faces[number - 1].bbox,
                                  person=np.asarray([r.embedding for r in curated_ok(root, part)], np.float32),
                                  template_embedding=np.asarray(chosen.embedding, np.float32)))
    rows = read_parquet(workspace.path(pasted)).to_pylist()
    candidates = [i for i, row in enumerate(rows) if row["image"] is not None]
    with models.borrow("rank", config, detector="detect:dlib-hog", embedder="embed:dlib-resnet") as ranker:
        scores = ReplacedFaceRanking(ranker).score([decode_png(rows[i]["image"]) for i in candidates], targets)
    write_parquet(output, pa.Table.from_pylist(ranked_rows(rows, candidates, scores, config.keep),
                                               schema=PORTRAIT_SCHEMA))
    return workspace.relative(output)


def ranked_rows(rows: list[dict], candidates: list[int], scores: list, keep: int) -> list[dict]:
    """Rows with score, rank (top `keep`) and reason filled in, best first (rank_images' rules)."""
    from components.ranking import top_k

    for i, score in zip(candidates, scores):
        rows[i].update(faces=score.faces, score=None if math.isnan(score.score) else score.score, reason=score.reason)
    for place, j in enumerate(top_k(scores, keep), start=1):
        rows[candidates[j]]["rank"] = place
    for row in rows:
        if row["rank"] is None and not row["reason"]:
            row["reason"] = f"not in the top {keep}"
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["index"]))

