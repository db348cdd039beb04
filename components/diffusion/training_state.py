"""What the LoRA and adapter trainers share: resumable state as safetensors, and pipeline flags.

A checkpoint holds the trained parameters (`param/<name>`), the optimizer's
tensors (`optimizer/<index>/<key>`) and, as JSON metadata, the step, the
trainer's settings, the optimizer's scalars and param groups, the LR
scheduler's state and the losses so far. No pickle anywhere.
"""

from __future__ import annotations

import json

import torch

NamedParams = list[tuple[str, torch.nn.Parameter]]


def read_safetensors(payload: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors.torch import load

    tensors = load(payload)
    # load() drops the metadata; the format is an 8-byte little-endian length + JSON header.
    header_len = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8 : 8 + header_len])
    return tensors, header.get("__metadata__") or {}


def pack_training_state(*, fmt: str, step: int, settings: dict, named: NamedParams, optimizer,
                        losses: list[float], lr_scheduler=None) -> bytes:
    from safetensors.torch import save

    tensors = {f"param/{name}": p.detach().to("cpu").contiguous().clone() for name, p in named}
    optim = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for index, state in optim["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer/{index}/{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    metadata = {
        "format": fmt,
        "step": str(step),
        "settings": json.dumps(settings),
        "param_names": json.dumps([name for name, _ in named]),
        "optimizer_param_groups": json.dumps(optim["param_groups"]),
        "optimizer_scalars": json.dumps(scalars),
        "losses": json.dumps(losses),
    }
    if lr_scheduler is not None:
        metadata["lr_scheduler"] = json.dumps(lr_scheduler.state_dict())
    return save(tensors, metadata=metadata)


def restore_training_state(checkpoints, *, fmt: str, settings: dict, named: NamedParams, optimizer,
                           lr_scheduler=None, what: str = "trained") -> tuple[int, list[float]]:
    """Load the latest checkpoint into params/optimizer/scheduler; (step, losses), (0, []) if none."""
    latest = checkpoints.latest() if checkpoints is not None else None
    if latest is None:
        return 0, []
    step, payload = latest
    tensors, metadata = read_safetensors(payload)
    if metadata.get("format") != fmt or int(metadata.get("step", -1)) != step:
        raise ValueError(f"checkpoint for step {step} is not a {fmt} payload of that step")
    if json.loads(metadata["settings"]) != settings:
        raise ValueError(f"checkpoint at step {step} was written with settings {metadata['settings']}, "
                         f"this trainer has {json.dumps(settings)}; start a fresh run")
    if json.loads(metadata["param_names"]) != [name for name, _ in named]:
        raise ValueError(f"checkpoint {what} parameters do not match this UNet")
    with torch.no_grad():
        for name, param in named:
            param.copy_(tensors[f"param/{name}"])
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in json.loads(metadata["optimizer_scalars"]).items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["optimizer_param_groups"])})
    if lr_scheduler is not None:
        lr_scheduler.load_state_dict(json.loads(metadata["lr_scheduler"]))
    return step, [float(x) for x in json.loads(metadata["losses"])]


OPTIMIZERS = ("adamw", "adamw8bit")


def make_optimizer(name: str, params, learning_rate: float):
    """AdamW, or bitsandbytes' 8-bit AdamW (quarter of the moments' memory) where it is installed."""
    kwargs = dict(lr=learning_rate, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    if name == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ValueError("optimizer adamw8bit needs bitsandbytes (pip install bitsandbytes, CUDA only)") from None
        return bnb.optim.AdamW8bit(params, **kwargs)
    return torch.optim.AdamW(params, **kwargs)


def optimise(*, start: int, steps: int, losses: list[float], step_loss, params, optimizer, max_grad_norm: float,
             lr_scheduler=None, checkpoint_every: int = 0, save_checkpoint=None, progress=None) -> None:
    """The loop both trainers run: loss, backward, clip, step; checkpoint and report every step.

    `step_loss(step)` returns the step's loss; `save_checkpoint(done)` is called every
    `checkpoint_every` steps; `losses` grows in place (it may hold a resumed run's).
    """
    with torch.enable_grad():
        for step in range(start, steps):
            loss = step_loss(step)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            if lr_scheduler is not None:
                lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            done = step + 1
            if save_checkpoint is not None and done % checkpoint_every == 0:
                save_checkpoint(done)
            if progress is not None:
                progress(done, steps, losses[-1])


def training_noise_scheduler(config):
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(config)


def snapshot_training_flags(pipeline) -> dict:
    """Train/eval mode and requires_grad of every model of the pipeline (one or two text encoders...)."""
    models = {name: model for name, model in pipeline.components.items() if isinstance(model, torch.nn.Module)}
    return {name: (model.training, {n: p.requires_grad for n, p in model.named_parameters()})
            for name, model in models.items()}


def restore_training_flags(pipeline, saved: dict) -> None:
    for name, (training, grads) in saved.items():
        model = getattr(pipeline, name)
        model.train(training)
        for param_name, param in model.named_parameters():
            param.requires_grad_(grads.get(param_name, False))


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
