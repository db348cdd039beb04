"""Template and pose stages called directly (the lead wires them into the catalogue and CLI):
hostile inputs refused before any training, and a 2-person template on the tiny model."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from components.template import FaceNumberError, mask_in_template
from components.types import NoPersonFound
from tasks.config import (BaseModelConfig, ControlNetConfig, FuseConfig, GenerateConfig, InpaintConfig, LoadConfig,
                          PasteConfig, PoseConfig, PoseGenerateConfig, RankConfig, TemplateConfig, TemplateCropConfig)
from tasks.imaging import decode_png, encode_png
from tasks.modes import (load_template, make_pose_map, parse_persons, paste_template, prepare_template_faces,
                         prepared_faces, rank_template, template_image)
from tasks.records import FaceRecord, to_table
from tasks.storage import read_parquet, write_parquet

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
GROUP = Path(__file__).resolve().parents[1] / "data" / "group.jpg"
CROP = TemplateCropConfig(size=128)
TINY = BaseModelConfig(spec="tiny")


def test_person_arguments():
    assert parse_persons(["1=photos/a", "3=jobs/b"]) == {1: "photos/a", 3: "jobs/b"}
    with pytest.raises(ValueError, match="face 2 is given two persons"):
        parse_persons(["2=a", "2=b"])
    for bad in ["x=a", "1", "0=a", "=a"]:
        with pytest.raises(ValueError):
            parse_persons([bad])


def _bomb(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("case,message", [
    ("missing", "not found|cannot read"), ("empty", "empty file"), ("text", "not an image"),
    ("bomb", "exceeds the limit|decompression bomb"), ("folder", "not a regular file"),
])
def test_hostile_template_or_pose_photo_is_refused(tmp_path, case, message):
    path = tmp_path / "input.png"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello")
    elif case == "bomb":
        _bomb(path)
    elif case == "folder":
        path.mkdir()
    limits = TemplateConfig(max_pixels=50_000_000)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_template(str(path), str(tmp_path / "job"), limits, [1])
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        make_pose_map(str(tmp_path / "job"), PoseConfig(), LoadConfig(max_pixels=50_000_000), pose_photo=str(path))
    assert not (tmp_path / "job").exists() or not any((tmp_path / "job").rglob("*.parquet"))


def test_template_without_face_or_without_that_face_is_refused(tmp_path):
    with pytest.raises(FaceNumberError, match="no face found"):
        load_template(str(SAMPLES / "dogs.jpg"), str(tmp_path), TemplateConfig(), [1])
    with pytest.raises(FaceNumberError, match="face 2 is not in the template: it has 1 face"):
        load_template(str(SAMPLES / "obama.jpg"), str(tmp_path), TemplateConfig(), [2])


def test_pose_map_from_a_photo_a_ready_map_and_no_person(tmp_path):
    root = str(tmp_path)
    extracted = read_parquet(tmp_path / make_pose_map(root, PoseConfig(size=256), LoadConfig(),
                                                      pose_photo=str(SAMPLES / "biden.jpg"))).to_pylist()[0]
    skeleton = decode_png(extracted["pose_map"])
    assert skeleton.shape == (256, 256, 3) and skeleton.any() and len(extracted["keypoints"]) == 18
    nose, neck = extracted["keypoints"][0], extracted["keypoints"][1]
    assert nose[1] < neck[1]
    ready = tmp_path / "ready.png"
    Image.fromarray(skeleton[:, 64:192]).save(ready)
    fitted = read_parquet(tmp_path / make_pose_map(root, PoseConfig(size=256), LoadConfig(),
                                                   ready_map=str(ready))).to_pylist()[0]
    assert fitted["ready_map"] and decode_png(fitted["pose_map"]).shape == (256, 256, 3)
    with pytest.raises(NoPersonFound):
        make_pose_map(root, PoseConfig(), LoadConfig(), pose_photo=str(SAMPLES / "dogs.jpg"))
    with pytest.raises(ValueError, match="exactly one"):
        make_pose_map(root, PoseConfig(), LoadConfig())


def _person(root: Path, name: str, photo: str, embedder, detector) -> tuple[str, str]:
    """A curated part and a select artefact for one person, from one real photo (curation is tested elsewhere)."""
    with Image.open(SAMPLES / photo) as im:
        im = im.convert("RGB")
        im.thumbnail((512, 512))
        image = np.asarray(im).copy()
    face = detector.detect(image)[0]
    record = FaceRecord(source=photo, sha256=name, image=encode_png(image), trigger_word="a man",
                        embedding=embedder.embed(image, face.bbox).tolist(), quality=1.0)
    part, select = f"parts/{name}.parquet", f"stages/select/{name}.parquet"
    write_parquet(root / part, to_table([record]))
    write_parquet(root / select, to_table([record]))
    return part, select


def _fused_from_photo(root: Path, name: str, photo: str, seeds: list[int]) -> str:
    """Stands in for fused generations (the tiny model draws no faces): the person's real photo."""
    from tasks.portrait import PORTRAIT_SCHEMA

    with Image.open(SAMPLES / photo) as im:
        im = im.convert("RGB")
        im.thumbnail((256, 256))
        png = encode_png(np.asarray(im))
    rows = [dict(index=i, seed=s, style="s", prompt="p", negative_prompt="", generated=png, image=png, faces=None,
                 score=None, rank=None, reason="") for i, s in enumerate(seeds)]
    path = f"stages/fuse/{name}.parquet"
    write_parquet(root / path, pa.Table.from_pylist(rows, schema=PORTRAIT_SCHEMA))
    return path


