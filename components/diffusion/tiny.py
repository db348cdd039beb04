"""Tiny, randomly initialised Stable Diffusion pipelines (SD 1.5 and SDXL) for tests and dry runs.

Each has its real pipeline's structure (UNet with cross-attention, CLIP text
encoder, KL VAE, scheduler) at a size that runs in seconds on a CPU, and it
produces noise-like images: it is never a portrait model.
"""

from __future__ import annotations

import torch


_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


def build_tiny_pipeline(seed: int = 0):
    """Same seed -> bitwise-identical weights; the global RNG state is left untouched."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    tokenizer = byte_level_tokenizer()
    # Module constructors draw from the global RNG and accept no generator, so
    # seed it inside fork_rng, which restores the caller's state afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**_TINY_UNET, cross_attention_dim=32)
        vae = _tiny_vae()
        text_encoder = _tiny_text_encoder(tokenizer, hidden_size=32)
    scheduler = DDIMScheduler(**_SD_BETAS, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return _as_test_pipeline(pipeline, (unet, vae, text_encoder))


def build_tiny_sdxl_pipeline(seed: int = 0):
    """A tiny SDXL: two CLIP text encoders (the second with projection, widths 32 and 48 so that
    their order matters), a UNet with SDXL's "text_time" addition embedding (pooled text + six
    size/crop ids), an 8x VAE with SDXL's scaling factor. Same seed -> identical weights."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    tokenizer = byte_level_tokenizer()
    time_embed_dim, pooled_dim = 8, 48
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            **_TINY_UNET,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            transformer_layers_per_block=(1, 2),
            cross_attention_dim=32 + 48,  # both encoders' hidden states concatenated
            addition_embed_type="text_time",
            addition_time_embed_dim=time_embed_dim,
            projection_class_embeddings_input_dim=pooled_dim + 6 * time_embed_dim,
        )
        vae = _tiny_vae(scaling_factor=0.13025, force_upcast=True)  # SDXL's VAE values
        text_encoder = _tiny_text_encoder(tokenizer, hidden_size=32)
        text_encoder_2 = _tiny_text_encoder(tokenizer, hidden_size=48, projection_dim=pooled_dim, with_projection=True)
    # SDXL ships Euler with "leading" spacing
    scheduler = EulerDiscreteScheduler(**_SD_BETAS, steps_offset=1, timestep_spacing="leading")
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=byte_level_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        add_watermarker=False,
    )
    return _as_test_pipeline(pipeline, (unet, vae, text_encoder, text_encoder_2))


_SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
_TINY_UNET = dict(
    block_out_channels=(32, 64),
    layers_per_block=2,
    sample_size=32,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=32,
)


def _tiny_vae(scaling_factor: float = 0.18215, force_upcast: bool = True):
    from diffusers import AutoencoderKL

    # Four blocks, as in SD: latents are 1/8 of the image side. With two
    # blocks (1/2) a 512² image gave 256² latents and quadratic attention
    # over 65k tokens (150 s a training step on 2 cores).
    return AutoencoderKL(
        block_out_channels=(8, 16, 32, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def _tiny_text_encoder(tokenizer, *, hidden_size: int, projection_dim: int = 32, with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection_dim,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def _as_test_pipeline(pipeline, models):
    """Frozen and in eval mode, as a loaded inference pipeline is used; labelled as a test model."""
    pipeline.set_progress_bar_config(disable=True)
    for model in models:
        model.requires_grad_(False).eval()
    pipeline.is_test_model = True
    return pipeline


def random_unet_lora(pipeline, seed: int = 0, rank: int = 4) -> dict:
    """An untrained UNet LoRA with random (non-zero) weights in diffusers' bare format, for tests and
    benchmarks (e.g. a stand-in for a fast-sampling LoRA). The pipeline is left as it was."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = pipeline.unet
    if getattr(unet, "peft_config", None):
        raise ValueError("the UNet already carries adapters")
    fork_devices = [] if unet.device.type == "cpu" else None
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]), adapter_name="random")
    try:
        state = get_peft_model_state_dict(unet, adapter_name="random")
        return {k: v.detach().to("cpu").clone().contiguous() for k, v in convert_state_dict_to_diffusers(state).items()}
    finally:
        unet.unload_lora()


def byte_level_tokenizer():
    """CLIP BPE tokenizer whose vocab is the 256 byte symbols (plain and word-final).

    With every byte in the vocab and no merges, any text tokenizes (one token
    per byte) and nothing maps to the unknown token. Built in memory: the
    tokenizers backend takes the vocab and merges directly, no files needed.
    """
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {_BOS: 0, _EOS: 1}
    for suffix in ("", "</w>"):
        for symbol in symbols:
            vocab[symbol + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-in character for each of the 256 bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]
