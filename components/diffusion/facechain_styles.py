"""FaceChain's style files (styles/<base model>/<Style>.json) as our `Style`.

FaceChain builds its prompt as `<trigger>, <tags>, ` + one of two templates
(facechain/constants.py): a style with a LoRA (`model_id` set) gets
`pos_prompt_with_style` around `add_prompt_style`; a prompt-only style
(`model_id: null`) gets `pos_prompt_with_cloth` around the same text. The
negative prompt is FaceChain's fixed `neg_prompt`. Its style LoRA is
`bin_file` from ModelScope repository `model_id` at `revision`, merged at
`multiplier_style`. Our `{trigger}` is where FaceChain puts its trigger and tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from components.diffusion.styles import TRIGGER, Style, StyleError, parse_style

FACECHAIN_KEYS = ("name", "img", "model_id", "revision", "bin_file", "multiplier_style", "multiplier_human",
                  "cloth_name", "add_prompt_style", "base_model_index")
# facechain/constants.py (Apache-2.0): the two positive templates and the negative prompt, verbatim.
WITH_STYLE = "{}, upper_body, raw photo, masterpiece, solo, medium shot, high detail face, photorealistic, best quality"
WITH_CLOTH = ("raw photo, masterpiece, chinese, {}, solo, medium shot, high detail face, looking straight into the "
              "camera with shoulders parallel to the frame, photorealistic, best quality")
NEGATIVE = ("(nsfw:2), paintings, sketches, (worst quality:2), (low quality:2), lowers, normal quality, "
            "((monochrome)), ((grayscale)), logo, word, character, bad hand, tattoo, (username, watermark, "
            "signature, time signature, timestamp, artist name, copyright name, copyright),low res, ((monochrome)), "
            "((grayscale)), skin spots, acnes, skin blemishes, age spot, glans, extra fingers, fewer fingers, "
            "strange fingers, bad hand, mole, ((extra legs)), ((extra hands))")
# FaceChain samples SD 1.5 styles with a DPM-Solver scheduler, 40 steps, guidance 7, at 512x512.
SAMPLING = {"sampler": "dpm++", "steps": 40, "guidance": 7.0, "width": 512, "height": 512}


def style_name_from_stem(stem: str) -> str:
    """`Chinese_winter_hanfu` -> `chinese_winter_hanfu` (our names are [a-z0-9_-], at most 40)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")[:40].strip("-_")
    if not name:
        raise StyleError(f"FaceChain style file {stem!r}: no usable style name in the file name")
    return name


def facechain_style(data: Mapping, stem: str, source: str) -> Style:
    """One FaceChain style JSON (already parsed) as a Style named after the file's stem."""
    if not isinstance(data, Mapping):
        raise StyleError(f"FaceChain style {source}: expected a JSON object, got {type(data).__name__}")
    label = f"FaceChain style {stem!r} ({source})"
    unknown = sorted(str(k) for k in data if k not in FACECHAIN_KEYS)
    if unknown:
        raise StyleError(f"{label}: unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(FACECHAIN_KEYS)}")
    for key in ("name", "add_prompt_style"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise StyleError(f"{label}: key {key!r}: must be a non-empty string")
    for key in ("model_id", "revision", "bin_file", "img", "cloth_name"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise StyleError(f"{label}: key {key!r}: must be a string or null")
    text = data["add_prompt_style"].strip()
    mapping = {
        "name": style_name_from_stem(stem),
        "description": _description(data),
        "prompt": f"{TRIGGER}, " + (WITH_STYLE if data.get("model_id") else WITH_CLOTH).format(text),
        "negative_prompt": NEGATIVE,
        "loras": _loras(data, label),
        "preview": data.get("img"),
        **SAMPLING,
    }
    try:
        return parse_style(mapping, source)
    except StyleError as error:
        raise StyleError(_in_facechain_keys(str(error))) from None


def _loras(data: Mapping, label: str) -> list[dict]:
    model_id = data.get("model_id")
    if not model_id:
        return []  # FaceChain then merges its own default style LoRA; we apply none (README: FaceChain styles)
    if not data.get("bin_file"):
        raise StyleError(f"{label}: key 'bin_file': needed when 'model_id' is set")
    weight = data.get("multiplier_style", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise StyleError(f"{label}: key 'multiplier_style': must be a number, got {weight!r}")
    return [{"source": model_id, "revision": data.get("revision"), "file": data["bin_file"], "weight": weight}]


# Our keys in a message -> the FaceChain key the value came from.
_KEY_NAMES = {"'loras.0.source'": "'model_id'", "'loras.0.revision'": "'revision'", "'loras.0.file'": "'bin_file'",
              "'loras.0.weight'": "'multiplier_style'", "'prompt'": "'add_prompt_style'", "'preview'": "'img'"}


def _in_facechain_keys(message: str) -> str:
    for ours, theirs in _KEY_NAMES.items():
        message = message.replace(f"key {ours}", f"key {theirs}")
    return message


def _description(data: Mapping) -> str:
    cloth = data.get("cloth_name")
    return f"FaceChain style {data['name']}" + (f" ({cloth})" if cloth and cloth != data["name"] else "")
