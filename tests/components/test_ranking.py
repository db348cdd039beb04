"""EmbeddingRanker on real photos: obama's photos outrank biden's."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from components.protocols import Ranker
from components.ranking import EmbeddingRanker, top_k
from components.types import RankScore

NAMES = ["obama2.jpg", "biden.jpg", "obama3.jpg", "bald_guys.jpg", "dogs.jpg"]


@pytest.fixture(scope="module", params=["yunet", "dlib-hog"])
def detector(request):
    """The default detector (YuNet + HOG check, what the rank stage borrows) and HOG alone: both must do."""
    from components import registry

    return registry.create("detect", request.param)


@pytest.fixture(scope="module")
def template_embedding(detector, embedder, load_rgb):
    obama = load_rgb("obama.jpg")
    return embedder.embed(obama, detector.detect(obama)[0].bbox)


@pytest.fixture(scope="module")
def scores(detector, embedder, template_embedding, load_rgb):
    ranker = EmbeddingRanker(detector=detector, embedder=embedder)
    images = [load_rgb(name) for name in NAMES]
    start = time.perf_counter()
    result = ranker.score(images, template_embedding, np.empty((0, 128), np.float32))
    elapsed = time.perf_counter() - start
    print(f"\nscore: {elapsed * 1000 / len(images):.0f} ms per image; "
          + ", ".join(f"{n}={s.score:.3f}" for n, s in zip(NAMES, result)))
    return dict(zip(NAMES, result))


def test_satisfies_protocol(detector, embedder):
    assert isinstance(EmbeddingRanker(detector=detector, embedder=embedder), Ranker)


def test_same_person_scores_above_other_person(scores):
    assert scores["obama2.jpg"].score > scores["biden.jpg"].score
    assert scores["obama3.jpg"].score > scores["biden.jpg"].score
    for name in ("obama2.jpg", "obama3.jpg", "biden.jpg"):
        assert scores[name].reason == "" and scores[name].faces == 1


def test_group_photo_and_no_face_are_dropped(scores):
    group, dogs = scores["bald_guys.jpg"], scores["dogs.jpg"]
    assert math.isnan(group.score) and group.faces > 1 and group.reason == f"{group.faces} faces detected"
    assert math.isnan(dogs.score) and dogs.faces == 0 and dogs.reason == "no face detected"


def test_small_face_is_dropped(detector, embedder, template_embedding, load_rgb):
    ranker = EmbeddingRanker(detector=detector, embedder=embedder, min_face_px=500)
    [result] = ranker.score([load_rgb("obama2.jpg")], template_embedding, np.empty((0, 128)))
    assert math.isnan(result.score) and result.reason.startswith("face too small: ")


def test_user_embeddings_mix_into_score(detector, embedder, template_embedding, load_rgb):
    obama2 = load_rgb("obama2.jpg")
    users = np.stack([embedder.embed(obama2, detector.detect(obama2)[0].bbox)])
    only_template = EmbeddingRanker(detector=detector, embedder=embedder, template_weight=1.0)
    mixed = EmbeddingRanker(detector=detector, embedder=embedder, template_weight=0.5)
    [a] = only_template.score([obama2], template_embedding, users)
    [b] = mixed.score([obama2], template_embedding, users)
    # obama2 is its own user photo: mixing in cos = 1 raises the score.
    assert b.score == pytest.approx(0.5 * a.score + 0.5, abs=1e-5)


def test_top_k_orders_kept_by_score_and_limits():
    nan = float("nan")
    scores = [
        RankScore(0.5, 1, ""),
        RankScore(nan, 0, "no face detected"),
        RankScore(0.9, 1, ""),
        RankScore(0.5, 1, ""),
        RankScore(nan, 3, "3 faces detected"),
        RankScore(0.7, 1, ""),
    ]
    assert top_k(scores, 10) == [2, 5, 0, 3]
    assert top_k(scores, 2) == [2, 5]
    assert top_k(scores, 0) == []
    with pytest.raises(ValueError):
        top_k(scores, -1)


def test_top_k_on_real_scores(scores):
    order = [NAMES[i] for i in top_k(list(scores.values()), 5)]
    assert order[-1] == "biden.jpg" and set(order) == {"obama2.jpg", "obama3.jpg", "biden.jpg"}


@pytest.mark.parametrize("options", [{"min_face_px": 0}, {"template_weight": 1.2}])
def test_invalid_options_raise(detector, embedder, options):
    with pytest.raises(ValueError):
        EmbeddingRanker(detector=detector, embedder=embedder, **options)
