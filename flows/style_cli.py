"""The style commands of the CLI: `styles` (the library, its LoRAs, what is here) and `train-style`."""

from __future__ import annotations

import argparse
import sys


def styles_args(p: argparse.ArgumentParser) -> None:
    from flows.portrait_config import DEFAULT_STYLES_DIR

    p.add_argument("--styles", "--styles-dir", dest="styles_dir", default=DEFAULT_STYLES_DIR, metavar="DIR",
                   help="a style folder: our YAML styles and/or FaceChain's JSON styles (default: the shipped ones)")


def styles(args: argparse.Namespace) -> int:
    """Each style: name and description, its file, its LoRAs (weight, present or missing), its preview."""
    from tasks.style_listing import listing_lines, style_listing

    listings = style_listing(args.styles_dir)
    print("\n".join(listing_lines(listings)))
    broken = sum(1 for item in listings if item.error)
    if broken:
        print(f"{broken} style file(s) could not be read: see 'error:' above", file=sys.stderr)
    return 0


def train_style_args(p: argparse.ArgumentParser) -> None:
    from tasks.config import DEFAULT_BASE_MODEL, StyleTrainConfig

    defaults = StyleTrainConfig()
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR", help="pictures of the style (no face needed)")
    p.add_argument("--name", required=True, help="the new style's name: lower-case letters, digits, _ and -")
    p.add_argument("--out", required=True, metavar="STYLES_DIR", help="style folder to write NAME.yaml and "
                                                                       "NAME.safetensors into")
    p.add_argument("--base-model", default=DEFAULT_BASE_MODEL, help="as for `portrait`")
    p.add_argument("--trust-pickle", action="store_true")
    p.add_argument("--captions", default=None, metavar="FILE",
                   help="captions.txt: 'FILE<TAB>caption' lines (a captions.txt inside an input folder is read too)")
    p.add_argument("--trigger", default=None, help="token every caption starts with (default NAME_style)")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--rank", type=int, default=defaults.rank)
    p.add_argument("--resolution", type=int, default=defaults.resolution)
    p.add_argument("--lr", type=float, default=defaults.learning_rate)
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--no-tagger", action="store_true", help="no face tagging: fixed captions where none is given")
    p.add_argument("--force", action="store_true", help="train again even when this training is cached")


def train_style(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from components.diffusion.base_model import check_base_model
    from flows.cli import _validation_message
    from flows.config import StyleTrainingConfig
    from flows.style_training import train_style_flow
    from tasks.config import BaseModelConfig, StyleTrainConfig
    from tasks.style_training import check_style_name

    check_style_name(args.name)
    try:
        config = StyleTrainingConfig(
            train=StyleTrainConfig(steps=args.steps, rank=args.rank, alpha=args.rank, resolution=args.resolution,
                                   learning_rate=args.lr, checkpoint_every=args.checkpoint_every, seed=args.seed,
                                   trigger=args.trigger, tag_faces=not args.no_tagger),
            base=BaseModelConfig(spec=args.base_model, trust_pickle=args.trust_pickle))
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None
    check_base_model(config.base.spec, allow_pickle=config.base.trust_pickle)  # before a Prefect server starts
    if config.base.is_test_model:
        print("note: --base-model tiny is a tiny random TEST model: the style LoRA it makes is not a real style")
    result = train_style_flow(images=args.images, name=args.name, out=args.out, config=config,
                              captions=args.captions, force=args.force)
    print_style_training(result)
    print(f"use it: python -m flows portrait PHOTOS... --styles {args.out} --style {result['style']} ...")
    return 0


def print_style_training(result: dict) -> None:
    print(f"trained style {result['style']!r} on {result['pictures']} picture(s), {result['steps']} steps; "
          f"loss {result['first_loss']:.4f} -> {result['last_loss']:.4f}" + (" (cached)" if result["cached"] else ""))
    print("captions: " + ", ".join(f"{n} from {source}" for source, n in result["captions"].items()))
    for reason in result["skipped"]:
        print(f"skipped: {reason}", file=sys.stderr)
    print(f"style: {result['style file']}\nlora: {result['lora']}\ntrigger: {result['trigger']}\njob: {result['job']}")
