"""Diffusion side of the portrait job: base model, LoRA training, generation, styles.

Submodules are imported explicitly (``components.diffusion.lora`` ...) so that
importing the package does not pull in torch/diffusers.
"""
