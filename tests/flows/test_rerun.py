"""Re-running stages: what is recomputed and what comes from cache (asserted on what ran)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from flows.cli import main
from flows.portrait import portrait_flow
from flows.overrides import parse_sets, with_overrides
from tasks.catalog import CURATION, job_stage_names

STAGES = job_stage_names(CURATION)
from tests.flows.test_portrait_flow import tiny_config

pytestmark = pytest.mark.usefixtures("prefect_server")


def states(job) -> dict[str, str]:
    found = {}
    for name in ("curation", "portrait"):
        record = json.loads((job / "runs" / f"{name}.json").read_text())
        found.update({stage: s["state"] for stage, s in record["stages"].items()})
    return found


@pytest.fixture(scope="module")
def job(tmp_path_factory, faces_dir):
    from tests.imagetools import downscaled_copies

    folder = downscaled_copies(faces_dir, tmp_path_factory.mktemp("photos"), ("obama.jpg", "obama2.jpg"))
    out = tmp_path_factory.mktemp("out")
    portrait_flow(photos=[str(folder)], out=str(out), config=tiny_config("erin"))
    return folder, out, out / "erin"


def test_rerunning_a_finished_job_recomputes_nothing(job):
    folder, out, root = job
    before = (root / "results.parquet").read_bytes()
    portrait_flow(photos=[str(folder)], out=str(out), config=tiny_config("erin"))
    ran = states(root)
    assert {ran[s] for s in STAGES} == {"cached"}
    assert {ran[s] for s in ("train", "generate", "select", "fuse", "rank")} == {"cached"}
    assert pd.read_parquet(root / "results.parquet").equals(pd.read_parquet(pd.io.common.BytesIO(before)))


def test_changing_keep_recomputes_only_the_ranking(job):
    _, _, root = job
    assert main(["rerun", str(root), "--stage", "rank", "--set", "keep=1"]) == 0
    ran = states(root)
    assert ran["rank"] == "done"
    assert {ran[s] for s in (*STAGES, "train", "generate", "select", "fuse")} == {"cached"}


def test_changing_fusion_recomputes_fusion_and_ranking(job):
    _, _, root = job
    assert main(["rerun", str(root), "--stage", "fuse", "--set", "strength=0.5"]) == 0
    ran = states(root)
    assert ran["fuse"] == "done" and ran["rank"] == "done"
    assert {ran[s] for s in (*STAGES, "train", "generate", "select")} == {"cached"}


def test_another_style_reuses_the_trained_lora(job):
    folder, out, root = job
    portrait_flow(photos=[str(folder)], out=str(out), config=tiny_config("erin", style="watercolor"))
    ran = states(root)
    assert ran["train"] == "cached" and ran["generate"] == "done"
    assert set(pd.read_parquet(root / "results.parquet")["style"]) == {"watercolor"}


def test_status_shows_each_stage(job, capsys):
    _, _, root = job
    assert main(["status", str(root)]) == 0
    out = capsys.readouterr().out
    for stage in (*STAGES, "train", "generate", "select", "fuse", "rank"):
        assert f"  {stage}" in out
    assert "completed" in out


def test_unknown_stage_and_key_are_refused_with_the_valid_ones(job, capsys):
    _, _, root = job
    assert main(["rerun", str(root), "--stage", "polish"]) == 2
    assert "stages: orient" in capsys.readouterr().err
    assert main(["rerun", str(root), "--stage", "rank", "--set", "kepp=2"]) == 2
    assert "valid keys:" in capsys.readouterr().err


def test_set_values_are_typed_and_validated():
    from tasks.config import RankConfig
    from flows.portrait_config import PortraitConfig

    assert parse_sets(["keep=3", "strength=0.5", "blend=alpha", "flag=true"]) == {
        "keep": 3, "strength": 0.5, "blend": "alpha", "flag": True}
    config = PortraitConfig(user="u", style="s", rank=RankConfig())
    assert with_overrides(config, "rank", {"keep": 2}).rank.keep == 2
    with pytest.raises(ValueError, match="invalid --set"):
        with_overrides(config, "rank", {"keep": -1})
    with pytest.raises(ValueError, match="key=value"):
        parse_sets(["keep"])


def test_a_deleted_artefact_shows_missing_and_is_computed_again(job, capsys):
    _, _, root = job
    record = json.loads((root / "runs" / "portrait.json").read_text())
    (root / record["stages"]["fuse"]["outputs"][0]).unlink()
    assert main(["status", str(root)]) == 0
    fuse_line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("fuse"))
    assert "missing" in fuse_line
    assert main(["rerun", str(root), "--stage", "rank"]) == 0
    ran = states(root)
    assert ran["fuse"] == "done" and ran["rank"] == "done" and ran["generate"] == "cached"


def test_a_moved_job_reports_and_reruns_only_what_ran(job, tmp_path, capsys):
    _, _, root = job
    moved = tmp_path / "elsewhere" / "erin"
    shutil.copytree(root, moved)
    assert main(["status", str(moved)]) == 0
    out = capsys.readouterr().out
    assert "stale" not in out and "missing" not in out
    assert main(["rerun", str(moved), "--stage", "rank", "--set", "keep=2"]) == 0
    ran = states(moved)
    assert ran["rank"] == "done"
    assert {ran[s] for s in (*STAGES, "train", "generate", "select", "fuse")} == {"cached"}
    assert (moved / "results.parquet").is_file()


def test_every_generated_image_is_in_the_results(job):
    _, _, root = job
    results = pd.read_parquet(root / "results.parquet")
    assert results.image.notna().all() and len(results) == 3
    assert (results.kept == results["rank"].notna()).all()
    assert (results[~results.kept].reason != "").all()


PICKLE_MARKERS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def test_no_pickle_anywhere_in_a_job_folder(job):
    """Results are the artefacts themselves (Parquet, safetensors, PNG, JSON): nothing is pickled."""
    _, _, root = job
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        head = path.read_bytes()[:2]
        assert head not in PICKLE_MARKERS, f"{path} starts like a pickle"
        assert path.suffix not in (".pkl", ".pickle", ".pt", ".bin", ".ckpt"), path
        if path.suffix == ".json":
            text = path.read_text()
            assert '"pickle"' not in text and "gASV" not in text, f"{path} holds a pickled result"
    assert not (root / ".prefect").exists()
