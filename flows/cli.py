"""Command line: argument parsing and printing only; the work is in the flows."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from flows.config import CurationConfig


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add(commands, "curate", "curate photos into a Parquet face dataset", _curate, _curate_args)
    _add(commands, "stages", "list the stages, one line each", _stages, lambda p: None)
    return parser


def _add(commands, name: str, help_text: str, handler: Callable, add_args: Callable) -> None:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    add_args(sub)
    sub.set_defaults(handler=handler)


def _curate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output root; the dataset goes to OUT/faces/")
    p.add_argument("--batch-size", type=int, default=CurationConfig.model_fields["batch_size"].default)
    p.add_argument("--workers", type=int, default=CurationConfig.model_fields["workers"].default)
    p.add_argument("--runner", choices=["threads", "processes", "dask"], default="threads")
    p.add_argument("--dask-address", default=None, help="scheduler address of an existing Dask cluster")
    p.add_argument("--quality-threshold", type=float, default=None)
    p.add_argument("--no-progress", action="store_true")


def _curate(args: argparse.Namespace) -> int:
    from flows.curate import run_curation

    config = CurationConfig(batch_size=args.batch_size, workers=args.workers, runner=args.runner,
                            dask_address=args.dask_address, progress=not args.no_progress)
    if args.quality_threshold is not None:
        config = config.model_copy(update={"quality": config.quality.model_copy(
            update={"threshold": args.quality_threshold})})
    started = time.perf_counter()
    result = run_curation(args.inputs, args.out, config)
    print_curation_summary(result, time.perf_counter() - started)
    return 0


def print_curation_summary(result: dict, seconds: float) -> None:
    counts = result["counts"]
    total = sum(counts.values())
    print(f"curated {total} photo(s) in {seconds:.1f} s: {counts.get('ok', 0)} ok, "
          f"{counts.get('rejected', 0)} rejected, {counts.get('error', 0)} error")
    for reason, n in sorted(result["reasons"].items(), key=lambda kv: -kv[1]):
        print(f"  {n} x {reason}")
    if result["part"] is None:
        print("nothing new to curate (every photo is already in the dataset)")
    print(f"dataset: {result['dataset']}  (run {result['run_id']})")


def _stages(args: argparse.Namespace) -> int:
    from tasks.curation import STAGES

    for name, (_, _, description) in STAGES.items():
        print(f"{name:10s} {description}")
    return 0
