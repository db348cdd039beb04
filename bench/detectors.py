"""Orientation + detection backends side by side: core-milliseconds and fidelity per photo.

    python bench/detectors.py [--faces ../shared/faces] [--repeat 3]

Every photo of the manifest, turned by 0/90/180/270 degrees, goes through each
backend's orient-then-detect path as the curation stages run it (working copy
<= 2048 px): the HOG vote then HOG detection on the turned photo (current
stages), and the YuNet vote whose winning detection is the detection. Per
backend: core-ms per photo (process CPU time, all threads: what the 2 cores
pay), how often the photo comes out upright, how often the one-face rule gives
the manifest's answer (1 face: kept; many: several faces; 0: no face), the
largest landmark deviation from HOG's on the upright photo (in face widths),
and the embedding distances within and between people.
"""

from __future__ import annotations

import argparse
import csv
import socket
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, save  # noqa: E402
from components.detection import DlibHogDetector, select_face  # noqa: E402
from components.embedding import DlibResnetEmbedder  # noqa: E402
from components.orientation import ROTATIONS, DetectorVoteOrienter, rotate  # noqa: E402
from components.types import Face, Rejected  # noqa: E402
from components.verified_faces import YuNetVoteOrienter  # noqa: E402

FACES = Path(__file__).resolve().parents[2] / "shared" / "faces"


def hog_path():
    orienter, detector = DetectorVoteOrienter(), DlibHogDetector()

    def run(image: np.ndarray) -> tuple[int, list[Face]]:
        rotation = orienter.orient(image).rotation
        return rotation, detector.detect(rotate(image, rotation))

    return run


def yunet_path():
    orienter = YuNetVoteOrienter()

    def run(image: np.ndarray) -> tuple[int, list[Face]]:
        found = orienter.find(image)
        return found.orientation.rotation, found.faces

    return run


BACKENDS = {"dlib HOG vote + HOG detect (before)": hog_path, "YuNet vote = detection, HOG-checked": yunet_path}


def load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((2048, 2048))
        return np.asarray(im).copy()


def outcome(faces: list[Face]) -> str:
    try:
        select_face(faces, min_face_px=64, dominance=4)
        return "1"
    except Rejected as exc:
        return "0" if "no face" in str(exc) else "many"


def measure(name: str, run, photos: list[dict], faces_dir: Path, repeat: int, embedder, reference: dict) -> dict:
    costs = {"upright": [], "turned": [], "no face": []}
    upright, rule, deviation, embeddings, misses = 0, 0, [], {}, []
    for row in photos:
        image = load(faces_dir / row["file"])
        for turned in ROTATIONS:
            photo = rotate(image, turned)
            started = time.process_time()
            for _ in range(repeat):
                rotation, faces = run(photo)
            cost = (time.process_time() - started) / repeat
            costs["no face" if row["faces"] == "0" else "turned" if turned else "upright"].append(cost)
            expected = row["faces"] if row["faces"] in ("0", "1") else "many"
            rule += outcome(faces) == expected
            if outcome(faces) != expected:
                misses.append(f"{row['file']} turned {turned}: {outcome(faces)} face(s)")
            upright += (turned + rotation) % 360 == 0 or row["faces"] == "0"
            if expected == "1" and faces and (turned + rotation) % 360 == 0:
                ref = reference[row["file"]]
                deviation.append(np.abs(faces[0].landmarks - ref.landmarks).max() / ref.width)
                if turned == 0:
                    embeddings[row["file"]] = (row["identity"], embedder.embed(image, faces[0].bbox))
    n = len(photos) * len(ROTATIONS)
    same, other = _distances(embeddings)
    return {"backend": name,
            **{f"core-ms per photo, {kind}": 1000 * float(np.mean(c)) if c else float("nan")
               for kind, c in costs.items()},
            "upright": f"{upright}/{n}", "one-face rule as manifest": f"{rule}/{n}",
            "  missed": "; ".join(misses) or "none",
            "max landmark deviation (face widths)": max(deviation, default=float("nan")),
            "same person max distance": same, "other person min distance": other}


def _distances(embeddings: dict) -> tuple[float, float]:
    items = list(embeddings.values())
    same, other = [], []
    for i, (who_a, a) in enumerate(items):
        for who_b, b in items[i + 1:]:
            (same if who_a == who_b else other).append(float(np.linalg.norm(a - b)))
    return max(same, default=float("nan")), min(other, default=float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=Path, default=FACES)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with open(args.faces / "manifest.csv", newline="") as f:
        photos = list(csv.DictReader(f))
    hog = DlibHogDetector()
    reference = {row["file"]: hog.detect(load(args.faces / row["file"]))[0] for row in photos if row["faces"] == "1"}
    embedder = DlibResnetEmbedder()
    results = [measure(name, make(), photos, args.faces, args.repeat, embedder, reference)
               for name, make in BACKENDS.items()]
    rows = [("photos", f"{len(photos)} from {args.faces.name}/manifest.csv, each turned 0/90/180/270")]
    for result in results:
        rows.append((result["backend"], ""))
        rows += [(f"  {key}", f"{value:.3f}" if isinstance(value, float) else str(value))
                 for key, value in result.items() if key != "backend"]
    text = print_table("orientation + detection backends", rows)
    save(text, f"detectors-{socket.gethostname()}.txt")


if __name__ == "__main__":
    main()
