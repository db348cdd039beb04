"""`--profile facechain`: a curation run and a portrait job with every seed backend at once.

Every model is a random-weight folder of the real architecture (FQA and
rot_bgr: stand-in ONNX graphs of the same inputs and outputs) in a ModelScope
cache layout, found offline by its id. Random weights make random decisions,
so three settings keep photos alive for the rest of the job to see them, and
say so: the stand-in rotation classifier may not turn the (upright) photos,
M2FP's instances need only 0.1 (its tied class head never reaches 0.8), and
FLCM's random score filters nothing. The assertions check that each backend
ran: its own marks in the dataset and the results.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flows.cli import main
from tests.imagetools import downscaled_copies

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

FOLDERS = {"rot_bgr": "Cherrytest/rot_bgr", "m2fp": "damo/cv_resnet101_image-multiple-human-parsing",
           "fairface": "damo/cv_resnet34_face-attribute-recognition_fairface",
           "flcm": "damo/cv_manual_facial-landmark-confidence_flcm",
           "fqa": "damo/cv_manual_face-quality-assessment_fqa", "rts": "damo/cv_ir_face-recognition-ood_rts"}
RANDOM_WEIGHT_SETTINGS = ["--set", "orient.min_score=1.0", "--set", "quality.threshold=0"]
M2FP_RANDOM_WEIGHTS = ["--set", "segment.min_score=0.1"]


@pytest.fixture
def facechain_cache(seed_model, tmp_path, monkeypatch):
    cache = tmp_path / "modelscope"
    for name, model_id in FOLDERS.items():
        shutil.copytree(seed_model(name), cache / "models" / model_id)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(cache))
    return cache


@pytest.fixture
def photos(faces_dir, tmp_path):
    return downscaled_copies(faces_dir, tmp_path / "photos", ("obama.jpg", "obama2.jpg"), 700)


def test_facechain_profile_curates_with_every_seed_backend(facechain_cache, photos, tmp_path):
    out = tmp_path / "out"
    assert main(["curate", str(photos), "--out", str(out), "--no-progress", "--profile", "facechain",
                 *RANDOM_WEIGHT_SETTINGS, *M2FP_RANDOM_WEIGHTS]) == 0
    data = pd.read_parquet(out / "faces")
    assert (data.status == "ok").all(), data.reason.tolist()
    assert (data.rotation == 0).all()  # rot_bgr ran and, unsure, left them upright
    for _, row in data.iterrows():
        assert dict(row.quality_parts).keys() == {"landmark_confidence"}  # FLCM's score, not the measured one
        assert any(t.startswith("age ") and "-" in t for t in row.tags)  # FairFace's age bin
        mask = np.asarray(Image.open(pd.io.common.BytesIO(row["mask"])))
        assert 0 < (mask > 0).mean() < 1  # M2FP's head


def test_facechain_profile_runs_a_portrait_job(facechain_cache, photos, faces_dir, tmp_path, monkeypatch):
    from components import registry
    from tests.flows.test_portrait_flow import ReplayGenerator

    with Image.open(faces_dir / "obama3.jpg") as im:
        im.thumbnail((600, 600))
        ReplayGenerator.photos = [np.asarray(im.convert("RGB"))]
    # The tiny model draws no face: real photos stand in for its images so that fusion and RTS see faces.
    # Random M2FP masks white out parts of the face, where RTS must find it again in the template:
    # M2FP ran in the curation test above; here the embedded segmentation keeps the faces whole.
    monkeypatch.setitem(registry.REGISTRY, "generate", {"replay": "tests.flows.test_portrait_flow:ReplayGenerator"})
    out = tmp_path / "out"
    assert main(["portrait", str(photos), "--user", "fc", "--style", "studio_headshot", "--out", str(out),
                 "--base-model", "tiny", "--train-steps", "2", "--resolution", "64", "--num-images", "2",
                 "--keep", "1", "--gen-steps", "1", "--no-progress", "--profile", "facechain",
                 *RANDOM_WEIGHT_SETTINGS, "--set", "generate.backend=replay", "--set", "segment.backend=grabcut"]) == 0
    job = out / "fc"
    record = pd.read_json(job / "runs" / "portrait.json", typ="series")
    assert record["config"]["rank"]["backend"] == "rts" and record["config"]["select"]["backend"] == "fqa"
    results = pd.read_parquet(job / "results.parquet")
    assert results.kept.sum() == 1 and results.score.notna().all()  # RTS cosine scores of the fused faces
