"""A self-contained HTML report of one run: inputs, template, kept and dropped images.

Everything is inline (PNG data URIs, one <style> block), so the file reads
offline and can be mailed around. All text is escaped: captions and details
come from user input.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape



@dataclass(frozen=True)
class ReportImage:
    png: bytes
    caption: str
    details: dict[str, str] = field(default_factory=dict)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1.5rem;color:#222;background:#fafafa}
h1{margin:.2rem 0 1rem}h2{margin:2rem 0 .6rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.banner{background:#b00020;color:#fff;font-weight:700;font-size:1.2rem;padding:1rem;border-radius:6px;
margin-bottom:1rem}
table.summary{border-collapse:collapse}table.summary th,table.summary td{text-align:left;padding:.25rem .8rem .25rem 0;
vertical-align:top}table.summary th{color:#555;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:1rem}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem}
figure img{width:100%;height:auto;display:block;border-radius:4px}
figcaption{font-weight:600;margin:.4rem 0 .2rem;overflow-wrap:anywhere}
dl{margin:0;font-size:.85rem;color:#444;display:grid;grid-template-columns:auto 1fr;gap:0 .5rem}
dt{color:#777}dd{margin:0;overflow-wrap:anywhere}
.dropped figure{opacity:.75}.empty{color:#777;font-style:italic}
.section{white-space:pre-wrap}
"""


def render_report(*, title: str, test_model_notice: str | None, summary: Mapping[str, str],
                  inputs: list[ReportImage], template: ReportImage | list[ReportImage] | None, kept: list[ReportImage],
                  dropped: list[ReportImage], extra_sections: Iterable[tuple[str, str]] = (),
                  controls: list[ReportImage] = ()) -> str:
    """`template`: the template face(s) fusion uses; `controls`: what steered the generation (the
    template photo with its faces numbered, pose maps), shown just before the results."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if test_model_notice:
        parts.append(f'<div class="banner" role="alert">{escape(test_model_notice)}</div>')
    parts.append(_summary_table(summary))
    parts.append(_gallery("Input photos", inputs))
    parts.append(_gallery("Template", [template] if isinstance(template, ReportImage) else list(template or [])))
    if controls:
        parts.append(_gallery("Template photo and pose", list(controls)))
    parts.append(_gallery("Kept", kept))
    parts.append(_gallery("Dropped", dropped, css_class="dropped"))
    for heading, body in extra_sections:
        parts.append(f'<h2>{escape(heading)}</h2><div class="section">{escape(body)}</div>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary_table(summary: Mapping[str, str]) -> str:
    if not summary:
        return ""
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in summary.items())
    return f'<table class="summary">{rows}</table>'


def _gallery(heading: str, images: list[ReportImage], css_class: str = "") -> str:
    if not images:
        body = '<p class="empty">none</p>'
    else:
        body = f'<div class="grid">{"".join(_figure(im) for im in images)}</div>'
    return f'<section class="{css_class}"><h2>{escape(heading)} ({len(images)})</h2>{body}</section>'


def _figure(image: ReportImage) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    caption = escape(image.caption)
    details = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in image.details.items())
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption>{f'<dl>{details}</dl>' if details else ''}</figure>")
