"""Code versions follow the import graph: an edit recomputes the stages that import it, and only those."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.config import CurationConfig, curation_values
from flows.portrait_config import PortraitConfig, portrait_values, resolve_style
from tasks.catalog import ADAPTER_STAGES, CURATION_STAGES, PORTRAIT_STAGES, STYLE, TRAIN_FREE, Stage
from tasks.codeversion import PROJECT_ROOT, imported_modules, module_closure
from tasks.config import AdapterTrainConfig, BaseModelConfig, TrainFreeConfig
from tasks.keys import stage_code_version



def label(stage: Stage) -> str:
    """A name per catalogue entry: generate, generate-free, generate-pose, generate-free-template, rank-template..."""
    free = "-free" if stage.modes == {TRAIN_FREE} else ""
    kinds = "" if STYLE in stage.kinds else "-" + "-".join(sorted(stage.kinds))
    return f"{stage.name}{free}{kinds}"


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    for package in ("components", "tasks", "flows"):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def all_versions(root: Path) -> dict[str, str]:
    config = PortraitConfig(user="u", style="studio_headshot", base=BaseModelConfig(spec="tiny"),
                            train_free=TrainFreeConfig(adapter="/nonexistent"))
    values = {**portrait_values(config, resolve_style(config), 10), **curation_values(CurationConfig()),
              "train": AdapterTrainConfig()}
    versions = {}
    for stage in (*CURATION_STAGES, *PORTRAIT_STAGES, *ADAPTER_STAGES):
        stage_values = {**values, "train": config.train} if stage.name == "train" else values
        versions[label(stage)] = stage_code_version(stage, stage_values, root)
    assert len(versions) == len(CURATION_STAGES) + len(PORTRAIT_STAGES) + len(ADAPTER_STAGES)
    return versions


def changed_after_editing(root: Path, relative: str) -> set[str]:
    before = all_versions(root)
    path = root / relative
    path.write_text(path.read_text() + "\n# an edit\n")
    after = all_versions(root)
    return {name for name in before if before[name] != after[name]}


def test_a_sampler_edit_recomputes_generation_only(repo_copy):
    changed = changed_after_editing(repo_copy, "components/diffusion/samplers.py")
    assert {"generate", "generate-free"} <= changed
    assert not changed & {"train", "select", "fuse", "rank", *(s.name for s in CURATION_STAGES)}


def test_a_sampler_edit_leaves_the_template_and_pose_stages_that_do_not_diffuse(repo_copy):
    changed = changed_after_editing(repo_copy, "components/diffusion/samplers.py")
    assert {"generate-pose", "generate-free-pose", "generate-template", "generate-free-template", "inpaint-template",
            "inpaint-free-template"} <= changed
    assert not changed & {"template-template", "template-crop-template", "pose-map-pose", "paste-template",
                          "rank-template", "select-template", "fuse-template", "train-template"}


def test_a_detector_edit_recomputes_what_detects_faces(repo_copy):
    changed = changed_after_editing(repo_copy, "components/detection.py")
    assert {"orient", "detect", "align", "fuse", "rank"} <= changed  # orient votes with the detector
    assert not changed & {"segment", "retouch", "tag", "train", "generate"}


def test_training_helpers_are_in_the_trainers_keys(repo_copy):
    assert {"train", "train-adapter"} <= changed_after_editing(repo_copy, "components/diffusion/training_state.py")
    changed = changed_after_editing(repo_copy, "components/diffusion/augment.py")
    assert "train" in changed and "generate" not in changed


def test_adapter_modules_are_in_the_adapter_stages_keys(repo_copy):
    changed = changed_after_editing(repo_copy, "components/adapters/infer.py")
    assert "generate-free" in changed and "generate" not in changed and "train" not in changed


def test_imports_inside_functions_and_relative_imports_are_followed():
    source = "import os\nfrom components import registry\ndef f():\n    from .styles import Style\n"
    found = imported_modules(source, "components.diffusion.generate", is_package=False)
    assert {"components", "components.registry", "components.diffusion.styles"} <= found
    closure = {p.relative_to(PROJECT_ROOT).as_posix() for p in module_closure(["tasks.stages.generate"])}
    assert "components/diffusion/samplers.py" in closure  # via components.diffusion.styles
    assert "components/diffusion/lora.py" not in closure


def test_every_stage_module_exists():
    for stage in (*CURATION_STAGES, *PORTRAIT_STAGES, *ADAPTER_STAGES):
        assert isinstance(stage, Stage)
        module, _, function = stage.body.partition(":")
        assert module_closure([module]), stage.name
