"""`python -m flows backends`: every stage's backends, which one is the default, whether its model is on this
machine, and its licence (the seed's models are not all licensed for commercial use)."""

from __future__ import annotations

from flows.config import AdapterFlowConfig, CurationConfig
from tasks.catalog import ADAPTER, ALL_STAGES, CURATION, PORTRAIT


def default_backends() -> dict[str, str]:
    """Registry stage -> the backend the flows run when not told otherwise (their configs' defaults)."""
    from flows.portrait_config import PortraitConfig

    curation, adapter = CurationConfig(), AdapterFlowConfig()
    values = {CURATION: {name: getattr(curation, name) for name in type(curation).model_fields},
              PORTRAIT: {name: field.default for name, field in PortraitConfig.model_fields.items()},
              ADAPTER: {name: getattr(adapter, name) for name in type(adapter).model_fields}}
    defaults: dict[str, str] = {}
    for stage in ALL_STAGES:
        value = values[stage.group].get(stage.backend_from or stage.config_name)
        if stage.registry and value is not None:
            defaults.setdefault(stage.registry, value.backend)
    return defaults


def backend_lines() -> list[str]:
    from components.seed.catalog import backend_rows

    rows = backend_rows(default_backends())
    lines = [f"{'stage':13s} {'backend':21s} {'default':7s} {'model':56s} {'local':5s} licence"]
    for r in rows:
        model = f"{r.model_id}@{r.revision}" if r.model_id else "embedded (ships in a package)"
        local = {True: "yes", False: "no", None: "-"}[r.present]
        lines.append(f"{r.stage:13s} {r.backend:21s} {'yes' if r.default else '':7s} {model:56s} {local:5s} "
                     f"{r.licence or 'of its package'}")
    return lines
