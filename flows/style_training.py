"""Train a style LoRA from pictures into a style folder: `python -m flows train-style`."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict

from flows.joblock import JobLock
from tasks.config import BaseModelConfig, LoadConfig, StyleTrainConfig
from tasks.gpu import GpuConfig
from tasks.style_training import WORK_FOLDER, check_style_name, train_style_task, training_record


class StyleTrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: StyleTrainConfig = StyleTrainConfig()
    base: BaseModelConfig = BaseModelConfig()
    load: LoadConfig = LoadConfig()
    gpu: GpuConfig = GpuConfig()


@flow(name="train-style", log_prints=True)
def train_style_flow(images: list[str], name: str, out: str, config: StyleTrainingConfig | None = None,
                     captions: str | None = None) -> dict:
    """One style per NAME; two trainings of the same NAME in one folder take turns (a lock)."""
    config = config or StyleTrainingConfig()
    check_style_name(name)
    folder = Path(out).resolve()
    work = folder / WORK_FOLDER / name
    with JobLock(work):
        task = train_style_task.with_options(result_storage=folder / WORK_FOLDER / ".prefect" / "results")
        arguments = (images, name, str(folder), config.train, config.base, config.load)
        state = task(*arguments, captions=captions, gpu=config.gpu, return_state=True)
        style_file = state.result()
        if not Path(style_file).is_file() or not (folder / f"{name}.safetensors").is_file():
            style_file = task.with_options(refresh_cache=True)(*arguments, captions=captions, force=True,
                                                               gpu=config.gpu)  # cached, but the files are gone
        record = training_record(str(folder), name)
    sources = [row["caption_source"] for row in record["pictures"]]
    return {"style": name, "style file": style_file, "lora": str(folder / f"{name}.safetensors"),
            "pictures": len(record["pictures"]), "skipped": record["skipped"], "trigger": record["trigger"],
            "captions": {source: sources.count(source) for source in dict.fromkeys(sources)},
            "steps": record["steps"], "first_loss": record["losses"][0], "last_loss": record["losses"][-1],
            "cached": state.name == "Cached"}
