"""`python -m flows serve` started as a user starts it, for the web tests: a real Prefect server and worker.

The serve process runs in its own process group; stopping it sends SIGINT
(Ctrl-C) and then checks that every process it started has gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
TINY = {"base_model": "tiny", "train_steps": "4", "resolution": "64", "num_images": "2", "keep": "2",
        "gen_steps": "2", "checkpoint_every": "2"}
FINISHED = {"completed", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_photos(folder: Path, names=("obama.jpg", "obama2.jpg"), side: int = 600) -> list[Path]:
    """Downscaled copies of the sample photos (curation is then quick)."""
    from tests.imagetools import downscaled_copies

    downscaled_copies(SAMPLES, folder, names, side)
    return [folder / name for name in names]


@dataclass
class Served:
    url: str
    data: Path
    proc: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def jobs_root(self) -> Path:
        return self.data / "jobs"

    def client(self, user: str | None = None, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def log(self) -> str:
        parts = [(self.data / "serve.out").read_text(errors="replace")[-3000:]]
        for name in ("worker.log", "server.log"):
            path = self.data / "logs" / name
            if path.is_file():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)


def start(data: Path, users: list[str], *args: str, timeout: float = 240, prefect_api: str | None = None) -> Served:
    """`serve` with its own Prefect server, worker and users; with `prefect_api`, the web app alone on that server."""
    from web.users import add_user

    data.mkdir(parents=True, exist_ok=True)
    tokens = {user: add_user(data / "users.json", user) for user in users}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", **({"PREFECT_API_URL": prefect_api} if prefect_api else {}))
    with open(data / "serve.out", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows", "serve", "--data", str(data), "--port", str(port),
                                 "--prefect-port", str(free_port()), *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(f"http://127.0.0.1:{port}", data, proc, tokens)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited ({proc.returncode}):\n{served.log()}")
        try:
            if httpx.get(f"{served.url}/api/v1/health", timeout=2).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(served)
    raise AssertionError(f"serve was not up within {timeout} s:\n{served.log()}")


def stop(served: Served, timeout: float = 90) -> list[str]:
    """Ctrl-C, as a user stops it; returns what was still alive afterwards (then killed)."""
    try:
        started = psutil.Process(served.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    served.proc.send_signal(signal.SIGINT)
    try:
        served.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait()
        return [f"serve itself ({served.proc.pid}) did not stop within {timeout} s"]
    gone, alive = psutil.wait_procs(started, timeout=5)
    leftovers = []
    for p in alive:
        try:
            leftovers.append(" ".join(p.cmdline()[:4]))
            p.kill()
        except psutil.NoSuchProcess:
            continue
    return leftovers


def prefect_api(served: Served) -> str:
    import re

    return re.search(r"Prefect UI: (\S+)", (served.data / "serve.out").read_text()).group(1) + "/api"


def wait_for(client: httpx.Client, job: str, states=FINISHED, timeout: float = 600, poll: float = 1.0) -> dict:
    deadline = time.monotonic() + timeout
    view = {}
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/jobs/{job}")
        assert response.status_code == 200, response.text
        view = response.json()
        if view["state"] in states:
            return view
        time.sleep(poll)
    raise AssertionError(f"job {job} not in {states} within {timeout} s; last: {view.get('state')} "
                         f"{view.get('progress')}")


def submit(client: httpx.Client, photos: list[Path], **fields: str) -> httpx.Response:
    files = [("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    return client.post("/api/v1/jobs", data={**TINY, "style": "studio_headshot", **fields}, files=files)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
