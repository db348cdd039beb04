"""Stable Diffusion 1.5's published model configs as Python dicts, and a scaled-down copy for CPU dry runs.

Values as in stable-diffusion-v1-5/stable-diffusion-v1-5: unet/config.json,
vae/config.json, text_encoder/config.json (CLIP ViT-L/14's text tower) and
scheduler/scheduler_config.json. With random weights they make a model of the
real architecture and size (UNet 860 M, VAE 84 M, text encoder 123 M
parameters) for timing training and generation where the weights cannot be
downloaded. Only the tokenizer differs (a byte-level vocab instead of CLIP's
49k BPE merges, see gpu.py): prompts still pad or truncate to 77 tokens, so
every tensor shape is the real one.
"""

from __future__ import annotations

import copy

UNET = {
    "act_fn": "silu",
    "attention_head_dim": 8,  # diffusers' historical name: 8 heads per attention layer
    "block_out_channels": (320, 640, 1280, 1280),
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
}

VAE = {
    "act_fn": "silu",
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "scaling_factor": 0.18215,
}

TEXT_ENCODER = {  # transformers.CLIPTextConfig
    "attention_dropout": 0.0,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
    "vocab_size": 49408,
}

SCHEDULER = {  # PNDMScheduler, as SD 1.5 ships it; the styles pick their own sampler from this config
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}

MAX_TOKENS = 77


def configs(small: bool = False) -> dict[str, dict]:
    """{"unet", "vae", "text_encoder", "scheduler"}: the real configs, or the scaled-down dry-run ones."""
    out = {"unet": copy.deepcopy(UNET), "vae": copy.deepcopy(VAE), "text_encoder": copy.deepcopy(TEXT_ENCODER),
           "scheduler": copy.deepcopy(SCHEDULER)}
    if small:
        out["unet"].update(block_out_channels=(32, 64, 128, 128),  # /10, kept divisible by 32 groups
                           layers_per_block=1, cross_attention_dim=64)
        out["vae"].update(block_out_channels=(32, 32, 64, 64), layers_per_block=1)
        out["text_encoder"].update(hidden_size=64, intermediate_size=256, num_hidden_layers=1,
                                   num_attention_heads=4, projection_dim=64)
    return out
