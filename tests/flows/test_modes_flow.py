"""Template (fixed and 2-person) and pose jobs end to end, trained and train-free, on the tiny
test model with real photos; re-running `inpaint`; hostile inputs stopped before any work."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from flows.cli import main
from flows.portrait import portrait_flow
from tasks.config import InpaintConfig, PoseGenerateConfig, PoseMapConfig, TemplateConfig, TemplateCropConfig
from tests.flows.modes_helpers import SAMPLES, group_photo, load_photo, replay, untrained_adapter
from tests.flows.test_portrait_flow import tiny_config
from tests.imagetools import png_bomb

pytestmark = [pytest.mark.usefixtures("prefect_server", "one_torch_thread"), pytest.mark.slow]
SIZE = 128  # template crops, pose maps and generation
SMALL = dict(template_crop=TemplateCropConfig(size=SIZE))


def stage_states(job) -> dict[str, str]:
    record = json.loads((job / "runs" / "portrait.json").read_text())
    return {name: status["state"] for name, status in record["stages"].items()}


def photos(folder, *names, side: int = 600):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(load_photo(name, side)).save(folder / name, quality=92)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    return {"obama": photos(root / "obama", "obama.jpg", "obama2.jpg"), "biden": photos(root / "biden", "biden.jpg", side=1000),
            "group": group_photo(root), "adapter": untrained_adapter(root / "adapter"), "out": root / "out"}


def template_config(user: str, inputs, persons: dict, **changes):
    return tiny_config(user, kind="template", template=TemplateConfig(image=str(inputs["group"])), persons=persons,
                       **SMALL, **changes)


def pose_config(user: str, **changes):
    return tiny_config(user, kind="pose", pose_map=PoseMapConfig(image=str(SAMPLES / "biden.jpg"), size=SIZE),
                       **changes)


def check_results(job, kind: str, mode: str, faces: list[int] | None) -> pd.DataFrame:
    results = pd.read_parquet(job / "results.parquet")
    assert len(results) == 3 and set(results.kind) == {kind} and set(results["mode"]) == {mode}
    assert all((list(f) if f is not None else None) == faces for f in results.face_numbers)
    assert (results[~results.kept].reason != "").all()
    report = (job / "report.html").read_text()
    assert "not real portraits" in report and "Template photo and pose" in report
    return results


@pytest.fixture(scope="module")
def solo(inputs):
    """Trained, fixed template: the person's photos on face 3, generated for real by the tiny model."""
    config = template_config("solo", inputs, {3: [str(inputs["obama"])]})
    portrait_flow(photos=[], out=str(inputs["out"]), config=config)
    return inputs["out"] / "solo"


def test_fixed_template_trained(solo):
    results = check_results(solo, "template", "train", [3])
    assert set(results.template) == {"group.jpg"}
    states = stage_states(solo)
    assert {states[s] for s in ("train[3]", "template", "template-crop", "generate[3]", "inpaint[3]", "paste",
                                "rank")} == {"done"}
    assert (solo / "face_lora_face3.safetensors").is_file()


@pytest.fixture(scope="module")
def duo(inputs, solo, monkeypatch_module):
    """Trained, 2 persons: face 3 reuses the `solo` job (its photos and LoRA), face 17 is curated and
    trained here. The pose generator replays real photos, and inpainting keeps the aligned face
    (strength 0), so ranking sees each person's real face in place."""
    replay(monkeypatch_module, [load_photo("obama3.jpg", 500), load_photo("biden.jpg", 500)])
    config = template_config("duo", inputs, {3: [str(solo)], 17: [str(inputs["biden"])]},
                             pose_generate=PoseGenerateConfig(backend="replay"),
                             inpaint=InpaintConfig(strength=0.0, refine_strength=0.0, init="warped"))
    portrait_flow(photos=[], out=str(inputs["out"]), config=config)
    return inputs["out"] / "duo"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_two_person_template_trained_reuses_a_job_and_judges_each_face(duo):
    states = stage_states(duo)
    assert states["train[3]"] == "reused" and states["train[17]"] == "done"
    assert not (duo / "runs" / "curation-face3.json").exists() and (duo / "runs" / "curation-face17.json").exists()
    results = check_results(duo, "template", "train", [3, 17])
    kept = results[results.kept]
    assert len(kept) == 2 and (kept.score > 0.5).all() and (kept.faces > 2).all()  # the other faces: no reason to drop


