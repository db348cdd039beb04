"""One batch's pixels decoded once and shared by its stages; the vote's faces reused only when they match."""

from __future__ import annotations

import numpy as np

from components.types import Face, Orientation, UprightFaces
from tasks.batch_images import BatchImages, vote_detects_like
from tasks.config import LoadConfig, OrientConfig, YuNetDetectConfig, YuNetOrientConfig
from tasks.records import FaceRecord
from tasks.sources import drop_source, source_photo, upright_photo


def record_of(faces_dir, name: str) -> FaceRecord:
    return FaceRecord(source=name, sha256=name, data=(faces_dir / name).read_bytes())


def test_source_decoded_once_turned_once_and_forgotten_after_the_crop(faces_dir):
    images, load = BatchImages(), LoadConfig()
    record = record_of(faces_dir, "obama.jpg")
    first = source_photo(record, load, images)
    assert source_photo(record, load, images) is first and images.made["source"] == 1
    assert upright_photo(record, load, images)[0] is first.image  # upright already: no copy
    record.rotation = 90
    turned, scale = upright_photo(record, load, images)
    assert turned.shape == (first.image.shape[1], first.image.shape[0], 3) and scale == first.scale
    assert upright_photo(record, load, images)[0] is turned
    images.set_crop(record, np.full((64, 64, 3), 200, np.uint8))
    drop_source(record, images)
    assert record.data is None and images.crop(record).shape == (64, 64, 3)
    record.data = (faces_dir / "obama.jpg").read_bytes()
    source_photo(record, load, images)
    assert images.made["source"] == 2


def test_crop_array_handed_on_and_png_written_for_the_artefact():
    images = BatchImages()
    record = FaceRecord(source="a", sha256="a")
    crop = np.full((64, 64, 3), 200, np.uint8)
    images.set_crop(record, crop)
    assert record.image.startswith(b"\x89PNG")
    assert images.crop(record) is crop and images.made["crop"] == 0
    images.clear()
    assert np.array_equal(images.crop(record), crop) and images.made["crop"] == 1  # decoded from the PNG


def test_vote_faces_reused_only_for_the_same_detector_and_rotation():
    face = Face(bbox=np.array([0.0, 0, 10, 10]), landmarks=np.zeros((5, 2)), score=1.0)
    found = UprightFaces(orientation=Orientation(rotation=90, scores={90: 1.0}), faces=[face])
    images = BatchImages()
    record = FaceRecord(source="a", sha256="a", rotation=90)
    images.remember_vote(record, YuNetOrientConfig(), found)
    assert images.voted_faces(record, YuNetDetectConfig()) == [face]
    assert images.voted_faces(record, YuNetDetectConfig(max_side=1024)) is None
    record.rotation = 0  # EXIF or a re-run changed the rotation: the vote's faces no longer apply
    assert images.voted_faces(record, YuNetDetectConfig()) is None
    assert not vote_detects_like(OrientConfig(), YuNetDetectConfig())
    assert vote_detects_like(YuNetOrientConfig(window_px=320), YuNetDetectConfig(window_px=320))


def test_batches_give_each_worker_an_equal_share():
    from tasks.ingest import batch_bounds

    sizes = lambda *args: [end - start for start, end in batch_bounds(*args)]  # noqa: E731
    assert sizes(120, 16, 2) == [15] * 8  # not 7 x 16 + 8: one worker would idle through the last batch
    assert sizes(10, 16, 2) == [5, 5] and sizes(1, 16, 2) == [1] and sizes(0, 16, 2) == []
    assert sizes(33, 16, 1) == [11, 11, 11] and sizes(4, 1, 2) == [1, 1, 1, 1]
    bounds = batch_bounds(101, 16, 3)
    assert bounds[0][0] == 0 and bounds[-1][1] == 101 and len(bounds) % 3 == 0
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:])) and max(e - s for s, e in bounds) <= 16
