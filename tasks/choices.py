"""Each stage's configuration type: one config class per backend, told apart by `backend`.

Adding a backend is a class plus a registry line plus its config here. Which
backend a stage uses by default is its flow config's default (flows/config.py).
"""

from __future__ import annotations

import typing
from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from tasks.config import (
    DetectConfig,
    OrientConfig,
    QualityConfig,
    RankConfig,
    SegmentConfig,
    SelectConfig,
    StageConfig,
    TagConfig,
    YuNetDetectConfig,
    YuNetOrientConfig,
)
from tasks.seed_config import (
    FairFaceTagConfig,
    FlcmQualityConfig,
    FqaQualityConfig,
    FqaSelectConfig,
    M2fpSegmentConfig,
    RotBgrOrientConfig,
    RtsRankConfig,
)


def _choice(*classes: type[StageConfig]):
    return Annotated[Union[classes], Field(discriminator="backend")]  # noqa: UP007 - a runtime union of classes


OrientChoice = _choice(OrientConfig, YuNetOrientConfig, RotBgrOrientConfig)
DetectChoice = _choice(DetectConfig, YuNetDetectConfig)
SegmentChoice = _choice(SegmentConfig, M2fpSegmentConfig)
TagChoice = _choice(TagConfig, FairFaceTagConfig)
QualityChoice = _choice(QualityConfig, FlcmQualityConfig, FqaQualityConfig)
RankChoice = _choice(RankConfig, RtsRankConfig)
SelectChoice = _choice(SelectConfig, FqaSelectConfig)


def config_classes(config_type) -> dict[str, type[StageConfig]]:
    """backend name -> its config class, for a stage's config type (a union or one class)."""
    if isinstance(config_type, type):
        return {config_type.model_fields["backend"].default: config_type}
    members = typing.get_args(typing.get_args(config_type)[0])
    return {cls.model_fields["backend"].default: cls for cls in members}


def with_settings(config_type, current: StageConfig, settings: dict) -> StageConfig:
    """`current` with `settings` applied. Another `backend` keeps the settings both backends have
    (e.g. rank's `keep`) and takes its own defaults for the rest."""
    target = config_classes(config_type).get(settings.get("backend", current.backend), type(current))
    kept = {k: v for k, v in current.model_dump().items() if k in target.model_fields and k != "backend"}
    return TypeAdapter(config_type).validate_python({**kept, "backend": target.model_fields["backend"].default,
                                                    **settings})