def test_rerunning_inpaint_reuses_detection_training_and_the_pose(duo, capsys):
    assert main(["rerun", str(duo), "--stage", "inpaint", "--set", "strength=0.3"]) == 0
    states = stage_states(duo)
    assert {states[s] for s in ("inpaint[3]", "inpaint[17]", "paste", "rank")} == {"done"}
    assert {states[s] for s in ("train[17]", "template", "template-crop", "generate[3]", "generate[17]", "select[3]",
                                "select[17]", "fuse[3]", "fuse[17]")} == {"cached"}
    assert json.loads((duo / "runs" / "portrait.json").read_text())["config"]["inpaint"]["strength"] == 0.3
    assert main(["status", str(duo)]) == 0
    out = capsys.readouterr().out
    for line in ("train[3]      reused", "train[17]     cached", "inpaint[17]   done", "template-crop cached"):
        assert line in out
    assert "stale" not in out and "missing" not in out


def test_pose_trained(inputs):
    portrait_flow(photos=[str(inputs["obama"])], out=str(inputs["out"]), config=pose_config("poser"))
    job = inputs["out"] / "poser"
    results = check_results(job, "pose", "train", None)
    assert set(results.pose) == {"biden.jpg"}
    assert {stage_states(job)[s] for s in ("train", "pose-map", "generate", "select", "fuse", "rank")} == {"done"}


def test_every_new_mode_train_free(inputs, solo):
    """Train-free: the untrained adapter's identity (no LoRA anywhere); the fixed template reuses
    the solo job's curated photos (its LoRA is no use without training)."""
    free = dict(mode="train-free", train_free=inputs["adapter"])
    out = str(inputs["out"])
    portrait_flow(photos=[], out=out, config=template_config("free1", inputs, {3: [str(solo)]}, **free))
    portrait_flow(photos=[], out=out, config=template_config(
        "free2", inputs, {3: [str(solo)], 17: [str(inputs["biden"])]}, **free))
    portrait_flow(photos=[str(inputs["obama"])], out=out, config=pose_config("free3", **free))
    for user, kind, faces in (("free1", "template", [3]), ("free2", "template", [3, 17]), ("free3", "pose", None)):
        job = inputs["out"] / user
        check_results(job, kind, "train-free", faces)
        states = stage_states(job)
        assert not any(name.startswith("train") for name in states) and not list(job.glob("face_lora*"))
        assert {states[s] for s in ("generate[3]" if faces else "generate", "rank")} == {"done"}


# -- hostile input: a clear error before any person is curated or trained; nothing outside the job --

def cli(tmp_path, *extra) -> list[str]:
    return ["portrait", "--user", "eve", "--style", "studio_headshot", "--out", str(tmp_path / "out"),
            "--base-model", "tiny", "--resolution", "64", "--train-steps", "2", "--no-progress", *extra]


@pytest.mark.parametrize("case", ["bomb", "huge", "text"])
@pytest.mark.parametrize("option", ["--template", "--pose"])
def test_a_bad_template_or_pose_image_is_refused_before_any_work(tmp_path, capsys, case, option):
    path = tmp_path / f"{case}.png"
    if case == "bomb":
        path.write_bytes(png_bomb(30_000, 30_000))
    elif case == "huge":
        with open(path, "wb") as f:
            f.truncate(65 * 1024 * 1024)  # sparse: over the 64 MiB limit without writing it
    else:
        path.write_text("not an image")
    assert main(cli(tmp_path, str(SAMPLES / "obama.jpg"), option, str(path))) == 2
    err = capsys.readouterr().err
    expected = {"bomb": "possible decompression bomb", "huge": "file too large", "text": "not an image"}[case]
    assert str(path) in err and expected in err
    assert not (tmp_path / "out").exists()


def test_argument_mistakes_are_refused_before_any_work(tmp_path, inputs, capsys):
    group, photo = str(inputs["group"]), str(SAMPLES / "obama.jpg")
    assert main(cli(tmp_path, "--template", group, "--person", "2=a", "--person", "2=b")) == 2
    assert "face 2 is given two persons" in capsys.readouterr().err
    assert main(cli(tmp_path, "--template", group, "--person", f"2={tmp_path / 'nowhere'}")) == 2
    assert "face 2: no such photo or folder" in capsys.readouterr().err
    assert main(cli(tmp_path, photo, "--template", group, "--pose", photo)) == 2
    assert main(cli(tmp_path, photo, "--template", group, "--person", f"2={photo}")) == 2
    assert "no positional photos" in capsys.readouterr().err
    assert main(cli(tmp_path, "--template", group)) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("template,face,message", [("dogs.jpg", 1, "no face found in the template photo dogs.jpg"),
                                                   ("group", 30, "face 30 is not in the template: it has ")])
def test_a_template_face_that_is_not_there_stops_the_job_before_curation(tmp_path, inputs, capsys, template, face,
                                                                         message):
    path = inputs["group"] if template == "group" else SAMPLES / template
    assert main(cli(tmp_path, str(inputs["obama"]), "--template", str(path), "--face", str(face))) == 2
    assert message in capsys.readouterr().err
    job = tmp_path / "out" / "eve"
    assert not (job / "faces").exists() and not (job / "lora").exists()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"eve"}
