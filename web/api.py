"""The HTTP API, /api/v1: JSON in and out, asynchronous (a job is queued at once and polled)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from web.auth import current_user
from web.errors import ApiError
from web.options import form_options
from web.styles import style_list, style_preview

router = APIRouter(prefix="/api/v1")
OPENAPI_TYPES = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
                 "list": "string"}  # a list field: one value per line


class RerunRequest(BaseModel):
    stage: str = Field(description="a stage name (see `python -m flows stages`)")
    set: dict[str, Any] = Field(default_factory=dict, description="that stage's settings, e.g. {\"keep\": 3}; "
                                "{\"style\": NAME} with stage generate: another style on the trained LoRA")


def _service(request: Request):
    return request.app.state.jobs


def job_form_schema() -> dict[str, Any]:
    """The multipart body of POST /jobs, from the CLI's options (FastAPI cannot see a streamed form)."""
    properties: dict[str, Any] = {"photos": {"type": "array", "items": {"type": "string", "format": "binary"},
                                             "description": "the person's photos (JPEG, PNG, WebP, ...)"}}
    for option in form_options():
        schema = ({"type": "string", "format": "binary"} if option.kind == "file"
                  else {"type": OPENAPI_TYPES[option.kind]})
        if option.choices:
            schema["enum"] = list(option.choices)
        if option.default is not None and option.kind not in ("file", "list"):
            schema["default"] = option.default
        properties[option.name] = {**schema, "description": option.help}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["photos", "style"], "properties": properties}}}}}


@router.get("/health", tags=["service"])
async def health(request: Request) -> JSONResponse:
    prefect = await request.app.state.queue.healthy()
    return JSONResponse({"status": "ok" if prefect else "degraded", "prefect": prefect},
                        status_code=200 if prefect else 503)


@router.get("/styles", tags=["styles"])
async def styles(request: Request, user: str = Depends(current_user)) -> dict[str, Any]:
    return {"styles": style_list(request.app.state.settings.styles_dir)}


@router.get("/styles/{name}/preview", tags=["styles"], response_class=Response)
async def preview(name: str, request: Request, user: str = Depends(current_user)) -> Response:
    path = style_preview(request.app.state.settings.styles_dir, name)
    if path is None:
        raise ApiError(404, f"style {name!r} has no preview image")
    return FileResponse(path)


@router.get("/options", tags=["jobs"])
async def options(user: str = Depends(current_user)) -> dict[str, Any]:
    """The fields POST /jobs takes besides `photos` (the options of `python -m flows portrait`)."""
    return {"options": [{"name": o.name, "type": o.kind, "default": o.default, "choices": o.choices,
                         "help": o.help} for o in form_options()]}


@router.post("/jobs", status_code=202, tags=["jobs"], openapi_extra=job_form_schema())
async def submit(request: Request, user: str = Depends(current_user)) -> JSONResponse:
    """Queue a portrait job: 202 at once; poll GET /jobs/{id}."""
    meta = await _service(request).submit(user, request)
    url = _service(request).job_url(meta.job)
    return JSONResponse({"job": meta.job, "state": "queued", "url": url,
                         "flow_run_id": meta.submissions[-1].flow_run_id}, status_code=202,
                        headers={"Location": url})


@router.get("/jobs", tags=["jobs"])
async def jobs(request: Request, user: str = Depends(current_user)) -> dict[str, Any]:
    return {"jobs": await _service(request).list(user)}


@router.get("/jobs/{job}", tags=["jobs"])
async def job(job: str, request: Request, user: str = Depends(current_user)) -> dict[str, Any]:
    return await _service(request).view(user, job)


@router.get("/jobs/{job}/results", tags=["jobs"])
async def results(job: str, request: Request, user: str = Depends(current_user)) -> dict[str, Any]:
    return await _service(request).results(user, job)


@router.get("/jobs/{job}/images/{name}", tags=["jobs"], response_class=Response)
async def image(job: str, name: str, request: Request, download: bool = False,
                user: str = Depends(current_user)) -> Response:
    data = await _service(request).image(user, job, name)
    headers = {"Content-Disposition": f'attachment; filename="{job}-{name}"'} if download else {}
    return Response(data, media_type="image/png", headers={**headers, "Cache-Control": "private, max-age=60"})


@router.get("/jobs/{job}/files/{name}", tags=["jobs"], response_class=Response)
async def file(job: str, name: str, request: Request, user: str = Depends(current_user)) -> Response:
    path = _service(request).file(user, job, name)
    # report.html embeds its images: nothing else may load, and no script may run.
    csp = {"Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'"}
    return FileResponse(path, filename=f"{job}-{name}", headers=csp)


@router.post("/jobs/{job}/rerun", status_code=202, tags=["jobs"])
async def rerun(job: str, body: RerunRequest, request: Request, user: str = Depends(current_user)) -> dict:
    submission = await _service(request).rerun(user, job, body.stage, body.set)
    return {"job": job, "state": "queued", "flow_run_id": submission.flow_run_id, "kind": submission.kind}


@router.post("/jobs/{job}/resume", status_code=202, tags=["jobs"])
async def resume(job: str, request: Request, user: str = Depends(current_user)) -> dict:
    """Run a failed, cancelled or interrupted job again: finished stages are reused."""
    submission = await _service(request).resume(user, job)
    return {"job": job, "state": "queued", "flow_run_id": submission.flow_run_id}


@router.delete("/jobs/{job}", tags=["jobs"])
async def delete(job: str, request: Request, user: str = Depends(current_user)) -> JSONResponse:
    """Cancel the job's runs and delete its folder (202 while a run is still stopping)."""
    gone = await _service(request).delete(user, job)
    return JSONResponse({"job": job, "deleted": gone, "deleting": not gone}, status_code=200 if gone else 202)
