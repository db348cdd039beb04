"""Train a face adapter (FaceChain-FACT or FeedFace) on a curated dataset: `python -m flows train-adapter`."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict

from components.plot import line_chart_png
from components.report import ReportImage, render_report
from flows.joblock import JobLock
from tasks.adapter import ADAPTER_INFO, train_adapter_task
from tasks.config import AdapterTrainConfig, BaseModelConfig
from tasks.gpu import GpuConfig
from tasks.storage import atomic_write_bytes


class AdapterFlowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: AdapterTrainConfig = AdapterTrainConfig()
    base: BaseModelConfig = BaseModelConfig()
    gpu: GpuConfig = GpuConfig()


@flow(name="train-adapter", log_prints=True)
def train_adapter_flow(dataset: str, out: str, config: AdapterFlowConfig | None = None) -> dict:
    config = config or AdapterFlowConfig()
    folder = Path(out).resolve()
    with JobLock(folder):
        task = train_adapter_task.with_options(result_storage=folder / ".prefect" / "results")
        weights = task(dataset, str(folder), config.train, config.base, gpu=config.gpu)
        info = json.loads((folder / ADAPTER_INFO).read_text())
        report = write_report(folder, info)
        return {"adapter": weights, "report": str(report), "steps": len(info["losses"]),
                "photos": info["photos"], "identities": info["identities"],
                "first_loss": info["losses"][0], "last_loss": info["losses"][-1]}


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
