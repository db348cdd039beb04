"""The curation stages as Prefect tasks, one task per stage and batch of photos.

Each stage function fills in its columns of one `FaceRecord`; `run_stage`
does the rest (read the batch, skip rows already rejected, turn exceptions
into `error`/`rejected` rows, write the batch, return its path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from prefect import task

from components.alignment import levelling_matrix
from components.detection import select_face
from components.types import Alignment, Face, PhotoError, Rejected
from tasks import models
from tasks.config import (
    AlignConfig,
    CropConfig,
    DetectConfig,
    EmbedConfig,
    LoadConfig,
    OrientConfig,
    QualityConfig,
    RetouchConfig,
    SegmentConfig,
    StageConfig,
    TagConfig,
)
from tasks.imaging import decode_png, decode_source, encode_png, oriented_source
from tasks.records import ERROR, REJECTED, FaceRecord, from_table, to_table
from tasks.storage import read_parquet, write_parquet
from tasks.workspace import Workspace, stage_key

StageFn = Callable[[FaceRecord, StageConfig, LoadConfig], None]


def orient(record: FaceRecord, config: OrientConfig, load: LoadConfig) -> None:
    photo = decode_source(record, load)
    record.format, record.exif_orientation = photo.format, photo.exif_orientation
    record.width, record.height = photo.original_size
    with models.borrow("orient", config) as orienter:
        record.rotation = orienter.orient(photo.image).rotation


def detect(record: FaceRecord, config: DetectConfig, load: LoadConfig) -> None:
    image, scale = oriented_source(record, load)
    with models.borrow("detect", config) as detector:
        faces = detector.detect(image)
    face = select_face(faces, min_face_px=config.min_face_px, dominance=config.dominance, pixel_scale=scale)
    _set_face(record, face, scale)


def align(record: FaceRecord, config: AlignConfig, load: LoadConfig) -> None:
    image, scale = oriented_source(record, load)
    with models.borrow("align", config, detector="detect:dlib-hog") as aligner:
        alignment = aligner.align(image, _face_of(record, scale))
    record.roll = alignment.roll
    record.aligned_bbox = (alignment.face.bbox / scale).tolist()
    record.aligned_landmarks = (alignment.face.landmarks / scale).tolist()


def crop(record: FaceRecord, config: CropConfig, load: LoadConfig) -> None:
    image, scale = oriented_source(record, load)
    face = Face(bbox=np.asarray(record.aligned_bbox) * scale,
                landmarks=np.asarray(record.aligned_landmarks) * scale, score=record.detection_score or 0.0)
    alignment = Alignment(roll=record.roll, face=face, matrix=levelling_matrix(image.shape, np.radians(record.roll)),
                          size=(image.shape[1], image.shape[0]))
    with models.borrow("crop", config) as cropper:
        cropped = cropper.crop(image, alignment)
    record.image = encode_png(cropped.image)
    record.crop_bbox = cropped.bbox.tolist()
    record.crop_landmarks = cropped.landmarks.tolist()
    with models.borrow_named("landmarks", config.landmarks) as landmarker:
        record.landmarks68 = landmarker.landmarks68(cropped.image, cropped.bbox).tolist()
    record.outside_fraction = cropped.outside_fraction
    if face_cut_by_border(np.asarray(record.bbox) * scale, image.shape):
        record.tags = [*record.tags, "cut by the photo border"]
    record.data = None  # the crop replaces the source from here on


def segment(record: FaceRecord, config: SegmentConfig, load: LoadConfig) -> None:
    with models.borrow("segment", config) as segmenter:
        result = segmenter.segment(decode_png(record.image), _lm68(record))
    record.image, record.mask = encode_png(result.image), encode_png(result.mask)


def retouch(record: FaceRecord, config: RetouchConfig, load: LoadConfig) -> None:
    if config.strength > 0:
        with models.borrow("retouch", config) as retoucher:
            image = retoucher.retouch(decode_png(record.image), _lm68(record))
        record.image = encode_png(image)


def tag(record: FaceRecord, config: TagConfig, load: LoadConfig) -> None:
    with models.borrow("tag", config) as tagger:
        tags = tagger.tag(decode_png(record.image), np.asarray(record.crop_bbox), _lm68(record))
    record.gender, record.age, record.trigger_word = tags.gender, tags.age, tags.trigger_word
    record.tags = [*tags.tags, *record.tags]


def quality(record: FaceRecord, config: QualityConfig, load: LoadConfig) -> None:
    with models.borrow("quality", config) as scorer:
        result = scorer.score(decode_png(record.image), _lm68(record), record.face_width, record.detection_score)
        weakest = scorer.weakest(result.parts)
    record.quality, record.quality_parts = result.score, dict(result.parts)
    if result.score < config.threshold:
        raise Rejected(f"quality {result.score:.2f} below {config.threshold:.2f} "
                       f"(weakest: {weakest})")


def embed(record: FaceRecord, config: EmbedConfig, load: LoadConfig) -> None:
    with models.borrow("embed", config) as embedder:
        vector = embedder.embed(decode_png(record.image), np.asarray(record.crop_bbox))
    record.embedding = [float(v) for v in vector]


STAGES: dict[str, tuple[StageFn, type[StageConfig], str]] = {
    "orient": (orient, OrientConfig, "EXIF orientation, then a 4-way face-detector vote"),
    "detect": (detect, DetectConfig, "face detection with 5 landmarks; one dominant face or rejected"),
    "align": (align, AlignConfig, "least-squares roll correction, then detect again"),
    "crop": (crop, CropConfig, "square crop, face centred, white outside; 68 landmarks"),
    "segment": (segment, SegmentConfig, "head mask (face + hair), background white"),
    "retouch": (retouch, RetouchConfig, "edge-preserving skin smoothing"),
    "tag": (tag, TagConfig, "gender, age, trigger word and attribute tags"),
    "quality": (quality, QualityConfig, "quality score in [0, 1]; low scores rejected"),
    "embed": (embed, EmbedConfig, "128-d identity embedding"),
}


def apply_stage(stage: str, records: list[FaceRecord], config: StageConfig, load: LoadConfig) -> None:
    """Run one stage over a batch; a photo's failure never stops the others."""
    fn = STAGES[stage][0]
    for record in records:
        if not record.ok:
            continue
        try:
            fn(record, config, load)
        except MemoryError:
            raise  # the job must fail visibly, not blame one photo
        except Rejected as exc:
            record.fail(REJECTED, stage, str(exc))
        except PhotoError as exc:
            record.fail(ERROR, stage, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per photo
            record.fail(ERROR, stage, f"{stage} failed: {type(exc).__name__}: {exc}")


def run_stage(stage: str, batch: str, root: str, config: StageConfig, load: LoadConfig, force: bool = False) -> str:
    """Read a batch, apply a stage, write the result under its key; return its relative path.

    An existing output was written whole (atomic rename) by an earlier run,
    maybe one that was killed later: it is reused unless `force`.
    """
    workspace = Workspace(root)
    output = workspace.stage_file(stage, stage_key(stage, [batch], config, load))
    if force or not output.exists():
        records = from_table(read_parquet(workspace.path(batch)))
        apply_stage(stage, records, config, load)
        write_parquet(output, to_table(records))
    return workspace.relative(output)


def stage_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """Prefect cache key = our artefact key (the flow re-runs a hit whose artefact is gone)."""
    stage = parameters["stage"]
    return f"{stage}-{stage_key(stage, [parameters['batch']], parameters['config'], parameters['load'])}"


curation_stage = task(run_stage, name="curation-stage", cache_key_fn=stage_cache_key, persist_result=True,
                      task_run_name="{stage}")


def face_cut_by_border(bbox: np.ndarray, shape: tuple[int, ...], margin: float = 0.02) -> bool:
    """The face box reaches the photo's edge (the crop's white padding alone says nothing)."""
    height, width = shape[:2]
    x0, y0, x1, y1 = bbox
    pad = margin * (x1 - x0)
    return x0 < pad or y0 < pad or x1 > width - pad or y1 > height - pad


def _set_face(record: FaceRecord, face: Face, scale: float) -> None:
    """Store a face found in the working copy in original-photo pixels."""
    record.bbox = (face.bbox / scale).tolist()
    record.landmarks = (face.landmarks / scale).tolist()
    record.detection_score = face.score
    record.face_width = face.width / scale


def _face_of(record: FaceRecord, scale: float) -> Face:
    return Face(bbox=np.asarray(record.bbox) * scale, landmarks=np.asarray(record.landmarks) * scale,
                score=record.detection_score or 0.0)


def _lm68(record: FaceRecord) -> np.ndarray:
    return np.asarray(record.landmarks68, dtype=np.float64)

