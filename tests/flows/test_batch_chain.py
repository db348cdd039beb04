"""One task run per batch: each photo decoded once and its face detected once; a re-run starts from its input.

Spies count the calls the flow makes into the decoder and the detector (the
threads runner runs the chains in this process).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from PIL import Image

from components.verified_faces import YuNetDetector, YuNetVoteOrienter
from flows.cli import main
from flows.config import CurationConfig
from flows.curate import curate_flow
from tasks.catalog import CURATION, job_stage_names
from tasks.storage import read_parquet

pytestmark = pytest.mark.usefixtures("prefect_server")
STAGES = job_stage_names(CURATION)


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Calls of the source decoder, the crop's PNG decoder, the vote and the detector outside the vote."""
    import tasks.batch_images
    import tasks.sources

    counted: Counter = Counter()

    def spy(owner, name: str, label: str) -> None:
        real = getattr(owner, name)

        def counting(*args, **kwargs):
            counted[label] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)

    spy(tasks.sources, "decode_photo", "source decode")
    spy(tasks.batch_images, "decode_png", "crop decode")
    spy(YuNetVoteOrienter, "find", "vote")
    spy(YuNetDetector, "detect_rotated", "detection outside the vote")
    return counted


@pytest.fixture
def photos(small_photos):
    """obama, obama2, biden (upright), dogs (no face) and obama turned a quarter (the vote tries every turn)."""
    with Image.open(small_photos / "obama.jpg") as im:
        im.rotate(90, expand=True).save(small_photos / "turned.jpg", quality=92)
    return small_photos


def states(out) -> dict[str, str]:
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    return {stage: s["state"] for stage, s in record["stages"].items()}


def artefacts(out, stage: str) -> list:
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    return [read_parquet(out / path) for path in record["stages"][stage]["outputs"]]


def test_each_photo_is_decoded_once_and_detected_once_per_batch(photos, tmp_path, calls):
    out = tmp_path / "out"
    # 5 photos over 2 workers: 2 batches, every stage of a batch in one task run
    result = curate_flow(inputs=[str(photos)], out=str(out), config=CurationConfig(progress=False, batch_size=8))
    assert result["counts"] == {"ok": 4, "rejected": 1}
    assert calls["source decode"] == 5 and calls["vote"] == 5
    assert calls["detection outside the vote"] == 0, "detect ran the detector the vote had already run"
    assert calls["crop decode"] == 0, "a stage after the crop decoded its PNG instead of taking the array"
    assert set(states(out)[s] for s in STAGES) == {"done"}
    assert all(len(artefacts(out, s)) == 2 for s in STAGES)  # each stage still writes its own artefacts


def test_a_rerun_starts_from_its_input_artefact_and_detects_the_same_faces(photos, tmp_path, calls):
    out = tmp_path / "out"
    curate_flow(inputs=[str(photos)], out=str(out), config=CurationConfig(progress=False, batch_size=8))
    detected = artefacts(out, "detect")
    calls.clear()

    assert main(["rerun", str(out), "--stage", "segment"]) == 0
    ran = states(out)
    assert {ran[s] for s in STAGES[:STAGES.index("segment")]} == {"cached"}
    assert {ran[s] for s in STAGES[STAGES.index("segment"):]} == {"done"}
    assert calls["source decode"] == 0 and calls["vote"] == 0  # crop's artefact holds all segment needs
    assert calls["crop decode"] == 4  # once per ok photo, from crop's artefact; then handed on

    calls.clear()
    assert main(["rerun", str(out), "--stage", "detect"]) == 0
    assert states(out)["orient"] == "cached" and states(out)["detect"] == "done"
    assert calls["vote"] == 0 and calls["source decode"] == 5
    assert calls["detection outside the vote"] == 5  # no vote in memory: detected here, dogs.jpg included
    assert [t.equals(d) for t, d in zip(artefacts(out, "detect"), detected)] == [True, True]  # the vote's faces
