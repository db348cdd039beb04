"""The job form: one field per option of `python -m flows portrait`, named like the option with underscores.

Derived from the CLI's own parser, so an option added there is a field here.
Options that name server-side paths (or lift a safety rule) are not taken
from requests; options that take a file are file uploads.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from web.errors import ApiError
from web.settings import WebSettings

# Set by the server, never by a request: who and where, progress bars, pickle, server folders and
# models (--person names photo or job folders, the ControlNets local paths or cached ids).
SERVER_SIDE = frozenset({"help", "photos", "user", "job", "out", "no_progress", "trust_pickle", "styles_dir",
                         "adapter", "vae", "fast", "fast_kind", "fast_steps", "fast_guidance", "fast_weight",
                         "person", "controlnet_openpose", "controlnet_canny"})
# Stage settings (`set`) a request may not make: they name server folders or files (the template and pose
# stages' `image` is an upload; ControlNets and pose weights are the server's) or lift the pickle rule.
SERVER_SIDE_SETTINGS = frozenset({"model_dir", "trust_pickle", "device", "image", "weights", "openpose", "canny"})
# Options whose value is a file: uploaded with the request, stored in the job's folder.
FILE_OPTIONS = frozenset({"template", "pose", "pose_map", "style_lora"})
TRUE, FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True)
class FormOption:
    name: str
    kind: str  # "int" | "float" | "str" | "bool" | "file" | "list" (one value per line)
    default: Any
    choices: tuple | None
    help: str


def refuse_server_side(names) -> None:
    """422 for any stage setting (`STAGE.KEY` or `KEY`) that is the server's to choose."""
    named = sorted({name for name in names if name.rpartition(".")[2].strip() in SERVER_SIDE_SETTINGS})
    if named:
        raise ApiError(422, f"set: {', '.join(named)} is the server's to choose")


@functools.cache
def _portrait_parser() -> argparse.ArgumentParser:
    from flows.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["portrait"]


@functools.cache
def form_options() -> tuple[FormOption, ...]:
    options = []
    for action in _portrait_parser()._actions:
        if not action.option_strings or action.dest in SERVER_SIDE:
            continue
        options.append(FormOption(name=action.dest, kind=_kind(action), default=action.default,
                                  choices=tuple(action.choices) if action.choices else None,
                                  help=(action.help or "").replace("%%", "%")))
    return tuple(options)


def _kind(action: argparse.Action) -> str:
    if action.dest in FILE_OPTIONS:
        return "file"
    if isinstance(action, argparse._StoreTrueAction):
        return "bool"
    if isinstance(action, argparse._AppendAction):
        return "list"
    return {int: "int", float: "float"}.get(action.type, "str")


def file_option_names() -> list[str]:
    return [o.name for o in form_options() if o.kind == "file"]


def parse_values(fields: dict[str, str]) -> dict[str, Any]:
    """Form strings -> typed option values; an unknown field or a bad value is a 422."""
    options = {o.name: o for o in form_options() if o.kind != "file"}
    unknown = sorted(set(fields) - set(options))
    if unknown:
        raise ApiError(422, f"unknown field(s) {', '.join(unknown)}; fields: photos, {', '.join(sorted(options))}, "
                            f"and the files {', '.join(file_option_names()) or '(none)'}")
    values = {}
    for name, text in fields.items():
        option, text = options[name], text.strip()
        values[name] = _convert(option, text)
        if option.choices and values[name] not in option.choices:
            raise ApiError(422, f"{name}: {text!r} is not one of {', '.join(map(str, option.choices))}")
    return values


def _convert(option: FormOption, text: str) -> Any:
    try:
        if option.kind == "bool":
            if text.lower() not in TRUE | FALSE:
                raise ValueError(text)
            return text.lower() in TRUE
        if option.kind == "int":
            return int(text)
        if option.kind == "float":
            return float(text)
        if option.kind == "list":
            return [line.strip() for line in text.splitlines() if line.strip()]
        return text
    except ValueError:
        raise ApiError(422, f"{option.name}: {text!r} is not a valid {option.kind}") from None


def build_config(values: dict[str, Any], files: dict[str, Path], user: str, job: str, settings: WebSettings):
    """The job's PortraitConfig, validated as the CLI validates it, plus the web app's own rules."""
    from flows.cli import portrait_config, _validation_message

    if not values.get("style"):
        raise ApiError(422, "style is required (GET /api/v1/styles lists them)")
    base_model = values.get("base_model", settings.default_base_model)
    if base_model not in settings.base_models:
        raise ApiError(422, f"base_model {base_model!r} is not offered here; choose one of "
                            f"{', '.join(settings.base_models)}")
    refuse_server_side(setting.partition("=")[0] for setting in values.get("set", []))
    args = argparse.Namespace(**{a.dest: a.default for a in _portrait_parser()._actions if a.dest != "help"})
    vars(args).update(values)
    vars(args).update({name: str(path) for name, path in files.items()})
    vars(args).update(user=user, job=job, out=str(settings.jobs_root), photos=[], no_progress=True, trust_pickle=False,
                      styles_dir=settings.styles_dir, adapter=None, base_model=base_model)
    try:
        config = portrait_config(args)
    except ValidationError as exc:
        raise ApiError(422, _validation_message(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    _check_runnable(config)
    return config


def _check_runnable(config) -> None:
    """Unknown style, absent base model: refused now, as the CLI refuses them, not after the job queued."""
    from components.diffusion.base_model import BaseModelNotFound
    from flows.portrait_config import check_job_inputs

    try:
        check_job_inputs(config)
    except (ValueError, FileNotFoundError, BaseModelNotFound) as exc:
        raise ApiError(422, str(exc)) from None
