"""Issue 5, curation side: every hostile or odd photo becomes one row with a status and a reason.

One folder mixes two good photos with every kind of bad, odd or hostile file;
the flow runs over it once (module scope) and each test checks one file's row.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from flows.cli import main as cli_main
from flows.config import CurationConfig
from flows.curate import curate_flow
from tests.imagetools import encode, png_bomb, with_exif_orientation

pytestmark = pytest.mark.usefixtures("prefect_server")

NON_UTF8_NAME = b"caf\xe9 photo.jpg"  # Latin-1 file name: not valid UTF-8
NON_UTF8_SOURCE_NAME = "caf\\xe9 photo.jpg"  # how the dataset shows it


def _thumb(faces_dir: Path, name: str, side: int = 1000) -> Image.Image:
    with Image.open(faces_dir / name) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        return im


def _build_mixed_folder(faces_dir: Path, root: Path) -> Path:
    """ROOT/photos: one file per case (names as in EXPECTED); ROOT/elsewhere: a symlink's target."""
    folder, outside = root / "photos", root / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    obama, biden = _thumb(faces_dir, "obama.jpg"), _thumb(faces_dir, "biden.jpg")
    obama_px = np.asarray(obama)

    def put(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)

    # the two good photos, and an exact copy of one under another name
    obama.save(folder / "obama.jpg", quality=92)
    biden.save(folder / "biden.jpg", quality=92)
    shutil.copyfile(folder / "obama.jpg", folder / "obama_copy.jpg")
    # unreadable files
    put("empty.jpg", b"")
    put("text.jpg", b"hello, I am a text file named photo.jpg\n")
    jpeg = (folder / "biden.jpg").read_bytes()
    put("truncated.jpg", jpeg[: len(jpeg) // 3])
    put("eps.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n")
    # odd but valid encodings of a good photo
    put("png_named.jpg", encode(_thumb(faces_dir, "obama2.jpg"), "PNG"))
    put("cmyk.jpg", encode(obama.convert("CMYK"), "JPEG", quality=92))
    put("sixteen.png", encode(Image.fromarray(np.asarray(obama.convert("L")).astype(np.uint16) * 257), "PNG"))
    put("grey.jpg", encode(obama.convert("L"), "JPEG", quality=92))
    rgba = obama.convert("RGBA")
    alpha = Image.new("L", obama.size, 0)  # transparent background, opaque head
    w, h = obama.size
    ImageDraw.Draw(alpha).ellipse((w * 0.15, h * 0.02, w * 0.85, h * 0.75), fill=255)
    rgba.putalpha(alpha)
    put("rgba.png", encode(rgba, "PNG"))
    palette = obama.convert("P", palette=Image.Palette.ADAPTIVE)
    put("palette.png", encode(palette, "PNG", transparency=0))
    frames = [obama, Image.fromarray(255 - obama_px)]
    put("animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100))
    put("exif6.jpg", with_exif_orientation(obama_px, 6))
    put("exif8.jpg", with_exif_orientation(obama_px, 8))
    put("webp.webp", encode(biden, "WEBP", quality=90))
    # limits
    put("bomb.png", png_bomb(40000, 40000))
    put("tiny.png", encode(obama.resize((20, 20)), "PNG"))
    put("strip.png", encode(Image.new("RGB", (41000, 64), "grey"), "PNG"))
    with Image.open(faces_dir / "obama.jpg") as original:
        huge = original.convert("RGB")
    scale = 6000 / max(huge.size)
    put("huge.jpg", encode(huge.resize((round(huge.width * scale), round(huge.height * scale))), "JPEG",
                           quality=85))
    # photos the face rules say no to
    _thumb(faces_dir, "dogs.jpg").save(folder / "dogs.jpg", quality=92)
    _thumb(faces_dir, "bald_guys.jpg").save(folder / "bald_guys.jpg", quality=92)
    canvas = Image.new("RGB", (1000, 1000), "white")
    canvas.paste(_thumb(faces_dir, "obama.jpg", side=240), (380, 380))  # a ~50 px wide face
    canvas.save(folder / "small_face.jpg", quality=92)
    _thumb(faces_dir, "obama_partial_face.jpg").save(folder / "partial.jpg", quality=92)
    # file-system oddities
    _thumb(faces_dir, "obama2.jpg", side=900).save(outside / "private.jpg", quality=92)
    os.symlink(outside / "private.jpg", folder / "link_out.jpg")
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    os.mkfifo(folder / "pipe.jpg")  # reading it would block forever
    with open(os.path.join(os.fsencode(folder), NON_UTF8_NAME), "wb") as handle:
        handle.write(encode(_thumb(faces_dir, "biden.jpg", side=900), "JPEG", quality=90))
    return folder


@pytest.fixture(scope="module")
def mixed_folder(faces_dir, tmp_path_factory) -> Path:
    return _build_mixed_folder(faces_dir, tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def curated(prefect_server, mixed_folder, tmp_path_factory) -> tuple[dict, dict[str, pd.Series], pd.DataFrame]:
    out = tmp_path_factory.mktemp("hostile-out")
    result = curate_flow(inputs=[str(mixed_folder)], out=str(out), config=CurationConfig(progress=False))
    data = pd.read_parquet(out / "faces")
    rows = {Path(r.source).name: r for _, r in data.iterrows()}
    return result, rows, data


def row(curated, name: str) -> pd.Series:
    rows = curated[1]
    assert name in rows, f"no row for {name}; rows: {sorted(rows)}"
    return rows[name]


def folder_entries(folder: Path) -> list[str]:
    return sorted(os.fsencode(e.name).decode("utf-8", "backslashreplace") for e in os.scandir(folder))


def test_the_flow_completes_with_one_row_per_file(curated, mixed_folder):
    result, rows, data = curated
    entries = folder_entries(mixed_folder)
    assert len(data) == len(entries) == len(rows)
    assert sorted(rows) == entries
    assert set(entries) == {*EXPECTED, "obama.jpg", "biden.jpg", "obama_copy.jpg"}  # every case is checked
    assert sum(result["counts"].values()) == len(entries)
    assert set(data.status) <= {"ok", "rejected", "error"}


def test_every_row_that_is_not_ok_has_a_reason_and_no_image(curated):
    data = curated[2]
    bad = data[data.status != "ok"]
    assert len(bad) > 0
    for _, r in bad.iterrows():
        assert isinstance(r.reason, str) and r.reason.strip(), r.source
        assert r.image is None and r["mask"] is None, r.source
        assert "Traceback" not in r.reason and "failed: " not in r.reason, r.reason  # no leaked internals
    good = data[data.status == "ok"]
    assert (good.reason == "").all() and good.image.notna().all()


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
def test_the_good_photos_are_ok(curated, name):
    r = row(curated, name)
    assert r.status == "ok" and r.reason == ""
    assert len(r.embedding) == 128 and r.image is not None


# name -> (status, text the reason must contain); None: the photo is processed normally
EXPECTED = {
    "empty.jpg": ("error", "empty file"),
    "text.jpg": ("error", "not an image file"),
    "truncated.jpg": ("error", "truncated"),
    "eps.jpg": ("error", "not an image file in a supported format"),
    "bomb.png": ("error", "pixels"),
    "tiny.png": ("error", "too small"),
    "strip.png": ("error", "too elongated"),
    "dogs.jpg": ("rejected", "no face detected"),
    "bald_guys.jpg": ("rejected", "faces of similar size"),
    "small_face.jpg": ("rejected", "too small"),
    "link_out.jpg": ("rejected", "not followed"),
    "loop.jpg": ("error", "symbolic links"),
    "pipe.jpg": ("error", "not a regular file"),
    "png_named.jpg": None,
    "cmyk.jpg": None,
    "sixteen.png": None,
    "grey.jpg": None,
    "rgba.png": None,
    "palette.png": None,
    "animated.gif": None,
    "exif6.jpg": None,
    "exif8.jpg": None,
    "webp.webp": None,
    "huge.jpg": None,
    "partial.jpg": None,
    NON_UTF8_SOURCE_NAME: None,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_case_gets_its_status_and_reason(curated, name):
    r = row(curated, name)
    expected = EXPECTED[name]
    if expected is None:
        assert (r.status, r.reason) == ("ok", ""), f"{name}: {r.status} ({r.reason})"
        assert r.image is not None and len(r.embedding) == 128
        return
    status, fragment = expected
    assert r.status == status and fragment in r.reason, f"{name}: {r.status} ({r.reason})"
    assert r.image is None


def test_exif_rotated_photos_come_out_upright(curated):
    for name, orientation in (("exif6.jpg", 6), ("exif8.jpg", 8)):
        r = row(curated, name)
        assert r.exif_orientation == orientation and r.rotation == 0  # EXIF alone turned it upright
        assert r.gender == "male"


def test_the_huge_photo_is_downscaled_not_refused(curated):
    r = row(curated, "huge.jpg")
    assert max(r.width, r.height) == 6000 and r.status == "ok"


def test_a_face_cut_by_the_border_is_kept_and_tagged(curated):
    r = row(curated, "partial.jpg")
    assert r.status == "ok" and "cut by the photo border" in list(r.tags)
    # the tag is about the face reaching the edge, not the crop's white padding
    whole = row(curated, "obama.jpg")
    assert whole.outside_fraction > 0 and "cut by the photo border" not in list(whole.tags)


def test_an_exact_duplicate_is_rejected_once(curated):
    first, copy = row(curated, "obama.jpg"), row(curated, "obama_copy.jpg")
    assert first.sha256 == copy.sha256
    assert sorted([first.status, copy.status]) == ["ok", "rejected"]
    rejected = copy if copy.status == "rejected" else first
    assert rejected.reason.startswith("duplicate of ") and rejected.image is None


def test_the_bomb_is_refused_from_its_header(curated):
    r = row(curated, "bomb.png")
    assert "1600000000 pixels" in r.reason and pd.isna(r.width)  # never opened past the header


def test_the_cli_succeeds_on_the_mixed_folder(curated, mixed_folder, tmp_path, capsys):
    out = tmp_path / "cli-out"
    assert cli_main(["curate", str(mixed_folder), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    total = len(folder_entries(mixed_folder))
    assert f"curated {total} photo(s)" in printed
    assert "x no face detected" in printed and "dataset:" in printed
    data = pd.read_parquet(out / "faces")
    # the same rows as the flow run (the CLI path adds nothing, loses nothing)
    flow_rows = curated[2].set_index("source").status.to_dict()
    cli_rows = data.set_index("source").status.to_dict()
    assert {Path(k).name: v for k, v in cli_rows.items()} == {Path(k).name: v for k, v in flow_rows.items()}
