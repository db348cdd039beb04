"""Identities from the folder layout, or from clusters of embeddings (real photos)."""

from __future__ import annotations

from pathlib import PurePath

import numpy as np
import pytest

from components.identity import cluster_identities, identity_from_layout


def test_folder_layout_names_the_person():
    assert identity_from_layout(PurePath("alice/photo.jpg")) == "alice"
    assert identity_from_layout(PurePath("alice/holiday/photo.jpg")) == "alice"
    assert identity_from_layout(PurePath("photo.jpg")) is None


@pytest.fixture(scope="module", params=["dlib-hog", "yunet"])
def any_detector(request):
    """Each detection backend: the embeddings must separate people whichever found the faces."""
    from components import registry

    return registry.create("detect", request.param)


def test_obama_photos_form_one_identity_and_biden_another(any_detector, embedder, load_rgb):
    names = ["obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg"]
    vectors = []
    for name in names:
        image = load_rgb(name)
        vectors.append(embedder.embed(image, any_detector.detect(image)[0].bbox))
    labels = cluster_identities(np.asarray(vectors))
    assert labels == [0, 1, 0, 0, 0]


def test_threshold_controls_merging():
    points = np.array([[0.0, 0], [0.3, 0], [2.0, 0]])
    assert cluster_identities(points, threshold=0.6) == [0, 0, 1]
    assert cluster_identities(points, threshold=0.1) == [0, 1, 2]
    assert cluster_identities(points[:1]) == [0] and cluster_identities(np.zeros((0, 2))) == []
