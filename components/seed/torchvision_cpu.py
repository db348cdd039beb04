"""Let torchvision import beside a CPU-only torch wheel; a no-op wherever its own ops load.

Why: pip resolves torchvision 0.28 for torch 2.13 from PyPI, a CUDA build
whose compiled `_C` cannot load beside the CPU torch wheel this project
installs. torchvision then dies at import, in `_meta_registrations`, while
registering fake kernels for `torchvision::nms`/`qnms`, operators the missing
`_C` would have defined. And it is not only our import that dies:
transformers imports torchvision whenever the package is installed, so
`from transformers import CLIPTextModel` (diffusers, the whole portrait side)
would break too.

What: `install()` puts a finder on `sys.meta_path` that acts once, at the
first `import torchvision` by anyone: if torchvision's `_C` cannot be loaded,
it defines just those two operator schemas, and torchvision imports. Then
models, transforms, `ops.box_iou` and `ops.roi_align` work (all the seed
backends need); `ops.nms` and `torchvision.io` still fail, loudly. Where
`_C` loads (a matching CUDA or CPU build), nothing is defined.
`components/__init__.py` installs it, so every process of the project has it
before anything can import torchvision.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


class _FirstTorchvisionImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it prepares torch for torchvision, then lets the normal finders work."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            _remove_hooks()
            prepare_torch()
        return None


def install() -> None:
    """Idempotent; cheap (imports nothing) until torchvision is imported."""
    if "torchvision" in sys.modules or any(isinstance(f, _FirstTorchvisionImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _FirstTorchvisionImport())


def import_torchvision() -> ModuleType:
    install()
    import torchvision

    return torchvision


def prepare_torch() -> None:
    if not _extension_loads():
        _define_schemas()


@functools.cache
def _define_schemas():
    import torch

    # The Library object must stay alive: its definitions are dropped when it is collected.
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    return library


def _extension_loads() -> bool:
    """Whether torchvision's compiled `_C` loads into this torch (what torchvision tries first)."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # not installed: the import fails on its own, nothing to prepare
    folder = Path(next(iter(spec.submodule_search_locations)))
    libraries = sorted(folder.glob("_C.*so")) + sorted(folder.glob("_C.*pyd"))
    if not libraries:
        return False
    try:
        torch.ops.load_library(str(libraries[0]))
    except (ImportError, OSError):
        return False
    return True


def _remove_hooks() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _FirstTorchvisionImport)]
