"""Train a face adapter (FaceChain-FACT or FeedFace) on a curated dataset: `python -m flows train-adapter`.

The adapter folder holds adapter.safetensors (weights + JSON config as
metadata), adapter.json (what it was trained with), report.html with the loss
curve, and adapters/<key>/ (the keyed artefact and its resumable checkpoints).
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow

from components.plot import line_chart_png
from components.report import ReportImage, render_report
from flows.execute import Artefact, Executor, Plan
from flows.joblock import job_session
from flows.runs import RunRecord, save_run
from tasks.catalog import ADAPTER_STAGES
from flows.config import AdapterFlowConfig
from tasks.config import ADAPTER_FILE
from tasks.keys import FileFingerprints
from tasks.stages.train_adapter import dataset_key, dataset_records, losses_file
from tasks.storage import atomic_write_bytes, atomic_write_json
from tasks.workspace import Workspace

ADAPTER_INFO = "adapter.json"


@flow(name="train-adapter", log_prints=True)
def train_adapter_flow(dataset: str, out: str, config: AdapterFlowConfig | None = None) -> dict:
    from flows.model_checks import check_model_inputs, with_family

    config = config or AdapterFlowConfig()
    check_model_inputs(config.base, face_adapters=True)  # SDXL refused before any work
    config = config.model_copy(update={"base": with_family(config.base)})
    folder = Workspace(out)
    with job_session(folder.root):
        records = dataset_records(dataset)
        record = RunRecord(run_id="train-adapter", kind="adapter", inputs=[dataset], config=config.model_dump(mode="json"))
        plan = Plan(folder.root, {"train": config.train, "base": config.base, "gpu": config.gpu}, FileFingerprints())
        executor = Executor(plan, record, lambda r: save_run(folder.root, r))
        dataset_input = Artefact(key=dataset_key(records), path=str(Path(dataset).resolve()))
        trained = folder.path(executor.run(ADAPTER_STAGES[0], {"dataset": dataset_input}).path)
        weights = folder.root / ADAPTER_FILE
        if _info_key(folder.root / ADAPTER_INFO) != trained.parent.name or not weights.is_file():
            atomic_write_bytes(weights, trained.read_bytes())  # the user-facing copy, only when it changed
        info = {"key": trained.parent.name, "kind": config.train.backend, "dataset": dataset, "photos": len(records),
                "identities": len({r.identity or r.sha256 for r in records}), "train": config.train.model_dump(),
                "base_model": config.base.spec, "losses": json.loads(losses_file(trained).read_text())}
        atomic_write_json(folder.root / ADAPTER_INFO, info)
        report = write_report(folder.root, info)
        record.state = "completed"
        save_run(folder.root, record)
    losses = info["losses"]
    return {"adapter": str(weights), "report": str(report), "steps": len(losses), "photos": info["photos"],
            "identities": info["identities"], "first_loss": losses[0], "last_loss": losses[-1]}


def _info_key(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("key")
    except (OSError, ValueError):
        return None


def write_report(folder: Path, info: dict) -> Path:
    losses = info["losses"]
    chart = line_chart_png(losses, title=f"{info['kind']} adapter training loss")
    summary = {"kind": info["kind"], "dataset": info["dataset"], "photos": str(info["photos"]),
               "identities": str(info["identities"]), "steps": str(len(losses)), "base model": info["base_model"],
               "loss, first 10 steps": f"{sum(losses[:10]) / max(1, len(losses[:10])):.4f}",
               "loss, last 10 steps": f"{sum(losses[-10:]) / max(1, len(losses[-10:])):.4f}"}
    notice = "Trained on the tiny random test model: not a usable adapter." if info["base_model"] == "tiny" else None
    html = render_report(title=f"Face adapter ({info['kind']})", test_model_notice=notice, summary=summary,
                         inputs=[ReportImage(png=chart, caption="loss per step (blue: moving average)")],
                         template=None, kept=[], dropped=[])
    return atomic_write_bytes(folder / "report.html", html.encode())
