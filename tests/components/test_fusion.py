"""SeamlessCloneFuser on real photos: obama's face onto biden's portrait."""

from __future__ import annotations

import time

import numpy as np
import pytest

from components.fusion import SeamlessCloneFuser
from components.landmarks import Dlib68Landmarker
from components.protocols import Fuser


@pytest.fixture(scope="module")
def landmarker():
    return Dlib68Landmarker()


@pytest.fixture(scope="module", params=["yunet", "dlib-hog"])
def detector(request):
    """The default detector (YuNet + HOG check, what the fuse stage borrows) and HOG alone: both must do."""
    from components import registry

    return registry.create("detect", request.param)


@pytest.fixture(scope="module")
def obama(load_rgb):
    return load_rgb("obama.jpg")


@pytest.fixture(scope="module")
def biden(load_rgb):
    return load_rgb("biden.jpg")


def make_fuser(detector, landmarker, **options):
    return SeamlessCloneFuser(detector=detector, landmarker=landmarker, **options)


def embed_largest(detector, embedder, image):
    faces = detector.detect(image)
    assert faces, "no face found"
    return embedder.embed(image, faces[0].bbox)


def test_satisfies_protocol(detector, landmarker):
    assert isinstance(make_fuser(detector, landmarker), Fuser)


@pytest.mark.parametrize("blend", ["seamless", "alpha"])
def test_fusion_moves_identity_towards_template(detector, landmarker, embedder, obama, biden, blend):
    fuser = make_fuser(detector, landmarker, blend=blend)
    start = time.perf_counter()
    fusion = fuser.fuse(obama, biden)
    elapsed = time.perf_counter() - start
    assert fusion.reason == ""
    assert fusion.image.shape == biden.shape and fusion.image.dtype == np.uint8

    template = embed_largest(detector, embedder, obama)
    before = float(np.linalg.norm(embed_largest(detector, embedder, biden) - template))
    after = float(np.linalg.norm(embed_largest(detector, embedder, fusion.image) - template))
    print(f"\n{blend}: fuse {elapsed * 1000:.0f} ms; distance to obama before {before:.3f}, after {after:.3f}")
    assert after < before
    # Outside the face the target is untouched (the far corners at least).
    assert np.array_equal(fusion.image[:20, :20], biden[:20, :20])


@pytest.mark.parametrize("target_name", ["dogs.jpg", "white"])
def test_target_without_face_gives_reason(detector, landmarker, obama, load_rgb, target_name):
    target = np.full((400, 300, 3), 255, np.uint8) if target_name == "white" else load_rgb(target_name)
    fusion = make_fuser(detector, landmarker).fuse(obama, target)
    assert fusion.image is None
    assert fusion.reason == "no face detected in the generated image"


def test_face_too_small_gives_reason(detector, landmarker, obama, biden):
    fusion = make_fuser(detector, landmarker, min_face_px=1000).fuse(obama, biden)
    assert fusion.image is None and fusion.reason.startswith("face too small")


def test_strength_zero_leaves_target_unchanged(detector, landmarker, obama, biden):
    fusion = make_fuser(detector, landmarker, strength=0.0).fuse(obama, biden)
    assert np.array_equal(fusion.image, biden)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"blend": "poisson"}, "blend must be one of"),
        ({"strength": 1.5}, "strength must be in"),
        ({"feather": -1}, "feather must be"),
        ({"min_face_px": 0}, "min_face_px must be"),
    ],
)
def test_invalid_options_raise(detector, landmarker, options, message):
    with pytest.raises(ValueError, match=message):
        make_fuser(detector, landmarker, **options)
