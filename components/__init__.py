"""Pure, framework-free stage implementations.

Nothing in this package imports Prefect or touches file paths: every
component takes arrays / PIL images in and returns typed result dataclasses
(`components.types`). Backends are chosen by name through
`components.registry`.
"""
