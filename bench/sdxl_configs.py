"""SDXL base 1.0's published model configs as Python dicts, and a scaled-down copy for CPU dry runs.

Values as in stabilityai/stable-diffusion-xl-base-1.0: unet/config.json,
vae/config.json, text_encoder/config.json (CLIP ViT-L/14's text tower, as in
SD 1.5), text_encoder_2/config.json (OpenCLIP ViT-bigG/14's text tower, with
projection) and scheduler/scheduler_config.json. With random weights they make a
model of the real architecture and size (UNet 2.6 B, VAE 84 M, text encoders
123 M and 695 M parameters). Tokenizers: byte-level, as for SD 1.5 (see
sd15_configs.py): prompts pad or truncate to 77 tokens, so every shape is real.
"""

from __future__ import annotations

import copy

from bench.sd15_configs import TEXT_ENCODER as CLIP_L_TEXT_ENCODER
from bench.sd15_configs import UNET as SD15_UNET
from bench.sd15_configs import VAE as SD15_VAE

# SDXL's configs differ from SD 1.5's in these keys only
UNET = SD15_UNET | {
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": (5, 10, 20),
    "block_out_channels": (320, 640, 1280),
    "cross_attention_dim": 2048,  # 768 (CLIP-L) + 1280 (bigG) hidden states side by side
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "projection_class_embeddings_input_dim": 2816,  # 1280 pooled + 6 time ids x 256
    "sample_size": 128,
    "transformer_layers_per_block": (1, 2, 10),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "use_linear_projection": True,
}

VAE = SD15_VAE | {
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,  # overflows in fp16: the pipeline decodes in fp32
}

TEXT_ENCODER_2 = {  # transformers.CLIPTextConfig for CLIPTextModelWithProjection
    "attention_dropout": 0.0,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "projection_dim": 1280,
    "vocab_size": 49408,
}

SCHEDULER = {  # EulerDiscreteScheduler, as SDXL ships it
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}


def configs(small: bool = False) -> dict[str, dict]:
    """{"unet", "vae", "text_encoder", "text_encoder_2", "scheduler"}: real or scaled-down dry-run configs."""
    out = {"unet": copy.deepcopy(UNET), "vae": copy.deepcopy(VAE), "text_encoder": copy.deepcopy(CLIP_L_TEXT_ENCODER),
           "text_encoder_2": copy.deepcopy(TEXT_ENCODER_2), "scheduler": copy.deepcopy(SCHEDULER)}
    if small:
        out["text_encoder"].update(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                                   num_attention_heads=4, projection_dim=64)
        out["text_encoder_2"].update(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                                     num_attention_heads=4, projection_dim=64)
        out["unet"].update(block_out_channels=(32, 64, 128), layers_per_block=1, attention_head_dim=(2, 4, 8),
                           transformer_layers_per_block=(1, 1, 2), cross_attention_dim=128,
                           addition_time_embed_dim=8, projection_class_embeddings_input_dim=64 + 6 * 8)
        out["vae"].update(block_out_channels=(32, 32, 64, 64), layers_per_block=1)
    return out
