"""The template and pose stages of the catalogue, run in this process (no Prefect): hostile inputs
refused, face numbers checked, the pose map, and a 2-person template chain on the tiny model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.template import FaceNumberError, mask_in_template
from components.types import NoPersonFound
from flows.execute import Artefact, InProcess, Plan, portrait_chain
from flows.people import parse_persons
from flows.portrait_config import PortraitConfig, chain_people, portrait_values, resolve_style
from tasks.catalog import TEMPLATE, TRAIN_FREE, face_instance
from tasks.config import (BaseModelConfig, GenerateConfig, InpaintConfig, LoadConfig, PoseGenerateConfig, PoseMapConfig,
                          RankConfig, TemplateConfig, TemplateCropConfig)
from tasks.imaging import decode_png, encode_png
from tasks.records import FaceRecord, to_table
from tasks.stages.pose_map import make_pose_map
from tasks.stages.template import find_template_faces
from tasks.stages.template_crop import crop_template_faces
from tasks.storage import read_parquet, write_parquet
from tasks.template_rows import prepared_faces, template_image
from tests.flows.modes_helpers import SAMPLES, group_photo, load_photo, replay, untrained_adapter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_person_arguments():
    assert parse_persons(["1=photos/a", "3=jobs/b"]) == {1: ["photos/a"], 3: ["jobs/b"]}
    with pytest.raises(ValueError, match="face 2 is given two persons"):
        parse_persons(["2=a", "2=b"])
    for bad in ["x=a", "1", "0=a", "=a"]:
        with pytest.raises(ValueError):
            parse_persons([bad])


def bomb(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def hostile(path: Path, case: str) -> Path:
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello")
    elif case == "bomb":
        bomb(path)
    elif case == "folder":
        path.mkdir()
    return path


HOSTILE = [("missing", "not found|cannot read"), ("empty", "empty file"), ("text", "not an image"),
           ("bomb", "exceeds the limit|decompression bomb"), ("folder", "not a regular file")]


@pytest.mark.parametrize("case,message", HOSTILE)
def test_hostile_template_or_pose_photo_is_refused(tmp_path, case, message):
    path = hostile(tmp_path / "input.png", case)
    job = tmp_path / "job"
    with pytest.raises(ValueError, match=message):
        find_template_faces(str(job), "stages/template/x.parquet", {},
                            template=TemplateConfig(image=str(path), max_pixels=50_000_000))
    with pytest.raises(ValueError, match=message):
        make_pose_map(str(job), "stages/pose-map/x.parquet", {}, pose_map=PoseMapConfig(image=str(path)),
                      load=LoadConfig(max_pixels=50_000_000))
    assert not job.exists()


def test_template_without_face_or_without_that_face_is_refused(tmp_path):
    root = str(tmp_path)
    with pytest.raises(FaceNumberError, match="no face found in the template photo dogs.jpg"):
        find_template_faces(root, "t0.parquet", {}, template=TemplateConfig(image=str(SAMPLES / "dogs.jpg")))
    find_template_faces(root, "t1.parquet", {}, template=TemplateConfig(image=str(SAMPLES / "obama.jpg")))
    with pytest.raises(FaceNumberError, match="face 2 is not in the template: it has 1 face"):
        crop_template_faces(root, "c.parquet", {"template": "t1.parquet"}, template_crop=TemplateCropConfig(size=64),
                            faces=(1, 2))
    assert not (tmp_path / "c.parquet").exists()


def test_pose_map_from_a_photo_a_ready_map_and_no_person(tmp_path):
    root = str(tmp_path)
    make_pose_map(root, "p.parquet", {}, pose_map=PoseMapConfig(image=str(SAMPLES / "biden.jpg"), size=256),
                  load=LoadConfig())
    extracted = read_parquet(tmp_path / "p.parquet").to_pylist()[0]
    skeleton = decode_png(extracted["pose_map"])
    assert skeleton.shape == (256, 256, 3) and skeleton.any() and len(extracted["keypoints"]) == 18
    nose, neck = extracted["keypoints"][0], extracted["keypoints"][1]
    assert nose[1] < neck[1]
    Image.fromarray(skeleton[:, 64:192]).save(tmp_path / "ready.png")
    make_pose_map(root, "r.parquet", {}, pose_map=PoseMapConfig(image=str(tmp_path / "ready.png"), ready=True,
                                                                size=256), load=LoadConfig())
    fitted = read_parquet(tmp_path / "r.parquet").to_pylist()[0]
    assert fitted["ready_map"] and decode_png(fitted["pose_map"]).shape == (256, 256, 3)
    with pytest.raises(NoPersonFound):
        make_pose_map(root, "n.parquet", {}, pose_map=PoseMapConfig(image=str(SAMPLES / "dogs.jpg")),
                      load=LoadConfig())


def test_missing_controlnet_or_an_sdxl_base_is_refused_before_any_work(tmp_path):
    from components.diffusion.controlnet import ControlNetNotFound
    from flows.portrait_config import check_mode_inputs

    pose = PoseMapConfig(image=str(SAMPLES / "biden.jpg"))
    sdxl = PortraitConfig(user="u", style="studio_headshot", base=BaseModelConfig(spec="tiny-sdxl"), kind="pose",
                          pose_map=pose)
    with pytest.raises(ValueError, match="SD 1.5 ControlNets; base model 'tiny-sdxl' is SDXL"):
        check_mode_inputs(sdxl)
    sd15 = tmp_path / "sd15"  # an SD 1.5 folder as far as its family goes (no weights are read)
    sd15.mkdir()
    (sd15 / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    config = PortraitConfig(user="u", style="studio_headshot", base=BaseModelConfig(spec=str(sd15)), kind="pose",
                            pose_map=pose)
    with pytest.raises(ControlNetNotFound, match="(?s)lllyasviel/control_v11p_sd15_openpose.*huggingface-cli download"):
        check_mode_inputs(config)
    with pytest.raises(ValueError, match="tiny test ControlNets"):
        PortraitConfig(user="u", style="studio_headshot", base=BaseModelConfig(spec=str(sd15)), kind="pose",
                       pose_map=pose, controlnets={"openpose": "tiny", "canny": "tiny"})


def person_part(root: Path, name: str, photo: str, embedder, detector) -> Artefact:
    """A curated part of one real photo (curation is tested elsewhere)."""
    image = load_photo(photo, 400)
    face = detector.detect(image)[0]
    record = FaceRecord(source=photo, sha256=name, image=encode_png(image), trigger_word="a man",
                        embedding=embedder.embed(image, face.bbox).tolist(), quality=1.0)
    write_parquet(root / f"faces/{name}.parquet", to_table([record]))
    return Artefact(key=name, path=f"faces/{name}.parquet")


@pytest.mark.slow
def test_two_person_template_chain_on_the_tiny_model(tmp_path, detector, embedder, monkeypatch):
    """template -> crops -> each face's person generated (replayed real photos), fused, aligned onto
    its template face and pasted: outside the faces' masks the template is unchanged, and each
    replaced face is ranked against its own person though the photo has 20 other faces."""
    faces = (3, 17)
    replay(monkeypatch, [load_photo("obama2.jpg", 300), load_photo("biden.jpg", 400)])
    config = PortraitConfig(
        user="u", style="studio_headshot", base=BaseModelConfig(spec="tiny"), mode=TRAIN_FREE, kind=TEMPLATE,
        train_free=untrained_adapter(tmp_path / "adapter"), template=TemplateConfig(image=str(group_photo(tmp_path))),
        persons={f: ["unused"] for f in faces}, template_crop=TemplateCropConfig(size=128),
        generate=GenerateConfig(num_images=2, batch_size=2, steps=2, resolution=128),
        pose_generate=PoseGenerateConfig(backend="replay"),
        inpaint=InpaintConfig(strength=0.0, refine_strength=0.0, init="warped"), rank=RankConfig(keep=1))
    root = tmp_path / "job"
    given = {face_instance("curate", 3): person_part(root, "obama", "obama.jpg", embedder, detector),
             face_instance("curate", 17): person_part(root, "biden", "biden.jpg", embedder, detector)}
    runner = InProcess(Plan(root, portrait_values(config, resolve_style(config))))
    person, per_face = chain_people(config, {f: 1 for f in faces})
    done = portrait_chain(runner, given, config.mode, config.kind, person, per_face)
    assert {"template", "template-crop", "generate[3]", "inpaint[17]", "paste", "rank"} <= set(runner.seconds)

    rows = read_parquet(root / done["paste"].path).to_pylist()
    assert len(rows) == 2 and all(row["image"] is not None and not row["reason"] for row in rows)
    original = template_image(str(root), done["template"].path)
    prepared = prepared_faces(str(root), done["template-crop"].path)
    allowed = np.zeros(original.shape[:2], bool)
    for face in faces:
        row = read_parquet(root / done[face_instance("inpaint", face)].path).to_pylist()[0]
        allowed |= mask_in_template(decode_png(row["mask"], "L"), prepared[face].crop, original.shape[:2]) > 0
    diff = np.abs(decode_png(rows[0]["image"]).astype(int) - original).max(axis=2)
    assert diff[~allowed].max() <= 2 and diff[allowed].mean() > 5

    ranked = read_parquet(root / done["rank"].path).to_pylist()
    assert ranked[0]["rank"] == 1 and ranked[0]["score"] > 0.5 and ranked[0]["faces"] > 2
    assert ranked[1]["reason"] == "not in the top 1"
