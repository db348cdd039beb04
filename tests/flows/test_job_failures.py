"""Job-level failures: clear message, non-zero exit, completed stages reusable."""

from __future__ import annotations

import json

import pytest

from flows.cli import main

pytestmark = pytest.mark.usefixtures("prefect_server")


def args(photos, out, *extra):
    return ["portrait", str(photos), "--user", "hana", "--style", "studio_headshot", "--out", str(out),
            "--train-steps", "2", "--resolution", "64", "--num-images", "1", "--keep", "1", "--gen-steps", "1",
            "--no-progress", "--base-model", "tiny", *extra]


@pytest.fixture
def photos(small_photos):
    for name in ("obama2.jpg", "biden.jpg", "dogs.jpg"):
        (small_photos / name).unlink()
    return small_photos


def test_a_missing_base_model_is_refused_before_any_work(photos, tmp_path, capsys):
    for missing in (str(tmp_path / "no-such-model.safetensors"), "someone/not-cached-anywhere"):
        assert main(args(photos, tmp_path / "early", "--base-model", missing)) == 2
        assert missing in capsys.readouterr().err
    assert not (tmp_path / "early" / "hana" / "faces").exists()


def test_a_base_model_that_fails_to_load_fails_the_training_stage_and_keeps_curation(photos, tmp_path, capsys):
    broken = tmp_path / "broken-model"
    broken.mkdir()  # a model_index.json of a known family, so the early checks pass; no weights, so loading fails
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    assert main(args(photos, tmp_path / "out", "--base-model", str(broken))) == 2
    err = capsys.readouterr().err
    assert "stage 'train' failed" in err and "broken-model" in err
    job = tmp_path / "out" / "hana"
    record = json.loads((job / "runs" / "portrait.json").read_text())
    assert record["state"] == "failed" and record["stages"]["train"]["state"] == "failed"
    assert main(args(photos, tmp_path / "out")) == 0  # the tiny model: curation comes from cache
    curation = json.loads((job / "runs" / "curation.json").read_text())
    assert {s["state"] for name, s in curation["stages"].items() if name not in ("ingest", "assemble")} == {"cached"}


def test_fewer_photos_than_the_minimum_warns_or_fails(photos, tmp_path, capsys):
    assert main(args(photos, tmp_path / "warned", "--min-photos", "3")) == 0
    assert "warning: only 1 usable photo(s), fewer than the configured minimum of 3" in capsys.readouterr().err
    assert main(args(photos, tmp_path / "failed", "--min-photos", "3", "--fail-below-min-photos")) == 1
    assert "fewer than the configured minimum" in capsys.readouterr().err
    assert not (tmp_path / "failed" / "hana" / "lora").exists()


def test_pickle_weights_are_refused_without_the_trust_flag(photos, tmp_path, capsys):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"\x80\x04not really a pickle")
    assert main(args(photos, tmp_path / "out", "--base-model", str(checkpoint))) == 2
    assert "--trust-pickle" in capsys.readouterr().err