@pytest.mark.slow
def test_two_person_template_on_the_tiny_model(tmp_path, detector, embedder):
    from components.diffusion.styles import Style
    from tasks.modes_generate import generate_template_face, inpaint_template_face

    shutil.copy(GROUP, tmp_path / "group.jpg")
    root = str(tmp_path)
    faces = [3, 17]
    template = load_template(str(tmp_path / "group.jpg"), root, TemplateConfig(), faces)
    crops = prepare_template_faces(template, root, faces, CROP)
    assert sorted(prepared_faces(root, crops)) == faces
    people = {3: _person(tmp_path, "obama", "obama.jpg", embedder, detector),
              17: _person(tmp_path, "biden", "biden.jpg", embedder, detector)}
    style = Style(name="s", prompt="portrait of {trigger}", sampler="ddim", steps=2, width=128, height=128)
    generate = GenerateConfig(num_images=2, batch_size=2, steps=2, resolution=128)
    generated = generate_template_face(crops, 3, None, people[3][0], root, generate, PoseGenerateConfig(),
                                       ControlNetConfig(), style, None, TINY, train_free=_no_lora())
    assert len(read_parquet(tmp_path / generated)) == 2
    inpaint = InpaintConfig(strength=0.0, refine_strength=0.0, init="warped")
    inpainted = [inpaint_template_face(crops, face, _fused_from_photo(tmp_path, str(face), photo, [42, 43]), None,
                                       people[face][0], people[face][1], root, inpaint, generate, ControlNetConfig(),
                                       style, None, TINY, FuseConfig(), train_free=_no_lora())
                 for face, photo in ((3, "obama.jpg"), (17, "biden.jpg"))]
    pasted = paste_template(template, crops, inpainted, root, PasteConfig())
    rows = read_parquet(tmp_path / pasted).to_pylist()
    assert len(rows) == 2 and all(row["image"] is not None for row in rows)
    original = template_image(root, template)
    allowed = np.zeros(original.shape[:2], bool)
    prepared = prepared_faces(root, crops)
    for path in inpainted:
        for row in read_parquet(tmp_path / path).to_pylist()[:1]:
            allowed |= mask_in_template(decode_png(row["mask"], "L"), prepared[row["face"]].crop,
                                        original.shape[:2]) > 0
    diff = np.abs(decode_png(rows[0]["image"]).astype(int) - original).max(axis=2)
    assert diff[~allowed].max() <= 2 and diff[allowed].mean() > 5
    ranked = read_parquet(tmp_path / rank_template(pasted, template, people, root, RankConfig(keep=1))).to_pylist()
    assert ranked[0]["rank"] == 1 and ranked[0]["score"] is not None and ranked[0]["faces"] > 2
    assert ranked[1]["reason"] == "not in the top 1"


def _no_lora():
    """Train-free identity with an untrained (zero-output) adapter: no training in this test."""
    import tempfile

    from components.adapters.types import AdapterWeights
    from components.adapters.weights import build_modules, default_config, export_state, weights_to_bytes
    from components.diffusion.tiny import build_tiny_pipeline
    from tasks.adapter import ADAPTER_FILE
    from tasks.config import TrainFreeConfig

    folder = Path(tempfile.mkdtemp(prefix="adapter-"))
    unet = build_tiny_pipeline(0).unet
    config = default_config(unet, "fact", tokens=2)
    projection, adapter = build_modules(unet, config)
    (folder / ADAPTER_FILE).write_bytes(weights_to_bytes(AdapterWeights("fact", export_state(projection, adapter),
                                                                        config)))
    return TrainFreeConfig(adapter=str(folder))
