"""The operations behind the API and the pages: submit, list, view, re-run, resume, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import Request

from tasks.config import TEST_MODELS
from web import state
from web.errors import ApiError
from web.images import check_image, check_safetensors
from web.jobs import UPLOADS, JobFolders, JobMeta, Photo, Submission, new_job_id, now
from web.options import build_config, file_option_names, parse_values, refuse_server_side
from web.queue import ACTIVE, JobQueue
from web.settings import WebSettings
from web.uploads import ParsedUpload, UploadLimits, receive_upload

JOB_LEVEL_SETS = {"style"}  # re-run settings that are options of the whole job, not of one stage
DELETE_WAIT_S = 600


class JobService:
    def __init__(self, settings: WebSettings, queue: JobQueue) -> None:
        self.settings, self.queue = settings, queue
        self.folders = JobFolders(settings.jobs_root)
        self._submit_lock = asyncio.Lock()  # one capacity check + submission at a time
        self._background: set[asyncio.Task] = set()

    # -- submit ----------------------------------------------------------------------------------

    async def submit(self, user: str, request: Request) -> JobMeta:
        await self._check_capacity(user)  # before reading the body: a full queue costs no upload
        # The files land where the job keeps them, so the config is checked against the files it will name;
        # the folder is no job (and nobody's to see) until job.json is written.
        job = new_job_id()
        folder = self.folders.user_dir(user) / job
        try:
            upload = await receive_upload(request.headers, request.stream(), folder / UPLOADS, self._limits())
            meta = await self._prepare(user, job, upload)
        except BaseException:
            self.folders.remove(folder)
            raise
        async with self._submit_lock:
            try:
                await self._check_capacity(user)
            except ApiError:
                self.folders.remove(folder)
                raise
            self.folders.save(folder, meta)
            try:
                await self._submit(folder, meta, "job", meta.parameters)
            except BaseException:
                self.folders.remove(folder)
                raise
        return meta

    def _limits(self) -> UploadLimits:
        files = {"photos": self.settings.max_photos, **{name: 1 for name in file_option_names()}}
        return UploadLimits(files, self.settings.max_photo_bytes, self.settings.max_request_bytes)

    async def _prepare(self, user: str, job: str, upload: ParsedUpload) -> JobMeta:
        photos = upload.files_of("photos")
        if not photos:
            raise ApiError(422, "no photos: send one or more image files in the field 'photos'")
        for f in photos:
            await to_thread.run_sync(check_image, f.path, f.filename, self.settings.max_pixels)
        for f in upload.files:
            if f.field == "style_lora":
                check_safetensors(f.path, f.filename)
            elif f.field != "photos":
                await to_thread.run_sync(check_image, f.path, f.filename, self.settings.max_pixels)
        values = parse_values(upload.fields)
        files = {f.field: f.path for f in upload.files if f.field != "photos"}
        config = await to_thread.run_sync(build_config, values, files, user, job, self.settings)
        parameters = {"photos": [str(f.path) for f in photos], "out": str(self.folders.root),
                      "config": config.model_dump(mode="json")}
        return JobMeta(job=job, user=user, created=now(), options=values,
                       files={name: str(path) for name, path in files.items()},
                       photos=[Photo(filename=f.filename, stored=f.path.name) for f in photos],
                       parameters=parameters)

    async def _check_capacity(self, user: str) -> None:
        retry = {"Retry-After": str(self.settings.retry_after_s)}
        mine, everyone = await asyncio.gather(self.queue.active_count(user), self.queue.active_count())
        if mine >= self.settings.jobs_per_user:
            raise ApiError(429, f"you have {self.settings.jobs_per_user} job(s) queued or running, the most allowed; "
                                "submit again when one has finished", retry)
        if everyone >= self.settings.max_queue:
            raise ApiError(429, f"the queue is full ({self.settings.max_queue} jobs); try again later", retry)

    async def _submit(self, folder: Path, meta: JobMeta, kind: str, parameters: dict[str, Any],
                      stage: str | None = None, sets: dict[str, Any] | None = None) -> Submission:
        deployment = "rerun" if kind == "rerun" else "job"
        run = await self.queue.submit(deployment, parameters, meta.user, meta.job,
                                      name=f"{meta.user}-{meta.job}-{kind}{len(meta.submissions) + 1}")
        submission = Submission(flow_run_id=str(run.id), kind=kind, created=now(), stage=stage, sets=sets or {})
        meta.submissions.append(submission)
        self.folders.save(folder, meta)
        return submission

    # -- read ------------------------------------------------------------------------------------

    def _own(self, user: str, job: str) -> tuple[Path, JobMeta]:
        folder = self.folders.folder(user, job)
        meta = self.folders.load(folder) if folder is not None else None
        if meta is None or meta.deleting:
            raise ApiError(404, f"no job {job!r}")
        return folder, meta

    async def _runs(self, meta: JobMeta) -> dict[str, Any]:
        return {str(r.id): r for r in await self.queue.runs_by_id([s.flow_run_id for s in meta.submissions])}

    async def list(self, user: str) -> list[dict[str, Any]]:
        metas = await to_thread.run_sync(self.folders.list, user)
        runs = {str(r.id): r for r in await self.queue.runs(user)}
        return [await to_thread.run_sync(self._summary, meta, runs) for meta in metas]

    def _summary(self, meta: JobMeta, runs: dict[str, Any]) -> dict[str, Any]:
        root = self.folders.user_dir(meta.user) / meta.job
        recs = state.records(root)
        job_state, _ = state.job_state(meta, runs, recs)
        config = meta.parameters["config"]
        return {"job": meta.job, "created": meta.created, "state": job_state, "style": config["style"],
                "base_model": config["base"]["spec"], "photos": len(meta.photos),
                "progress": state.progress(state.stages(recs, config)), "url": self.job_url(meta.job)}

    async def view(self, user: str, job: str) -> dict[str, Any]:
        folder, meta = self._own(user, job)
        runs = await self._runs(meta)
        return await to_thread.run_sync(self._view, folder, meta, runs)

    def _view(self, folder: Path, meta: JobMeta, runs: dict[str, Any]) -> dict[str, Any]:
        recs = state.records(folder)
        job_state, prefect = state.job_state(meta, runs, recs)
        config = meta.parameters["config"]
        stage_list = state.stages(recs, config)
        # A resumed run keeps its record's old error until it ends: only what is failed now counts.
        errors = [e for e in [*(r.error for r in recs.values() if r.state == "failed"),
                              *(s["error"] for s in stage_list if s["state"] == "failed")] if e]
        if prefect and job_state == "failed" and prefect["message"] and not errors:
            errors.append(prefect["message"])
        if prefect and self.settings.prefect_ui_url:
            prefect["ui_url"] = f"{self.settings.prefect_ui_url}/runs/flow-run/{prefect['flow_run_id']}"
        return {"job": meta.job, "created": meta.created, "state": job_state, "prefect": prefect,
                "resumable": job_state in ("failed", "cancelled", "unknown"),
                "style": config["style"], "base_model": config["base"]["spec"],
                "test_model": config["base"]["spec"] in TEST_MODELS, "options": meta.options,
                "stages": stage_list, "progress": state.progress(stage_list), "errors": errors,
                "photos": [{**p, "url": self.image_url(meta.job, p["image"]) if p["image"] else None}
                           for p in state.curated_photos(folder, recs, meta)],
                "submissions": state.submissions(meta, runs),
                "results": f"{self.job_url(meta.job)}/results" if (folder / "results.parquet").is_file() else None}

    async def results(self, user: str, job: str) -> dict[str, Any]:
        folder, meta = self._own(user, job)
        rows = await to_thread.run_sync(state.results, folder)
        for row in rows:
            row["url"] = self.image_url(job, row.pop("name"))
            row["download"] = f"{row['url']}?download=1"
        files = {name: f"{self.job_url(job)}/files/{name}" for name in DOWNLOADS if (folder / name).is_file()}
        return {"job": job, "test_model": meta.parameters["config"]["base"]["spec"] in TEST_MODELS,
                "images": rows, "files": files}

    async def image(self, user: str, job: str, name: str) -> bytes:
        folder, _ = self._own(user, job)
        data = await to_thread.run_sync(lambda: state.image_bytes(folder, name, state.records(folder)))
        if data is None:
            raise ApiError(404, f"no image {name!r} in job {job!r}")
        return data

    def file(self, user: str, job: str, name: str) -> Path:
        folder, _ = self._own(user, job)
        if name not in DOWNLOADS or not (folder / name).is_file():
            raise ApiError(404, f"no file {name!r} in job {job!r}; files: {', '.join(DOWNLOADS)}")
        return folder / name

    def job_url(self, job: str) -> str:
        return f"/api/v1/jobs/{job}"

    def image_url(self, job: str, name: str) -> str:
        return f"{self.job_url(job)}/images/{name}"

    # -- change ----------------------------------------------------------------------------------

    async def _idle(self, meta: JobMeta) -> dict[str, Any]:
        runs = await self._runs(meta)
        if any(r.state is not None and r.state.type in ACTIVE for r in runs.values()):
            raise ApiError(409, f"job {meta.job!r} is queued or running; wait for it to finish (or cancel it)")
        return runs

    async def rerun(self, user: str, job: str, stage: str, sets: dict[str, Any]) -> Submission:
        folder, meta = self._own(user, job)
        await self._idle(meta)
        if JOB_LEVEL_SETS & set(sets):
            return await self._restyle(folder, meta, stage, sets)
        await to_thread.run_sync(_check_rerun, folder, meta, stage, sets)
        async with self._submit_lock:
            await self._check_capacity(user)
            return await self._submit(folder, meta, "rerun", {"job_dir": str(folder), "stage": stage, "sets": sets},
                                      stage=stage, sets=sets)

    async def _restyle(self, folder: Path, meta: JobMeta, stage: str, sets: dict[str, Any]) -> Submission:
        """Another style on the trained LoRA: the job again with the new style (curation and training cached)."""
        if stage != "generate" or set(sets) != {"style"}:
            raise ApiError(422, "a new style is a re-run of stage 'generate' with only {\"style\": NAME} set")
        values = {**meta.options, "style": str(sets["style"])}
        files = {name: Path(path) for name, path in meta.files.items()}
        config = await to_thread.run_sync(build_config, values, files, meta.user, meta.job, self.settings)
        meta.options = values
        meta.parameters = {**meta.parameters, "config": config.model_dump(mode="json")}
        async with self._submit_lock:
            await self._check_capacity(meta.user)
            return await self._submit(folder, meta, "style", meta.parameters, stage=stage, sets=sets)

    async def resume(self, user: str, job: str) -> Submission:
        """The same job again: every stage that finished is reused, the rest runs."""
        folder, meta = self._own(user, job)
        await self._idle(meta)
        async with self._submit_lock:
            await self._check_capacity(user)
            return await self._submit(folder, meta, "resume", meta.parameters)

    async def delete(self, user: str, job: str) -> bool:
        """Cancels the job's runs and deletes its folder; True when gone now, False when it goes once they stop."""
        folder, meta = self._own(user, job)
        runs = await self._runs(meta)
        for run in runs.values():
            await self.queue.cancel(run)
        meta.deleting = True
        self.folders.save(folder, meta)
        if not any(r.state is not None and r.state.type in ACTIVE for r in runs.values()):
            self.folders.remove(folder)
            return True
        self._spawn(self._remove_when_stopped(folder, meta))
        return False

    async def _remove_when_stopped(self, folder: Path, meta: JobMeta) -> None:
        """A cancelled run's process may still write into the folder until it has stopped."""
        from flows.status import job_is_running

        loop = asyncio.get_running_loop()
        deadline = loop.time() + DELETE_WAIT_S
        while loop.time() < deadline:
            runs = await self._runs(meta)
            stopped = all(r.state is None or r.state.type not in ACTIVE for r in runs.values())
            if stopped and not await to_thread.run_sync(job_is_running, folder):
                break
            await asyncio.sleep(1)
        self.folders.remove(folder)

    def finish_deletions(self) -> None:
        """At start-up: folders whose deletion an earlier process began."""
        for folder in self.folders.marked_for_deletion():
            self._spawn(self._remove_when_stopped(folder, self.folders.load(folder)))

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()


DOWNLOADS = ("report.html", "results.parquet", "face_lora.safetensors")


def _check_rerun(folder: Path, meta: JobMeta, stage: str, sets: dict[str, Any]) -> None:
    """Unknown stage, unknown or invalid setting, or nothing to re-run yet: refused before queueing."""
    from flows.rerun import PORTRAIT_RUN_ID, portrait_overrides
    from flows.runs import load_run
    refuse_server_side(sets)  # e.g. a template's `image`: another file on the server
    try:
        record = load_run(folder, PORTRAIT_RUN_ID)
    except FileNotFoundError:
        raise ApiError(409, f"job {meta.job!r} has not run its portrait stages yet: nothing to re-run "
                            "(resume it instead)") from None
    try:
        portrait_overrides(record, stage, sets)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
