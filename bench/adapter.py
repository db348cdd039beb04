"""Train-free adapters: training steps/s and generation s/image relative to plain generation.

    python bench/adapter.py [--gpu]

CPU (default): the tiny test model at 64². `--gpu` (CUDA only; skipped
otherwise): the SD 1.5 architecture with random weights in fp16 at 512²,
30 steps, including encoding the face (target on one H100: a 512² train-free
portrait <= 1.5 s). One run, one table, saved under bench/results/.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, save  # noqa: E402

KINDS = ("fact", "feedface")


def examples(size: int, count: int = 6):
    from components.adapters.types import AdapterExample

    rng = np.random.default_rng(0)
    people = {name: rng.normal(size=128).astype(np.float32) for name in ("a", "b")}
    made = []
    for i in range(count):
        name = "ab"[i % 2]
        image = np.full((size, size, 3), 255, np.uint8)
        image[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = (60 + 30 * i, 120, 200 - 20 * i)
        mask = np.zeros((size, size), np.uint8)
        mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255
        made.append(AdapterExample(image=image, mask=mask, embedding=people[name] + 0.01 * i, identity=name))
    return made


def timed(fn, sync=lambda: None) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def measure(pipeline, size: int, steps: int, train_steps: int, sync) -> list[tuple[str, str]]:
    from components.adapters.infer import AdapterGenerator
    from components.adapters.train import AdapterTrainer

    rows = []
    plain = lambda: pipeline("a photo of a person", num_inference_steps=steps, height=size, width=size,  # noqa: E731
                             guidance_scale=5.0, output_type="np")
    plain()  # warm-up
    plain_s = timed(plain, sync)
    rows.append(("plain generation s/image", f"{plain_s:.3f}   ({size}², {steps} steps, text CFG)"))
    face = examples(size)[0].embedding[None]
    for kind in KINDS:
        trainer = AdapterTrainer(pipeline, kind, steps=train_steps, resolution=size, checkpoint_every=10_000)
        train_s = timed(lambda: trainer.train(examples(size)), sync)
        weights = AdapterTrainer(pipeline, kind, steps=1, resolution=size, checkpoint_every=10_000).train(
            examples(size))
        generator = AdapterGenerator(pipeline, weights)
        run = lambda: generator.generate("a photo of a person", "", face, seeds=(0,), steps=steps,  # noqa: E731
                                         width=size, height=size)
        run()  # warm-up
        gen_s = timed(run, sync)
        rows.append((f"{kind} training steps/s", f"{train_steps / train_s:.2f}"))
        rows.append((f"{kind} train-free s/image", f"{gen_s:.3f}   ({gen_s / plain_s:.2f}x plain; face encoding "
                                                   "= the curated embedding, already computed)"))
    return rows


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpu", action="store_true")
    args = parser.parse_args()
    if args.gpu:
        if not torch.cuda.is_available():
            print("no CUDA device: GPU adapter benchmark skipped")
            return 0
        from bench.gpu import build_pipeline

        pipeline = build_pipeline(False, "cuda", torch.float16)
        rows = measure(pipeline, 512, 30, 20, torch.cuda.synchronize)
        title, name = "adapter benchmark (SD 1.5 architecture, random weights, fp16)", "gpu"
    else:
        from components.diffusion.tiny import build_tiny_pipeline

        rows = measure(build_tiny_pipeline(0), 64, 10, 20, lambda: None)
        title, name = "adapter benchmark (tiny test model, CPU)", "cpu"
    text = print_table(title, [("host", socket.gethostname()), *rows])
    save(text, f"adapter-{name}-{socket.gethostname()}.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
