"""The curation flow end to end under a temporary Prefect server."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from flows.config import CurationConfig
from flows.curate import curate_flow
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
    curate_flow(inputs=[str(small_photos)], out=out, config=config)
    Image.open(small_photos / "obama.jpg").rotate(90, expand=True).save(small_photos / "obama_turned.jpg")
    second = curate_flow(inputs=[str(small_photos)], out=out, config=config)
    assert sum(second["counts"].values()) == 1  # only the new photo
    data = pd.read_parquet(out + "/faces")
    assert len(data) == 5 and data.sha256.is_unique
    turned = data[data.source.str.endswith("obama_turned.jpg")].iloc[0]
    assert turned.status == "ok" and turned.rotation == 270


def test_dataset_goes_to_an_fsspec_url_and_runs_append_parts(small_photos, tmp_path):
    import fsspec

    url = f"memory://datasets/{tmp_path.name}/faces"
    config = CurationConfig(progress=False, dataset=url)
    first = curate_flow(inputs=[str(small_photos)], out=str(tmp_path / "out"), config=config)
    assert first["part"].startswith("memory://")
    fs, path = fsspec.core.url_to_fs(url)
    assert len(fs.ls(path, detail=False)) == 1
    Image.open(small_photos / "biden.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(small_photos / "mirror.jpg")
    second = curate_flow(inputs=[str(small_photos)], out=str(tmp_path / "out"), config=config)
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
    curate_flow(inputs=[str(folder)], out=str(tmp_path / "out"), config=CurationConfig(progress=False))
    data = pd.read_parquet(tmp_path / "out" / "faces")
    by_name = {s.rsplit("/", 1)[-1]: i for s, i in zip(data.source, data.identity)}
    assert by_name["obama.jpg"] == by_name["obama2.jpg"] == "barack"
    # A loose photo joins the named identity it is close to; a stranger founds a new one.
    assert by_name["obama3.jpg"] == "barack"
    assert by_name["biden.jpg"].startswith("person-")


def test_identities_hold_across_runs_into_one_dataset(faces_dir, tmp_path):
    """Nightly runs append parts; a person keeps one id in all of them, and two people never share one."""
    out = tmp_path / "out"
    for night, names in enumerate([("biden.jpg",), ("obama.jpg", "obama2.jpg"), ("obama3.jpg",)]):
        inbox = tmp_path / f"inbox{night}"
        inbox.mkdir()
        for name in names:
            with Image.open(faces_dir / name) as im:
                im.thumbnail((1000, 1000))  # faces well above the quality rule's size: this test is about identities
                im.convert("RGB").save(inbox / name)
        curate_flow(inputs=[str(inbox)], out=str(out), config=CurationConfig(progress=False))
    data = pd.read_parquet(out / "faces")
    assert len(list((out / "faces").glob("part-*.parquet"))) == 3
    by_name = {s.rsplit("/", 1)[-1]: i for s, i in zip(data.source, data.identity)}
    assert by_name["obama.jpg"] == by_name["obama2.jpg"] == by_name["obama3.jpg"]
    assert by_name["biden.jpg"] != by_name["obama.jpg"]
    # Named after the founding photo: stable, and never another person's.
    founder = min(data[data.source.str.endswith(("obama.jpg", "obama2.jpg"))].sha256)
    assert by_name["obama.jpg"] == f"person-{founder[:12]}"
    words = data.groupby("identity").trigger_word.nunique()
    assert (words == 1).all(), "one trigger word per identity across the dataset"


def artifacts_with_key(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


def test_a_run_publishes_its_counts_and_reasons_under_its_own_key(small_photos, tmp_path):
    from flows.artifacts import artifact_key

    out = tmp_path / "out"
    result = curate_flow(inputs=[str(small_photos)], out=str(out), config=CurationConfig(progress=False))
    key = artifact_key("curation", result["job"])
    [table] = artifacts_with_key(key)
    rows = table.data if isinstance(table.data, list) else __import__("json").loads(table.data)
    assert {"status": "ok", "photos": 3, "reason": ""} in rows
    assert {"status": "not ok", "photos": 1, "reason": "no face detected"} in rows
    [summary] = artifacts_with_key(f"{key}-summary")
    assert "| 3 | 1 | 0 |" in summary.data
    assert artifact_key("curation", str(tmp_path / "other")) != key
