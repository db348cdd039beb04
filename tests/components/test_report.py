"""render_report: one self-contained, escaped HTML page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from components.report import ReportImage, render_report
from tasks.imaging import decode_png, encode_png

NOTICE = "Made with a tiny random test model: these are not real portraits"


@pytest.fixture(scope="module")
def png(load_rgb):
    return encode_png(load_rgb("obama.jpg", max_side=64))


def make(png, notice=None, caption="obama"):
    image = ReportImage(png=png, caption=caption, details={"score": "0.93", "note": "a < b & c"})
    return render_report(
        title="Run <1>",
        test_model_notice=notice,
        summary={"identity": "obama", "style": "<b>bold</b>"},
        inputs=[image, image],
        template=image,
        kept=[image],
        dropped=[ReportImage(png=png, caption="dogs", details={"reason": "no face detected"})],
        extra_sections=[("Timings", "fuse: 0.5 s\nrank: 0.2 s")],
    )


def test_one_data_uri_per_image(png):
    html = make(png)
    assert html.count("data:image/png;base64,") == 5
    assert html.startswith("<!DOCTYPE html>")


def test_captions_and_text_are_escaped(png):
    html = make(png, caption="<script>alert(1)</script>")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "a &lt; b &amp; c" in html and "Run &lt;1&gt;" in html


def test_banner_only_with_notice(png):
    assert NOTICE not in make(png) and 'class="banner"' not in make(png)
    with_notice = make(png, notice=NOTICE)
    assert NOTICE in with_notice and 'class="banner"' in with_notice


def test_no_external_references(png):
    html = make(png, notice=NOTICE)
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "<script" not in html


def test_empty_sections_render(png):
    html = render_report(title="t", test_model_notice=None, summary={}, inputs=[], template=None,
                         kept=[], dropped=[])
    assert "data:image" not in html and "none" in html


def test_encode_png_round_trips():
    image = np.zeros((8, 6, 3), np.uint8)
    image[..., 0] = 200  # red in RGB
    assert np.array_equal(decode_png(encode_png(image)), image)
