"""Train-free portraits end to end: train a tiny adapter on a curated dataset, then use it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flows.cli import main
from flows.curate import curate_flow
from flows.config import CurationConfig
from flows.portrait import portrait_flow
from tasks.config import FastConfig, TrainFreeConfig
from tests.flows.test_portrait_flow import tiny_config

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, faces_dir):
    from PIL import Image

    folder = tmp_path_factory.mktemp("people")
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        with Image.open(faces_dir / name) as im:
            im.thumbnail((1000, 1000))
            im.convert("RGB").save(folder / name, quality=92)
    out = tmp_path_factory.mktemp("curated")
    curate_flow(inputs=[str(folder)], out=str(out), config=CurationConfig(progress=False))
    return folder, out


@pytest.fixture(scope="module", params=["fact", "feedface"])
def adapter(request, dataset, tmp_path_factory):
    _, curated = dataset
    out = tmp_path_factory.mktemp(f"adapter-{request.param}")
    args = ["train-adapter", str(curated / "faces"), "--kind", request.param, "--out", str(out),
            "--steps", "12", "--resolution", "64", "--checkpoint-every", "4", "--lr", "3e-3", "--base-model", "tiny"]
    assert main(args) == 0
    return request.param, out, args


def test_adapter_saved_with_report_and_loss_curve(adapter):
    kind, out, _ = adapter
    info = json.loads((out / "adapter.json").read_text())
    assert info["kind"] == kind and len(info["losses"]) == 12
    assert info["identities"] == 2  # obama's three photos cluster together, biden apart
    report = (out / "report.html").read_text()
    assert "loss per step" in report and report.count("data:image/png;base64,") == 1
    assert list(out.glob("adapters/*/checkpoints/step-*.safetensors"))


def test_training_again_reuses_the_adapter(adapter):
    _, out, args = adapter
    before = (out / "adapter.safetensors").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "adapter.safetensors").stat().st_mtime_ns == before


def test_train_free_portrait_job(adapter, dataset, tmp_path):
    kind, out, _ = adapter
    photos, _ = dataset
    config = tiny_config("frank", mode="train-free", train_free=TrainFreeConfig(adapter=str(out), scale=0.5))
    summary = portrait_flow(photos=[str(photos / "obama.jpg"), str(photos / "obama2.jpg")], out=str(tmp_path),
                            config=config)
    job = tmp_path / "frank"
    results = pd.read_parquet(job / "results.parquet")
    assert len(results) == 3 and (job / "report.html").is_file()
    assert not (job / "face_lora.safetensors").exists() and not (job / "lora").exists()
    assert summary["mode"] == "train-free" and summary["steps trained"] == "0"
    record = json.loads((job / "runs" / "portrait.json").read_text())
    assert "train" not in record["stages"] and record["stages"]["generate"]["state"] == "done"

    # the same job under fast sampling (an LCM-named LoRA and its scheduler): generated again, other images
    from tests.flows.test_sdxl_portrait import _lora_file

    fast = FastConfig(spec=str(_lora_file(tmp_path / "lcm-lora-tiny.safetensors", "tiny", 3)))
    portrait_flow(photos=[str(photos / "obama.jpg"), str(photos / "obama2.jpg")], out=str(tmp_path),
                  config=config.model_copy(update={"fast": fast}))
    record = json.loads((job / "runs" / "portrait.json").read_text())
    assert record["stages"]["generate"]["state"] == "done"
    quick = pd.read_parquet(job / "results.parquet")
    assert list(quick.seed) == list(results.seed) and all(a != b for a, b in zip(quick.image, results.image))


def test_train_free_needs_an_adapter(tmp_path):
    with pytest.raises(ValueError, match="needs an adapter"):
        tiny_config("gina", mode="train-free")
    assert main(["portrait", str(tmp_path), "--user", "gina", "--style", "studio_headshot", "--out",
                 str(tmp_path / "o"), "--mode", "train-free", "--base-model", "tiny"]) == 2
