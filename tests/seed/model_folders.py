"""Model folders in ModelScope's layout with randomly initialised weights of the real architectures.

No hub is reachable here, so each test model is the real network class from
the `modelscope` package with random weights, saved as the hub's file would be
(`configuration.json` + weights), so loading goes through modelscope's own
code. FQA and rot_bgr exist only as the hub's ONNX files: their stand-ins are
tiny ONNX graphs with the same inputs and outputs (wiring tests only).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import components  # noqa: F401  before modelscope: installs the torchvision import guard

SEED = 0


def _write_config(folder: Path, task: str, pipeline_type: str, model: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"framework": "pytorch", "task": task, "pipeline": {"type": pipeline_type}}
    if model is not None:
        config["model"] = model
    (folder / "configuration.json").write_text(json.dumps(config, indent=2))
    return folder


def _save(state: dict, path: Path) -> None:
    import torch

    torch.save(state, path)


def write_rts(folder: Path) -> Path:
    import torch
    from modelscope.models.cv.face_recognition.torchkit.rts_backbone import RTSBackbone

    torch.manual_seed(SEED)
    # rts_plus=False: the head FaceChain's revision uses; alpha only sizes the unused RTS+ head.
    model = RTSBackbone(alpha=16, rts_plus=False)
    folder.mkdir(parents=True, exist_ok=True)
    _save(model.state_dict(), folder / "pytorch_model.pt")
    return _write_config(folder, "face-recognition", "ir-face-recognition-rts",
                         {"type": "rts-backbone", "am_model_name": "pytorch_model.pt", "alpha": 16, "rts_plus": False})


def write_fairface(folder: Path) -> Path:
    import torch
    from torch import nn

    from components.seed.torchvision_cpu import import_torchvision

    torch.manual_seed(SEED)
    net = import_torchvision().models.resnet34(weights=None)
    net.fc = nn.Linear(net.fc.in_features, 18)
    folder.mkdir(parents=True, exist_ok=True)
    _save(net.state_dict(), folder / "pytorch_model.pt")
    return _write_config(folder, "face-attribute-recognition", "resnet34-face-attribute-recognition-fairface",
                         )


def write_flcm(folder: Path) -> Path:
    import torch
    from modelscope.models.cv.facial_landmark_confidence.flc.manual_landmark_net import LandmarkConfidence

    torch.manual_seed(SEED)
    state = LandmarkConfidence(landmark_count=5).state_dict()
    # The hub file stores this classifier weight transposed; modelscope transposes it back on load.
    state["rp_net.binary_cls.weight"] = state["rp_net.binary_cls.weight"].t().contiguous()
    folder.mkdir(parents=True, exist_ok=True)
    _save({"state_dict": state}, folder / "pytorch_model.pt")
    return _write_config(folder, "face-2d-keypoints", "manual-facial-landmark-confidence-flcm")


def write_fqa_standin(folder: Path) -> Path:
    """Stand-in for FQA's model.onnx: [1, 3, 112, 112] -> [1, 1] in (0, 1)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_classifier_onnx(folder / "model.onnx", size=112, outputs=1, sigmoid=True)
    return _write_config(folder, "face-quality-assessment", "manual-face-quality-assessment-fqa")


def write_rot_bgr_standin(folder: Path) -> Path:
    """Stand-in for rot_bgr.onnx: [1, 3, 224, 224] -> [1, 4] logits (FaceChain reads it with onnxruntime)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_classifier_onnx(folder / "rot_bgr.onnx", size=224, outputs=4, sigmoid=False)
    return folder


def write_classifier_onnx(path: Path, *, size: int, outputs: int, sigmoid: bool) -> None:
    """Global average pool -> linear (random weights) [-> sigmoid], opset 17."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)
    weight = numpy_helper.from_array(rng.normal(0, 1, (3, outputs)).astype(np.float32), "weight")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, (outputs,)).astype(np.float32), "bias")
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits" if sigmoid else "output"])]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["output"]))
    graph = helper.make_graph(
        nodes, "standin", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, outputs])], [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


# CIHP's 20 part classes and the person ("Human"), M2FP's multiple-human parsing labels.
CIHP_CLASSES = ["Background", "Hat", "Hair", "Glove", "Sunglasses", "UpperClothes", "Dress", "Coat", "Socks", "Pants",
                "Torso-skin", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg",
                "Left-shoe", "Right-shoe", "Human"]


def m2fp_model_config() -> dict:
    """M2FP ResNet-101 on CIHP, as published (Mask2Former's R101 deeplab-stem settings)."""
    return {
        "type": "m2fp",
        "pretrained": True,
        "backbone": {"out_features": ["res2", "res3", "res4", "res5"], "depth": 101, "num_groups": 1,
                     "width_per_group": 64, "norm": "BN", "stem_out_channels": 128, "res2_out_channels": 256,
                     "stride_in_1x1": False, "res4_dilation": 1, "res5_dilation": 1, "res5_multi_grid": [1, 1, 1]},
        "encoder": {"in_features": ["res2", "res3", "res4", "res5"], "transformer_dropout": 0.0,
                    "transformer_nheads": 8, "transformer_dim_feedforward": 1024, "transformer_enc_layers": 6,
                    "conv_dim": 256, "mask_dim": 256, "transformer_in_features": ["res3", "res4", "res5"],
                    "common_stride": 4},
        "decoder": {"num_classes": len(CIHP_CLASSES), "hidden_dim": 256, "num_queries": 100, "nheads": 8,
                    "dim_feedforward": 2048, "dec_layers": 10, "pre_norm": False, "mask_dim": 256,
                    "enforce_input_project": False},
        "classes": CIHP_CLASSES,
        "num_parsing": len(CIHP_CLASSES) - 1,
        "single_human": False,
        "parsing_on": True,
        "semantic_on": False,
        "sem_seg_postprocess_before_inference": True,
    }


def write_m2fp(folder: Path, *, favour: tuple[str, ...] = ("Face", "Hair", "Human")) -> Path:
    """Random M2FP weights, except a class head that splits every query evenly between `favour`.

    With plain random weights every instance scores ~1/21 and M2FP's own 0.1
    instance threshold drops them all; with the class head tied between the
    favoured classes (and the others suppressed) the top-100 instances are
    a mix of those classes scoring ~1/len(favour) times their random mask's
    confidence, so the backend's own mapping gets real work to do."""
    import torch

    from components.seed.mmcv_msda import install
    from components.seed.torchvision_cpu import import_torchvision

    install()
    import_torchvision()
    from modelscope.models.cv.image_human_parsing import M2FP

    torch.manual_seed(SEED)
    config = m2fp_model_config()
    # M2FP pops keys from the dicts it is given: build from a copy, save the original.
    arguments = copy.deepcopy({k: v for k, v in config.items() if k not in ("type", "pretrained")})
    model = M2FP(str(folder), **arguments)
    state = model.state_dict()
    favoured = [CIHP_CLASSES.index(label) for label in favour]
    for name in [k for k in state if k.endswith("class_embed.weight")]:
        state[name].zero_()
        bias = state[name.replace(".weight", ".bias")]
        bias.fill_(-20.0)
        bias[favoured] = 0.0
    folder.mkdir(parents=True, exist_ok=True)
    _save({"model": state}, folder / "pytorch_model.pt")
    return _write_config(folder, "image-segmentation", "m2fp-image-human-parsing", config)
