"""`python -m flows serve`: the web app and HTTP API on a Prefect job queue, in one command.

Without PREFECT_API_URL it starts a long-running local Prefect server (its
own PREFECT_HOME under the serve folder), the `local` process work pool with
a concurrency limit that fits the machine, the deployments of prefect.yaml,
an automation that marks runs whose process died as Crashed, and a worker;
then the web app. Ctrl-C stops everything it started. With PREFECT_API_URL
set, it starts only the web app, submitting to that server's deployments.

The server, the deployment and the worker are Prefect's own programs, run
as subprocesses, each in its own process group so nothing outlives serve.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from flows.settings import DEFAULTS

if TYPE_CHECKING:
    from web.processes import ManagedProcess

REPO = Path(__file__).resolve().parents[1]
POOL = "local"
DEPLOYMENTS = ("portrait-job", "portrait-rerun", "nightly-curation")
HEARTBEAT_S = 30  # Prefect's minimum; a run silent for 3 beats is marked Crashed
GIB = 1024 ** 3
CPU_JOB_GIB = 6  # a CPU portrait job at 512 px (SD 1.5 + dlib + LoRA training) peaks near this


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="the web app's address (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data", default="serve-data", help="folder for jobs, the users file, Prefect's home and logs")
    p.add_argument("--users", default=None, help="users file (default DATA/users.json; see `flows users add`)")
    p.add_argument("--out", default=None, help="jobs folder (default DATA/jobs): a job is OUT/<user>/<job>/")
    p.add_argument("--prefect-port", type=int, default=4200, help="local Prefect server (a free one if taken)")
    p.add_argument("--concurrency", type=int, default=None, help="jobs run at once (default: fits the machine)")
    p.add_argument("--jobs-per-user", type=int, default=2, help="queued or running jobs per user")
    p.add_argument("--max-queue", type=int, default=32, help="queued or running jobs in all")
    p.add_argument("--max-photos", type=int, default=10)
    p.add_argument("--max-photo-mb", type=float, default=20.0)
    p.add_argument("--base-model", action="append", default=None, metavar="SPEC",
                   help="a base model requests may choose (repeat; default: SD 1.5 and tiny)")


def default_concurrency() -> int:
    """One job per GPU; on CPUs, one per 2 cores and 6 GiB, at least one."""
    gpus = _gpu_count()
    if gpus:
        return gpus
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return max(1, min((os.cpu_count() or 1) // 2, int(memory // CPU_JOB_GIB)))


def _gpu_count() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len(list(Path("/proc/driver/nvidia/gpus").glob("*"))) if Path("/proc/driver/nvidia/gpus").is_dir() else 0


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise RuntimeError("no free port")


def serve(args: argparse.Namespace) -> int:
    data = Path(args.data).resolve()
    users = Path(args.users).resolve() if args.users else data / "users.json"
    with contextlib.ExitStack() as stack:
        if os.environ.get("PREFECT_API_URL"):
            ui = os.environ["PREFECT_API_URL"].rstrip("/").removesuffix("/api")
        else:
            concurrency = args.concurrency or default_concurrency()
            ui = stack.enter_context(local_prefect(data, args.prefect_port, concurrency))
        settings = _web_settings(args, data, users, ui)
        _print_urls(args, ui, users)
        _run_web_app(settings, args.host, args.port)
    return 0


def _web_settings(args, data: Path, users: Path, ui: str):
    from web.settings import MIB, WebSettings

    extra = {"base_models": args.base_model} if args.base_model else {}
    return WebSettings(jobs_root=Path(args.out).resolve() if args.out else data / "jobs", users_file=users,
                       session_key_file=data / "session.key", prefect_ui_url=ui, max_photos=args.max_photos,
                       max_photo_bytes=int(args.max_photo_mb * MIB), jobs_per_user=args.jobs_per_user,
                       max_queue=args.max_queue, **extra)


def _print_urls(args, ui: str, users: Path) -> None:
    from web.users import read_users

    print(f"web app:    http://{args.host}:{args.port}/   (API: /api/v1, docs: /docs)", flush=True)
    print(f"Prefect UI: {ui}", flush=True)
    if not read_users(users):
        print(f"no users yet: python -m flows users add NAME --users {users}", flush=True)


def _run_web_app(settings, host: str, port: int) -> None:
    import uvicorn

    from web.app import create_app

    # uvicorn handles Ctrl-C (and SIGTERM): run() returns and the caller's ExitStack stops the rest.
    uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")).run()


@contextlib.contextmanager
def local_prefect(data: Path, preferred_port: int, concurrency: int):
    """A long-running Prefect server, the work pool, the deployments and a worker; yields the UI's URL."""
    from web.processes import ManagedProcess  # here: every CLI command builds its parser from this module

    port = free_port(preferred_port)
    url = f"http://127.0.0.1:{port}"
    env = prefect_env(data, url)
    logs = data / "logs"
    with contextlib.ExitStack() as stack:
        stack.enter_context(_client_settings(f"{url}/api"))
        server = stack.enter_context(ManagedProcess(
            [_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, logs / "server.log"))
        wait_healthy(f"{url}/api/health", server)
        prepare_queue(concurrency)
        deploy(env, logs / "deploy.log")
        worker_env = {**env, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
                      "PREFECT_WORKER_QUERY_SECONDS": "2",
                      "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1)
                                                                                    // concurrency)))}
        stack.enter_context(ManagedProcess(
            [_prefect(), "worker", "start", "--pool", POOL, "--type", "process", "--limit", str(concurrency)],
            worker_env, logs / "worker.log", on_stop=crash_orphaned_runs))
        print(f"Prefect: server {url}, work pool {POOL!r} running {concurrency} job(s) at once "
              f"(logs in {logs})", flush=True)
        yield url


def _client_settings(api_url: str):
    """This process's Prefect client talks to the new server (Prefect read its settings when first imported)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = api_url
    return temporary_settings(updates={PREFECT_API_URL: api_url})


def prefect_env(data: Path, url: str) -> dict[str, str]:
    env = {**os.environ, **{k: v for k, v in DEFAULTS.items() if k not in os.environ}}
    env.update(PREFECT_HOME=str(data / "prefect-home"), PREFECT_API_URL=f"{url}/api",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
    return env


def _prefect() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def wait_healthy(url: str, server: ManagedProcess, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.exited():
            raise RuntimeError(f"the Prefect server exited; its log:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server was not healthy within {timeout:.0f} s; its log:\n{server.log_tail()}")


def prepare_queue(concurrency: int) -> None:
    """The process work pool with its concurrency limit, and the automation that crashes dead runs."""
    from web.prefect_setup import ensure_pool, ensure_zombie_automation

    ensure_pool(POOL, concurrency)
    ensure_zombie_automation(HEARTBEAT_S)


def deploy(env: dict[str, str], log: Path) -> None:
    from web.processes import ManagedProcess

    names = [arg for name in DEPLOYMENTS for arg in ("--name", name)]
    ManagedProcess.run_to_end([_prefect(), "--no-prompt", "deploy", *names], env, log, cwd=REPO)


def crash_orphaned_runs() -> None:
    from web.prefect_setup import crash_active_runs

    crash_active_runs(POOL, "serve stopped while this run was going; resume the job to continue")
