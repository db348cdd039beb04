"""The app factory: the HTTP API (/api/v1, docs at /docs) and the browser pages on one FastAPI app."""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from web import api, pages
from web.auth import Authenticator, SessionSigner, load_or_create_key
from web.errors import ApiError
from web.settings import WebSettings
from web.users import UserDirectory

STATIC = Path(__file__).with_name("static")


def create_app(settings: WebSettings) -> FastAPI:
    """Needs PREFECT_API_URL (a long-running server) in the environment before Prefect is imported."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from prefect.client.orchestration import get_client

        from web.queue import JobQueue
        from web.service import JobService

        async with get_client() as client:
            app.state.queue = JobQueue(client, settings.job_deployment, settings.rerun_deployment)
            app.state.jobs = JobService(settings, app.state.queue)
            app.state.jobs.finish_deletions()
            try:
                yield
            finally:
                await app.state.jobs.close()

    app = FastAPI(title="portrait-pipeline", version="1", docs_url=None, redoc_url=None,
                  description="Portrait jobs on a Prefect job queue. Authenticate with `Authorization: Bearer TOKEN` "
                              "(a token from `python -m flows users add NAME --users FILE`).",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.auth = Authenticator(UserDirectory(settings.users_file),
                                   SessionSigner(load_or_create_key(settings.session_key_file),
                                                 settings.session_hours))
    app.include_router(api.router)
    app.include_router(pages.router)
    _offline_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _error_handlers(app)
    return app


def _offline_docs(app: FastAPI) -> None:
    """/docs with Swagger UI served from the installed swagger-ui-bundle (FastAPI's default loads it from a CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")


def _error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"error": message} (pages render their own)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)
