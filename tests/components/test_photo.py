"""Decoding untrusted bytes: formats, modes, EXIF, limits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from components.photo import decode_photo
from components.types import PhotoError
from tests.imagetools import encode, png_bomb, with_exif_orientation

LIMITS = dict(max_pixels=50_000_000, max_side=1024, min_side=32)


def decode(data: bytes, **overrides):
    return decode_photo(data, **{**LIMITS, **overrides})


@pytest.fixture(scope="module")
def upright(load_rgb):
    return load_rgb("obama.jpg", max_side=400)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_undone(upright, orientation):
    photo = decode(with_exif_orientation(upright, orientation))
    assert photo.exif_orientation == orientation
    assert photo.image.shape == upright.shape
    assert np.abs(photo.image.astype(int) - upright).mean() < 4  # JPEG noise only


def test_empty_text_and_truncated_files_are_errors(faces_dir):
    with pytest.raises(PhotoError, match="empty"):
        decode(b"")
    with pytest.raises(PhotoError, match="not an image"):
        decode(b"hello, I am a text file named photo.jpg\n")
    data = (faces_dir / "obama.jpg").read_bytes()
    with pytest.raises(PhotoError, match="truncated|unreadable"):
        decode(data[: len(data) // 3])


def test_pixel_limit_is_checked_on_the_header_before_decoding():
    bomb = png_bomb(40000, 40000)
    assert len(bomb) < 500_000
    with pytest.raises(PhotoError, match="refused"):
        decode(bomb, max_pixels=100_000_000)
    # Under PIL's own cap, our configurable limit is the rule.
    with pytest.raises(PhotoError, match="exceeds the limit of 50000000"):
        decode(png_bomb(9000, 9000), max_pixels=50_000_000)


def test_modes_become_rgb_and_transparency_goes_white(upright):
    rgba = np.dstack([upright, np.zeros(upright.shape[:2], np.uint8)])
    rgba[:, : rgba.shape[1] // 2, 3] = 255
    photo = decode(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert photo.image.shape == upright.shape
    assert (photo.image[:, -5:] == 255).all()  # transparent half composited on white
    grey = decode(encode(Image.fromarray(upright).convert("L"), "PNG"))
    assert grey.image.ndim == 3 and grey.image.shape[2] == 3
    cmyk = decode(encode(Image.fromarray(upright).convert("CMYK"), "JPEG"))
    assert np.abs(cmyk.image.astype(int) - upright).mean() < 12
    deep = (upright[..., 0].astype(np.uint16) * 257)
    sixteen = decode(encode(Image.fromarray(deep, "I;16"), "PNG"))
    assert np.abs(sixteen.image[..., 0].astype(int) - upright[..., 0]).max() <= 1


def test_palette_with_transparency_and_animation_first_frame(upright):
    pal = Image.fromarray(upright).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    assert decode(encode(pal, "PNG")).image.shape == upright.shape
    frames = [Image.fromarray(upright), Image.fromarray(255 - upright)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    first = decode(gif).image
    assert np.abs(first.astype(int) - upright).mean() < np.abs(first.astype(int) - (255 - upright)).mean()


def test_huge_photo_is_downscaled_and_tiny_refused(upright):
    big = np.asarray(Image.fromarray(upright).resize((upright.shape[1] * 8, upright.shape[0] * 8)))
    photo = decode(encode(big, "JPEG"))
    assert max(photo.image.shape[:2]) == LIMITS["max_side"]
    assert photo.scale == pytest.approx(LIMITS["max_side"] / max(big.shape[:2]), rel=0.01)
    with pytest.raises(PhotoError, match="too small"):
        decode(encode(upright[:20, :20], "PNG"))
