"""The portrait job end to end on the tiny test model (CPU, small resolution)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flows.cli import main
from flows.portrait import portrait_flow
from flows.portrait_config import PortraitConfig
from tasks.config import BaseModelConfig, GenerateConfig, RankConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("prefect_server")


def tiny_config(user: str, **overrides) -> PortraitConfig:
    fields = dict(user=user, style="studio_headshot", base=BaseModelConfig(spec="tiny"),
                  train=TrainConfig(resolution=64, checkpoint_every=2),
                  train_steps=4, generate=GenerateConfig(num_images=3, resolution=64, steps=2),
                  rank=RankConfig(keep=2))
    fields.update(overrides)
    config = PortraitConfig(**fields)
    return config.model_copy(update={"curation": config.curation.model_copy(update={"progress": False})})


@pytest.fixture
def obama_photos(small_photos):
    for name in ("biden.jpg", "dogs.jpg"):
        (small_photos / name).unlink()
    return small_photos


def test_tiny_job_writes_a_complete_job_directory(obama_photos, tmp_path):
    from diffusers import StableDiffusionPipeline

    from components.diffusion.tiny import build_tiny_pipeline

    summary = portrait_flow(photos=[str(obama_photos)], out=str(tmp_path), config=tiny_config("alice"))
    job = tmp_path / "alice"
    assert summary["job"] == str(job)
    for name in ("results.parquet", "report.html", "face_lora.safetensors"):
        assert (job / name).is_file(), name
    assert len(pd.read_parquet(job / "faces")) == 2  # the job's curated photos, same schema
    results = pd.read_parquet(job / "results.parquet")
    assert len(results) == 3 and set(results.seed) == {42, 43, 44}
    assert (results[results["rank"].isna()].reason != "").all()  # every dropped image says why
    report = (job / "report.html").read_text()
    assert "not real portraits" in report and "data:image/png;base64," in report
    pipe = build_tiny_pipeline(0)
    pipe.load_lora_weights(str(job), weight_name="face_lora.safetensors", adapter_name="face")
    assert "face" in pipe.get_list_adapters().get("unet", [])
    assert isinstance(pipe, StableDiffusionPipeline)


class ReplayGenerator:
    """Test double: 'generates' real photos, so fusion and ranking see real faces."""

    photos: list[np.ndarray] = []

    def __init__(self, pipeline=None, device="cpu"):
        pass

    def generate(self, request, face_lora, style_lora):
        return [self.photos[i % len(self.photos)] for i in range(len(request.seeds))]


def test_ranking_in_the_flow_puts_the_person_first(obama_photos, faces_dir, tmp_path, monkeypatch):
    from components import registry

    def load(name):
        with Image.open(faces_dir / name) as im:
            im = im.convert("RGB")
            im.thumbnail((700, 700))
            return np.asarray(im)

    ReplayGenerator.photos = [load("biden.jpg"), load("obama3.jpg"), load("dogs.jpg")]
    monkeypatch.setitem(registry.REGISTRY, "generate", {"replay": f"{__name__}:ReplayGenerator"})
    config = tiny_config("bob", generate=GenerateConfig(backend="replay", num_images=3, resolution=64, steps=2),
                         fuse=tiny_config("x").fuse.model_copy(update={"strength": 0.0}))
    portrait_flow(photos=[str(obama_photos)], out=str(tmp_path), config=config)
    results = pd.read_parquet(tmp_path / "bob" / "results.parquet")
    kept = results[results["rank"].notna()].sort_values("rank")
    assert list(kept.seed) == [43, 42]  # obama3 (seed 43) above biden (seed 42)
    assert kept.score.is_monotonic_decreasing
    dogs = results[results.seed == 44].iloc[0]
    assert np.isnan(dogs["rank"]) and "no face" in dogs.reason
    portraits = sorted((tmp_path / "bob" / "portraits").glob("*.png"))
    assert [p.name[:6] for p in portraits] == ["rank01", "rank02"]
    assert np.asarray(Image.open(io.BytesIO(kept.iloc[0].image))).shape == ReplayGenerator.photos[1].shape


def test_no_usable_photo_stops_before_training(faces_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "dogs.jpg").write_bytes((faces_dir / "dogs.jpg").read_bytes())
    code = main(["portrait", str(folder), "--user", "carol", "--style", "studio_headshot",
                 "--out", str(tmp_path / "out"), "--train-steps", "2", "--resolution", "64", "--no-progress",
                 "--base-model", "tiny"])
    assert code == 1
    err = capsys.readouterr().err
    assert "dogs.jpg: rejected - no face detected" in err
    assert not (tmp_path / "out" / "carol" / "lora").exists()


def test_bad_arguments_fail_before_any_work(tmp_path, capsys):
    base = ["portrait", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(base + ["--user", "../evil", "--style", "studio_headshot"]) == 2
    assert main(base + ["--user", "dave", "--style", "no_such_style"]) == 2
    assert "available:" in capsys.readouterr().err
    assert main(base + ["--user", "dave", "--style", "studio_headshot", "--num-images", "2", "--keep", "3"]) == 2
    assert main(base + ["--user", "dave", "--style", "studio_headshot", "--resolution", "100"]) == 2
    assert not (tmp_path / "out").exists()



def test_artifacts_are_keyed_by_user_and_job(obama_photos, tmp_path):
    from flows.artifacts import artifact_key
    from tests.flows.test_curate_flow import artifacts_with_key

    config = tiny_config("Zoe_1").model_copy(update={"job": "first", "generate": GenerateConfig(
        num_images=1, resolution=64, steps=1), "rank": RankConfig(keep=1)})
    summary = portrait_flow(photos=[str(obama_photos)], out=str(tmp_path), config=config)
    assert summary["job"] == str(tmp_path / "Zoe_1" / "first")
    key = artifact_key("portrait", "Zoe_1", "first")
    assert key != artifact_key("portrait", "zoe_1", "first") and key.startswith("portrait-zoe-1-first-")
    [table] = artifacts_with_key(key)
    assert "seed" in str(table.data)
    [summary_artifact] = artifacts_with_key(f"{key}-summary")
    assert "not real portraits" in summary_artifact.data
