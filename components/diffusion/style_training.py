"""Style training's pure parts: captions, and the style definition written next to the trained LoRA.

A caption is, in order of preference: the user's own (a per-image .txt or a
line of captions.txt), the embedded tagger's words where a face was found, or
a fixed caption; each starts with the style's trigger token, as FaceChain's
style tab prefixes every caption with its trigger word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from components.diffusion.styles import TRIGGER
from components.types import Tags

# FaceChain's app loads a self-trained style at multiplier_style 0.8 (app.py, update_prompt).
TRAINED_STYLE_WEIGHT = 0.8
STYLE_PROMPT_TAIL = "upper_body, high detail face, best quality"
STYLE_NEGATIVE = ("nsfw, worst quality, low quality, lowres, blurry, jpeg artifacts, watermark, signature, text, "
                  "logo, deformed face, asymmetric eyes, bad anatomy, extra fingers, bad hands")
# Words a caption has that describe the person in one photo, not the style (FaceChain drops these too).
_SUBJECT_WORDS = ("male", "female", "a boy", "a girl", "a handsome man", "a beautiful woman", "a mature man",
                  "a mature woman", "solo", "1girl", "1boy", "upper_body", "raw photo", "masterpiece")
CAPTION_SOURCES = ("file", "tagger", "fixed")


def default_trigger(name: str) -> str:
    return f"{name}_style"


def style_caption(trigger: str, given: str | None, face: Tags | None, fixed: str) -> tuple[str, str]:
    """(caption, where it came from: "file", "tagger" or "fixed")."""
    if not trigger.strip():
        raise ValueError("the trigger token must not be empty")
    if given is not None and given.strip():
        text = " ".join(given.split())
        return (text if trigger in text else f"{trigger}, {text}"), "file"
    if face is not None:
        words = [face.trigger_word, *(t for t in face.tags if not t.startswith("age ") and t not in ("male", "female"))]
        return ", ".join([trigger, *words]), "tagger"
    return f"{trigger}, {fixed}", "fixed"


def common_words(captions: Sequence[str], trigger: str, fixed: str = "") -> list[str]:
    """Comma-separated words in more than half of the captions (FaceChain's add_prompt_style rule)."""
    counts = Counter(word for caption in captions for word in dict.fromkeys(
        w.strip() for w in caption.split(",") if w.strip()))
    return [word for word, n in counts.items()
            if n > len(captions) / 2 and word not in (trigger, fixed) and word not in _SUBJECT_WORDS]


def trained_style_definition(name: str, trigger: str, lora_file: str, captions: Sequence[str], fixed: str,
                             steps: int, base_model: str) -> dict:
    """The YAML mapping of a freshly trained style: its LoRA next to it, the trigger in its prompt."""
    words = ", ".join([trigger, *common_words(captions, trigger, fixed)])
    images = len(captions)
    return {
        "name": name,
        "description": f"style LoRA trained by train-style on {images} image(s), {steps} steps, base {base_model}",
        "prompt": f"{TRIGGER}, {words}, {STYLE_PROMPT_TAIL}",
        "negative_prompt": STYLE_NEGATIVE,
        "loras": [{"source": lora_file, "weight": TRAINED_STYLE_WEIGHT}],
    }
