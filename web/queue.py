"""The job queue is Prefect's: a job is a flow run of a deployment, tagged with its user and job.

Nothing about runs is kept in memory: every answer comes from the Prefect
API (by tag and deployment), so the app can restart at any time.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.schemas.filters import (
    DeploymentFilter, DeploymentFilterId, DeploymentFilterName, FlowRunFilter, FlowRunFilterId,
    FlowRunFilterState, FlowRunFilterStateType, FlowRunFilterTags)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import State

from web.errors import ApiError

ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]


def user_tag(user: str) -> str:
    return f"user:{user}"


def job_tag(job: str) -> str:
    return f"job:{job}"


class JobQueue:
    def __init__(self, client, job_deployment: str, rerun_deployment: str) -> None:
        self.client = client
        self.names = {"job": job_deployment, "rerun": rerun_deployment}
        self._ids: dict[str, UUID] = {}  # deployment ids, looked up once

    async def deployment_id(self, kind: str) -> UUID:
        if kind not in self._ids:
            found = await self.client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[self.names[kind]])), limit=1)
            if not found:
                raise ApiError(503, f"the Prefect deployment {self.names[kind]!r} is not registered: start the app "
                                    "with `python -m flows serve`, or deploy prefect.yaml to the server")
            self._ids[kind] = found[0].id
        return self._ids[kind]

    async def _deployments(self) -> DeploymentFilter:
        return DeploymentFilter(id=DeploymentFilterId(any_=[await self.deployment_id(k) for k in self.names]))

    async def submit(self, kind: str, parameters: dict[str, Any], user: str, job: str, name: str) -> FlowRun:
        return await self.client.create_flow_run_from_deployment(
            await self.deployment_id(kind), parameters=parameters, name=name,
            tags=[user_tag(user), job_tag(job)])

    async def runs(self, user: str, job: str | None = None, limit: int = 200) -> list[FlowRun]:
        """The user's runs (of one job), newest first."""
        tags = [user_tag(user)] + ([job_tag(job)] if job else [])
        return await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=tags)),
            deployment_filter=await self._deployments(), sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)

    async def runs_by_id(self, ids: list[str]) -> list[FlowRun]:
        if not ids:
            return []
        return await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(i) for i in ids])))

    async def active_count(self, user: str | None = None) -> int:
        flow_runs = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE)))
        if user is not None:
            flow_runs.tags = FlowRunFilterTags(all_=[user_tag(user)])
        return await self.client.count_flow_runs(flow_run_filter=flow_runs,
                                                 deployment_filter=await self._deployments())

    async def cancel(self, run: FlowRun) -> None:
        """Cancelling: the worker stops the run's process; a queued run becomes Cancelled at once."""
        if run.state is not None and run.state.type in ACTIVE and run.state.type != StateType.CANCELLING:
            await self.client.set_flow_run_state(run.id, State(type=StateType.CANCELLING,
                                                               message="cancelled by its user"))

    async def healthy(self) -> bool:
        try:
            return (await self.client.api_healthcheck()) is None
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False
