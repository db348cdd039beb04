"""A tiny, randomly initialised Stable Diffusion pipeline for tests and dry runs.

It has the real pipeline's structure (UNet with cross-attention, CLIP text
encoder, KL VAE, scheduler) at a size that runs in seconds on a CPU, and it
produces noise-like images: it is never a portrait model.
"""

from __future__ import annotations

import torch


_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


def build_tiny_pipeline(seed: int = 0):
    """Same seed -> bitwise-identical weights; the global RNG state is left untouched."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = byte_level_tokenizer()
    # Module constructors draw from the global RNG and accept no generator, so
    # seed it inside fork_rng, which restores the caller's state afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=2,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=32,
        )
        # Four blocks, as in SD: latents are 1/8 of the image side. With two
        # blocks (1/2) a 512² image gave 256² latents and quadratic attention
        # over 65k tokens (150 s a training step on 2 cores).
        vae = AutoencoderKL(
            block_out_channels=(8, 16, 32, 32),
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            norm_num_groups=8,
            layers_per_block=1,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                projection_dim=32,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    for model in (unet, vae, text_encoder):
        model.eval()  # as from_pretrained leaves them
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
    pipeline.set_progress_bar_config(disable=True)
    for model in (unet, vae, text_encoder):  # an inference pipeline, as a loaded one is used: frozen, eval
        model.requires_grad_(False).eval()
    pipeline.is_test_model = True
    return pipeline


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
