"""The curation flow end to end under a temporary Prefect server."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from flows.config import CurationConfig
from flows.curate import curate_flow, run_curation
from tasks.records import INTERNAL, SCHEMA

pytestmark = pytest.mark.usefixtures("prefect_server")

REQUIRED = ["source", "sha256", "status", "reason", "rotation", "roll", "bbox", "landmarks", "image", "mask",
            "gender", "age", "trigger_word", "tags", "quality", "embedding"]


def test_curates_a_folder_into_a_parquet_dataset(small_photos, tmp_path):
    out = tmp_path / "out"
    result = curate_flow(inputs=[str(small_photos)], out=str(out), config=CurationConfig(progress=False))
    data = pd.read_parquet(out / "faces")
    assert set(REQUIRED) <= set(data.columns)
    assert len(data) == 4 and result["counts"] == {"ok": 3, "rejected": 1}
    dogs = data[data.source.str.endswith("dogs.jpg")].iloc[0]
    assert dogs.status == "rejected" and dogs.reason == "no face detected" and dogs.image is None
    ok = data[data.status == "ok"]
    for _, row in ok.iterrows():
        image = np.asarray(Image.open(io.BytesIO(row.image)))
        mask = np.asarray(Image.open(io.BytesIO(row["mask"])))
        assert image.shape == (512, 512, 3) and mask.shape == (512, 512)
        assert (image[mask == 0] == 255).all()  # background white
        assert len(row.embedding) == 128 and 0 <= row.quality <= 1
        assert row.trigger_word.endswith("man") and row.gender == "male"
    # the Parquet schema is the declared one (minus internal columns)
    schema = pq.read_schema(next((out / "faces").glob("part-*.parquet")))
    expected = SCHEMA
    for name in INTERNAL:
        expected = expected.remove(expected.get_field_index(name))
    assert schema.names == expected.names and schema.types == expected.types


def test_a_second_run_skips_photos_already_in_the_dataset(small_photos, tmp_path):
    out = str(tmp_path / "out")
    config = CurationConfig(progress=False)
    run_curation([str(small_photos)], out, config)
    Image.open(small_photos / "obama.jpg").rotate(90, expand=True).save(small_photos / "obama_turned.jpg")
    second = run_curation([str(small_photos)], out, config)
    assert sum(second["counts"].values()) == 1  # only the new photo
    data = pd.read_parquet(out + "/faces")
    assert len(data) == 5 and data.sha256.is_unique
    turned = data[data.source.str.endswith("obama_turned.jpg")].iloc[0]
    assert turned.status == "ok" and turned.rotation == 270


def test_dataset_goes_to_an_fsspec_url_and_runs_append_parts(small_photos, tmp_path):
    import fsspec

    url = f"memory://datasets/{tmp_path.name}/faces"
    config = CurationConfig(progress=False, dataset=url)
    first = run_curation([str(small_photos)], str(tmp_path / "out"), config)
    assert first["part"].startswith("memory://")
    fs, path = fsspec.core.url_to_fs(url)
    assert len(fs.ls(path, detail=False)) == 1
    Image.open(small_photos / "biden.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(small_photos / "mirror.jpg")
    second = run_curation([str(small_photos)], str(tmp_path / "out"), config)
    assert sum(second["counts"].values()) == 1  # only the new photo: the URL dataset told what is known
    parts = sorted(fs.ls(path, detail=False))
    assert len(parts) == 2  # appended a partition, did not rewrite the first
    data = pd.concat(pd.read_parquet(fs.open(p)) for p in parts)
    assert len(data) == 5 and data.sha256.is_unique


def test_identity_column_from_folder_layout_and_clusters(faces_dir, tmp_path):
    folder = tmp_path / "people"
    (folder / "barack").mkdir(parents=True)
    for name in ("obama.jpg", "obama2.jpg"):
        with Image.open(faces_dir / name) as im:
            im.convert("RGB").resize((im.width // 2, im.height // 2)).save(folder / "barack" / name)
    for name in ("obama3.jpg", "biden.jpg"):  # loose files: clustered
        with Image.open(faces_dir / name) as im:
            im.thumbnail((1000, 1000))
            im.convert("RGB").save(folder / name)
    run_curation([str(folder)], str(tmp_path / "out"), CurationConfig(progress=False))
    data = pd.read_parquet(tmp_path / "out" / "faces")
    by_name = {s.rsplit("/", 1)[-1]: i for s, i in zip(data.source, data.identity)}
    assert by_name["obama.jpg"] == by_name["obama2.jpg"] == "barack"
    assert by_name["obama3.jpg"].startswith("cluster-") and by_name["biden.jpg"].startswith("cluster-")
    assert by_name["obama3.jpg"] != by_name["biden.jpg"]
