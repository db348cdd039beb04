"""The browser pages: log in, submit a job, follow its stages, see the gallery, re-run, and delete.

Server-rendered (Jinja2) with one small script that polls the JSON API for
live progress. Every value from a job is inserted as text, never as markup.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from components.diffusion.test_models import TEST_MODEL_LABEL
from tasks.config import TEST_MODELS
from web.auth import SESSION_COOKIE
from web.errors import ApiError
from web.options import form_options
from web.styles import style_list

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'")
# Shown on the form as file uploads or in the main section; the rest go under "more options".
MAIN_OPTIONS = ("style", "base_model", "num_images", "keep")


def _page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _user(request: Request) -> str | None:
    return request.app.state.auth.user_from_cookie(request.cookies.get(SESSION_COOKIE))


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _page(request, "login.html", error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=4)
    session = request.app.state.auth.session_for(str(form.get("token", "")).strip())
    if session is None:
        return _page(request, "login.html", status=401, error="unknown token")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, session[1], httponly=True, samesite="strict",
                        secure=request.url.scheme == "https",
                        max_age=int(request.app.state.settings.session_hours * 3600))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
async def index(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    settings = request.app.state.settings
    options = [o for o in form_options() if o.name not in ("style", "base_model")]
    return _page(request, "index.html", user=user, styles=style_list(settings.styles_dir),
                 base_models=settings.base_models, default_base_model=settings.default_base_model,
                 test_models=TEST_MODELS,
                 main=[o for o in options if o.name in MAIN_OPTIONS and o.kind != "file"],
                 files=[o for o in options if o.kind == "file"],
                 more=[o for o in options if o.name not in MAIN_OPTIONS and o.kind != "file"],
                 max_photos=settings.max_photos, prefect_ui=settings.prefect_ui_url)


@router.get("/jobs/{job}")
async def job_page(job: str, request: Request) -> Response:
    user = _user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    try:
        view = await request.app.state.jobs.view(user, job)
    except ApiError as exc:
        return _page(request, "error.html", status=exc.status, user=user, message=exc.message)
    return _page(request, "job.html", user=user, job=view, test_model_label=TEST_MODEL_LABEL,
                 styles=style_list(request.app.state.settings.styles_dir))
