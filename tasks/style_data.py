"""Style training's inputs: the pictures (no face needed) and their captions.

Pictures are read like curation reads photos (size limits, symlinks leaving
the input folders not followed, decoding of untrusted bytes) but nothing is
rejected for lacking a face. Captions come from a per-image `.txt`, else a
line `FILE<TAB>caption` (or `FILE: caption`) of a `captions.txt`, else the
embedded tagger where a face is found, else a fixed caption.

The training stage reads its pictures from a manifest (the pictures' paths,
content hashes and given captions, in a fixed order), keyed by what they
hold: the same pictures and captions from anywhere give the same style.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from components.diffusion.style_training import style_caption
from components.photo import decode_photo
from components.types import PhotoError, Tags, TrainingExample
from tasks.config import DetectConfig, LoadConfig, TagConfig
from tasks.digests import digest
from tasks.ingest import discover, display_path, read_record
from tasks.records import OK

CAPTIONS_FILE = "captions.txt"
MAX_CAPTION_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StylePicture:
    path: Path
    sha256: str
    data: bytes
    given_caption: str | None  # from a .txt or captions.txt; None: tagger or fixed


def style_pictures(inputs: list[str], load: LoadConfig,
                   captions_file: str | None = None) -> tuple[list[StylePicture], list[str]]:
    """(readable pictures with their given captions, "file: reason" for each one skipped)."""
    files, _ignored = discover(inputs)
    roots = [Path(i).resolve() for i in inputs if Path(i).is_dir()]
    listed = read_captions_files(_caption_files(inputs, captions_file))
    pictures, skipped, seen = [], [], set()
    for path in files:
        record = read_record(path, roots, load)
        if record.status != OK:
            skipped.append(f"{record.source}: {record.reason}")
        elif record.sha256 in seen:
            skipped.append(f"{record.source}: duplicate picture")
        else:
            seen.add(record.sha256)
            pictures.append(StylePicture(path, record.sha256, record.data, _given_caption(path, listed)))
    if not pictures:
        raise ValueError(f"no readable picture among {len(files)} file(s) in {', '.join(inputs)}"
                         + (f": {'; '.join(skipped[:5])}" if skipped else ""))
    return pictures, skipped


def pictures_key(pictures: list[StylePicture]) -> str:
    """What a style is learnt from: the pictures' content and their given captions (not their paths)."""
    return digest(sorted((p.sha256, p.given_caption or "") for p in pictures))


def pictures_manifest(pictures: list[StylePicture], skipped: list[str]) -> dict:
    """The pictures as the training stage reads them again, ordered by content (not by where they lie)."""
    rows = [{"path": str(p.path.resolve()), "file": display_path(p.path), "sha256": p.sha256,
             "caption": p.given_caption} for p in pictures]
    return {"pictures": sorted(rows, key=lambda row: row["sha256"]), "skipped": skipped}


def manifest_pictures(manifest: dict, load: LoadConfig) -> list[StylePicture]:
    """The manifest's pictures read again; one that changed since it was written is an error, not a new style."""
    pictures = []
    for row in manifest["pictures"]:
        path = Path(row["path"])
        record = read_record(path, [], load)
        if record.status != OK or record.sha256 != row["sha256"]:
            raise ValueError(f"{row['file']}: {record.reason or 'content changed'} since train-style listed it; "
                             "run train-style again")
        pictures.append(StylePicture(path, record.sha256, record.data, row["caption"]))
    return pictures


def read_captions_files(paths: list[Path]) -> dict[Path, str]:
    """Picture path (resolved next to its captions.txt) -> caption."""
    captions: dict[Path, str] = {}
    for path in paths:
        for number, line in enumerate(_read_text(path).splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, caption = line.partition("\t") if "\t" in line else line.partition(":")
            if not sep or not name.strip() or not caption.strip():
                raise ValueError(f"{path}:{number}: expected 'FILE<TAB>caption' or 'FILE: caption'")
            captions[(path.parent / name.strip()).resolve()] = caption.strip()
    return captions


def decode_picture(picture: StylePicture, load: LoadConfig) -> np.ndarray:
    """Upright RGB working copy (long side at most load.max_side)."""
    try:
        return decode_photo(picture.data, max_pixels=load.max_pixels, max_side=load.max_side,
                            min_side=load.min_side).image
    except PhotoError as error:
        raise ValueError(f"{display_path(picture.path)}: {error}") from None


def shrink(image: np.ndarray, short_side: int) -> np.ndarray:
    """The short side brought down to `short_side` (training crops are taken from it)."""
    h, w = image.shape[:2]
    if min(h, w) <= short_side:
        return image
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def face_tags(image: np.ndarray) -> Tags | None:
    """The embedded tagger's words for the largest face, or None when there is no usable face."""
    from tasks import models

    with models.borrow("detect", DetectConfig()) as detector:
        faces = detector.detect(image)
    if not faces:
        return None
    face = faces[0]
    try:
        with models.borrow_named("landmarks", "dlib-68") as landmarker:
            landmarks = landmarker.landmarks68(image, face.bbox)
        with models.borrow("tag", TagConfig()) as tagger:
            return tagger.tag(image, face.bbox, landmarks)
    except ValueError:  # the age/gender model found no face in the box: caption it like a faceless picture
        return None


def style_examples(pictures: list[StylePicture], load: LoadConfig, resolution: int, trigger: str, fixed: str,
                   tag_faces: bool, min_fraction: float = 0.8) -> tuple[list[TrainingExample], list[dict]]:
    """Training examples (whole-image box) and, per picture, its caption and where the caption came from."""
    short_side = math.ceil(resolution / min_fraction)
    examples, rows = [], []
    for picture in pictures:
        image = decode_picture(picture, load)
        # Tag at the working size (faces too small for the detector once shrunk for training).
        tags = face_tags(image) if tag_faces and picture.given_caption is None else None
        caption, source = style_caption(trigger, picture.given_caption, tags, fixed)
        image = shrink(image, short_side)
        h, w = image.shape[:2]
        examples.append(TrainingExample(image=image, bbox=np.array([0.0, 0.0, w, h]), caption=caption))
        rows.append({"file": display_path(picture.path), "sha256": picture.sha256, "caption": caption,
                     "caption_source": source})
    return examples, rows


def _caption_files(inputs: list[str], explicit: str | None) -> list[Path]:
    found = [Path(i) / CAPTIONS_FILE for i in inputs if (Path(i) / CAPTIONS_FILE).is_file()]
    if explicit is not None:
        if not Path(explicit).is_file():
            raise FileNotFoundError(f"captions file not found: {explicit}")
        found.append(Path(explicit))
    return found


def _given_caption(path: Path, listed: dict[Path, str]) -> str | None:
    sidecar = path.with_suffix(".txt")
    # A linked caption could pull in any file of the machine: only plain files next to the picture.
    if sidecar.is_file() and not sidecar.is_symlink() and sidecar.name != CAPTIONS_FILE:
        text = _read_text(sidecar).strip()
        if text:
            return " ".join(text.split())
    return listed.get(path.resolve())


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_CAPTION_BYTES:
        raise ValueError(f"{path}: caption file larger than {MAX_CAPTION_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: caption file is not UTF-8 text") from None
