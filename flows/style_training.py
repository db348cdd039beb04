"""Train a style LoRA from pictures into a style folder: `python -m flows train-style`.

The `train-style` stage of the catalogue runs through the Plan/Executor like
every other: its key is the pictures' content and given captions, its
settings (trigger included), the base model and its code, so the same command
again trains nothing, and a changed picture, caption or option trains anew.
The job folder is STYLES_DIR/.train-style/NAME (run record, artefacts,
checkpoints); the style is published as STYLES_DIR/NAME.safetensors + NAME.yaml.
`python -m flows rerun STYLES_DIR/.train-style/NAME --stage train-style [--set k=v]`
repeats it from its record.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from flows.config import StyleTrainingConfig
from flows.execute import Artefact, Executor, Plan
from flows.joblock import job_session
from flows.model_checks import with_family
from flows.runs import RunRecord, load_run, save_run
from tasks.catalog import STYLE_STAGES
from tasks.config import StyleTrainConfig
from tasks.keys import FileFingerprints
from tasks.storage import atomic_write_json
from tasks.workspace import Workspace

STYLE_RUN_ID = "train-style"


class StyleJob(BaseModel):
    """What a train-style run was asked for; its run record keeps it, so a re-run repeats it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    images: list[str] = Field(min_length=1)
    captions: str | None = None
    config: StyleTrainingConfig = StyleTrainingConfig()


@flow(name="train-style", log_prints=True)
def train_style_flow(images: list[str], name: str, out: str, config: StyleTrainingConfig | None = None,
                     captions: str | None = None, force: bool = False) -> dict:
    """One style per NAME; two trainings of the same NAME in one folder take turns (the job lock)."""
    job = StyleJob(name=name, images=[str(Path(i).absolute()) for i in images],  # a re-run may start elsewhere
                   captions=None if captions is None else str(Path(captions).absolute()),
                   config=config or StyleTrainingConfig())
    return run_style_training(Path(out), job, force=force)


def run_style_training(folder: Path, job: StyleJob, force: bool = False) -> dict:
    """Plan and run the train-style stage for `job`, then publish the style into `folder`."""
    from components.diffusion.base_model import check_base_model
    from components.diffusion.style_training import default_trigger
    from tasks.style_data import pictures_key, pictures_manifest, style_pictures
    from tasks.style_training import (
        check_not_taken,
        check_style_name,
        published_key,
        publish_style,
        training_record,
        work_folder,
    )

    check_style_name(job.name)
    config = job.config
    check_base_model(config.base.spec, allow_pickle=config.base.trust_pickle)
    folder = folder.resolve()
    work = Workspace(work_folder(folder, job.name))
    with job_session(work.root):
        check_not_taken(folder, job.name)
        pictures, skipped = style_pictures(job.images, config.load, job.captions)
        key = pictures_key(pictures)
        manifest = Artefact(key=key, path=f"pictures/{key}.json")
        atomic_write_json(work.path(manifest.path), pictures_manifest(pictures, skipped))
        train = config.train.model_copy(update={"trigger": config.train.trigger or default_trigger(job.name)})
        record = _style_run(work, job)
        base = with_family(config.base)  # in the key, as in every stage that uses the base model
        plan = Plan(work.root, {"train": train, "base": base, "load": config.load, "gpu": config.gpu},
                    FileFingerprints(record.fingerprints))
        executor = Executor(plan, record, lambda r: save_run(work.root, r), lambda stage: force)
        artefact = _run(executor, record, work, manifest)
        state = record.stages[STYLE_STAGES[0].name].state
        if force or state == "done" or published_key(folder, job.name) != artefact.key:
            publish_style(folder, job.name, work.path(artefact.path),
                          _style_record(work, artefact, train, config, skipped))
        record.state, record.fingerprints = "completed", plan.fingerprints.known
        save_run(work.root, record)
    return _summary(folder, job.name, training_record(str(folder), job.name), state == "cached", work)


def _summary(folder: Path, name: str, info: dict, cached: bool, work: Workspace) -> dict:
    sources = [row["caption_source"] for row in info["pictures"]]
    return {"style": name, "style file": str(folder / f"{name}.yaml"), "lora": str(folder / f"{name}.safetensors"),
            "pictures": len(info["pictures"]), "skipped": info["skipped"], "trigger": info["trigger"],
            "captions": {source: sources.count(source) for source in dict.fromkeys(sources)},
            "steps": info["steps"], "first_loss": info["losses"][0], "last_loss": info["losses"][-1],
            "cached": cached, "job": str(work.root)}


def _style_run(work: Workspace, job: StyleJob) -> RunRecord:
    """This run's record (the last one's file fingerprints kept: a large base model is not hashed again)."""
    try:
        known = load_run(work.root, STYLE_RUN_ID).fingerprints
    except (FileNotFoundError, ValueError):
        known = {}
    record = RunRecord(run_id=STYLE_RUN_ID, kind="style", inputs=job.images, config=job.model_dump(mode="json"),
                       fingerprints=known)
    save_run(work.root, record)
    return record


def _run(executor: Executor, record: RunRecord, work: Workspace, manifest: Artefact) -> Artefact:
    try:
        return executor.run(STYLE_STAGES[0], {"pictures": manifest})
    except BaseException as exc:
        record.state, record.error = "failed", str(exc)
        save_run(work.root, record)
        raise


def _style_record(work: Workspace, artefact: Artefact, train: StyleTrainConfig, config: StyleTrainingConfig,
                  skipped: list[str]) -> dict:
    from tasks.stages.train_style import training_file

    trained = json.loads(training_file(work.path(artefact.path)).read_text())
    return {"key": artefact.key, "trigger": train.trigger, "pictures": trained["pictures"], "skipped": skipped,
            "steps": train.steps, "losses": trained["losses"], "base_model": config.base.spec,
            "train": train.model_dump(mode="json")}
