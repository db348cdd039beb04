"""Pure, framework-free stage implementations.

Nothing in this package imports Prefect or touches file paths: every
component takes arrays / PIL images in and returns typed result dataclasses
(`components.types`). Backends are chosen by name through
`components.registry`.
"""

from components.seed.torchvision_cpu import install as _install_torchvision_guard

# Before anything (transformers, timm, modelscope) imports torchvision: see the module.
_install_torchvision_guard()
