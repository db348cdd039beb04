"""Style LoRAs in whole portrait jobs on the tiny model: a FaceChain style whose LoRA sits in the
ModelScope cache, its multiplier at the adapters, and a replaced LoRA file regenerating (training cached)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flows.cli import main
from flows.portrait import portrait_flow
from tests.flows.test_portrait_flow import tiny_config
from tests.flows.test_rerun import states
from tests.styles.loras import record_adapter_scales, write_lora

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]
MULTIPLIER = 0.35


@pytest.fixture(scope="module")
def facechain_styles(tmp_path_factory):
    """FaceChain's styles/<base model>/X.json layout, and the style's LoRA by id in a fake ModelScope cache."""
    root = tmp_path_factory.mktemp("facechain")
    cache = root / "modelscope"
    lora = write_lora(cache / "models" / "rewfueranro--cartoon_lora" / "snapshots" / "v1.0.0" / "cartoon.safetensors",
                      seed=3)
    styles = root / "styles" / "MajicmixRealistic_v6"
    styles.mkdir(parents=True)
    (styles / "Cartoon.json").write_text(json.dumps({
        "name": "漫画风(Cartoon)", "img": "./style_image/Cartoon.jpg", "model_id": "rewfueranro/cartoon_lora",
        "revision": "v1.0.0", "bin_file": "cartoon.safetensors", "multiplier_style": MULTIPLIER,
        "multiplier_human": 0.95, "add_prompt_style": "Manhuanan, jewelry, half body photo"}, ensure_ascii=False),
        encoding="utf-8")
    return styles, cache, lora


@pytest.fixture(scope="module")
def job(facechain_styles, tmp_path_factory, faces_dir):
    from PIL import Image

    styles, cache, lora = facechain_styles
    photos = tmp_path_factory.mktemp("photos")
    for name in ("obama.jpg", "obama2.jpg"):
        with Image.open(faces_dir / name) as im:
            im.thumbnail((1000, 1000))
            im.convert("RGB").save(photos / name, quality=92)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELSCOPE_CACHE", str(cache))
        patch.setenv("HF_HOME", str(cache.parent / "hf"))  # empty: the id is found in the ModelScope cache
        patch.delenv("HF_HUB_CACHE", raising=False)
        scales = record_adapter_scales(patch)
        out = tmp_path_factory.mktemp("out")
        config = tiny_config("fay", style="cartoon", styles_dir=str(styles))
        portrait_flow(photos=[str(photos)], out=str(out), config=config)
        yield {"root": out / "fay", "scales": scales, "lora": lora, "run": lambda: portrait_flow(
            photos=[str(photos)], out=str(out), config=config)}


def test_a_facechain_style_from_the_modelscope_cache_drives_a_job(job):
    results = pd.read_parquet(job["root"] / "results.parquet")
    assert len(results) == 3 and set(results["style"]) == {"cartoon"}
    assert results["prompt"].str.contains("Manhuanan, jewelry, half body photo, upper_body").all()
    assert results["negative_prompt"].str.contains("(nsfw:2)", regex=False).all()
    [scales] = job["scales"]  # one generation: the face LoRA and the style's
    assert scales["style_0"] == pytest.approx(MULTIPLIER) and set(scales) == {"face", "style_0"}


def test_replacing_the_style_lora_regenerates_and_keeps_the_training(job, capsys):
    before = pd.read_parquet(job["root"] / "results.parquet")
    write_lora(job["lora"], seed=4)  # same id, same path, new content
    assert main(["status", str(job["root"])]) == 0
    status = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()
              if line.startswith("  ") and len(line.split()) > 1}
    assert status["generate"] == "stale" and status["train"] in ("done", "cached")
    job["run"]()
    ran = states(job["root"])
    assert ran["train"] == "cached" and ran["select"] == "cached"
    assert ran["generate"] == ran["fuse"] == ran["rank"] == "done"
    after = pd.read_parquet(job["root"] / "results.parquet")
    assert any(a != b for a, b in zip(before.sort_values("seed").image, after.sort_values("seed").image))
    job["run"]()  # the same file again: nothing to do
    assert states(job["root"])["generate"] == "cached"


def test_a_missing_style_lora_fails_before_any_work(facechain_styles, tmp_path, monkeypatch, capsys):
    styles, _, _ = facechain_styles
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    code = main(["portrait", str(tmp_path), "--user", "gil", "--style", "cartoon", "--styles", str(styles),
                 "--out", str(tmp_path / "out"), "--base-model", "tiny"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'rewfueranro/cartoon_lora'" in err and "modelscope download rewfueranro/cartoon_lora" in err
    assert not (tmp_path / "out").exists()
