"""What `serve` sets up on its local Prefect server: the work pool, the zombie-run automation, clean shutdown."""

from __future__ import annotations

from datetime import timedelta

ZOMBIE_AUTOMATION = "portrait-pipeline: crash runs whose process died"


def ensure_pool(name: str, concurrency: int) -> None:
    """A process work pool running at most `concurrency` flow runs at once (created, or its limit updated)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process", concurrency_limit=concurrency,
                base_job_template=ProcessWorker.get_default_base_job_template()))
        else:
            client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=concurrency))


def ensure_zombie_automation(heartbeat_s: int) -> None:
    """A run whose process was killed sends no more heartbeats: after three missed beats it becomes Crashed,
    so its job shows as failed and can be resumed (Prefect's documented zombie-flow automation)."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.exceptions import ObjectNotFound

    try:
        Automation.read(name=ZOMBIE_AUTOMATION)
        return
    except (ObjectNotFound, ValueError):
        pass
    Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=3 * heartbeat_s)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message="no heartbeat: its process died; "
                                                                      "resume the job to continue")],
    ).create()


def crash_active_runs(pool: str, message: str) -> None:
    """Runs of `pool` left Running or Pending when its only worker stopped: Crashed, so they can be resumed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType, WorkPoolFilter, WorkPoolFilterName)
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]))),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])))
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
