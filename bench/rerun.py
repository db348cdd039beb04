"""Re-runs and `status` as a user runs them: the CLI in a fresh process, side by side with their yardsticks.

    python bench/rerun.py [--rounds 3]

Makes a finished tiny portrait job with the CLI, then, alternating the
commands in each round so that neither gets the quieter moments:

  rank        `python -m flows rerun JOB --stage rank --set keep=K` (temporary server, as a plain CLI run)
  trivial     bench/trivial_flow.py: an empty flow with the CLI's settings (temporary server)
  status      `python -m flows status JOB`
  import      `python -c "import pandas, pyarrow"`

then starts `prefect server start` (a private PREFECT_HOME) and times `rank`
and `trivial` again against it (PREFECT_API_URL set). Targets (issue 10):
rank <= 1.3 x trivial on a temporary server, rank <= 3 s against a running
server, status <= 2 x import. Medians of the rounds; the table goes to stdout
and bench/results/rerun-<hostname>.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SAMPLES, host_line, print_table, save  # noqa: E402
from bench.prefect_server import running_server  # noqa: E402

# Measured on main before issue 10 (2026-11-21, the finished demo job): what the ratios replace.
BEFORE = {"rank": "21-34 s", "fuse": "27 s", "status": "6.3 s", "trivial": "10.8 s"}


def run(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def flows_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows", *args]


def alternate(commands: dict[str, list[str]], env: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each command, the commands taking turns within each round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(rounds):
        order = list(commands) if round_ % 2 == 0 else list(reversed(commands))
        for name in order:
            times[name].append(run(commands[name], env))
    return {name: statistics.median(values) for name, values in times.items()}


def make_job(out: Path, env: dict) -> Path:
    photos = out / "photos"
    photos.mkdir(parents=True)
    for name in ("obama.jpg", "obama2.jpg"):
        shutil.copyfile(SAMPLES / name, photos / name)
    run(flows_cli("portrait", str(photos), "--user", "bench", "--style", "studio_headshot", "--out", str(out),
                  "--base-model", "tiny", "--train-steps", "30", "--resolution", "128", "--num-images", "4",
                  "--keep", "3", "--gen-steps", "10", "--no-progress"), env)
    return out / "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(tmp / "prefect-home"), HF_HUB_OFFLINE="1")
        job = make_job(tmp / "out", env)
        trivial = [sys.executable, str(REPO / "bench" / "trivial_flow.py")]
        rank = flows_cli("rerun", str(job), "--stage", "rank", "--set", "keep=2")
        temporary = alternate({"rank": rank, "trivial": trivial}, env, args.rounds)
        light = alternate({"status": flows_cli("status", str(job)),
                           "import": [sys.executable, "-c", "import pandas, pyarrow"]}, env, args.rounds)
        with running_server(tmp / "server-home") as api_url:
            served = alternate({"rank": rank, "trivial": trivial}, {**env, "PREFECT_API_URL": api_url}, args.rounds)
    ratio = temporary["rank"] / temporary["trivial"]
    status_ratio = light["status"] / light["import"]
    rows = [
        ("host", host_line()),
        ("date", dt.datetime.now().isoformat(timespec="seconds")),
        ("job", "tiny model, 2 photos, 30 train steps at 128², 4 images x 10 steps; medians of "
                f"{args.rounds} rounds, commands alternating"),
        ("load average", f"{os.getloadavg()[0]:.1f}   (other processes inflate wall-clock timings)"),
        ("temporary server", "seconds"),
        ("  rerun --stage rank", f"{temporary['rank']:6.2f}   (before: {BEFORE['rank']})"),
        ("  trivial flow", f"{temporary['trivial']:6.2f}   (measured before: {BEFORE['trivial']})"),
        ("  rank / trivial", f"{ratio:6.3f}   target <= 1.30: {'met' if ratio <= 1.3 else 'MISSED'}"),
        ("running server", "seconds (PREFECT_API_URL set, `prefect server start`)"),
        ("  rerun --stage rank", f"{served['rank']:6.2f}   target <= 3 s: {'met' if served['rank'] <= 3 else 'MISSED'}"),
        ("  trivial flow", f"{served['trivial']:6.2f}"),
        ("status", "seconds"),
        ("  flows status JOB", f"{light['status']:6.2f}   (before: {BEFORE['status']})"),
        ("  import pandas, pyarrow", f"{light['import']:6.2f}"),
        ("  status / import", f"{status_ratio:6.3f}   target <= 2.00: {'met' if status_ratio <= 2 else 'MISSED'}"),
    ]
    text = print_table("re-runs and status as the CLI runs them (fresh processes)", rows)
    print(f"saved: {save(text, f'rerun-{socket.gethostname()}.txt').relative_to(REPO)}")


if __name__ == "__main__":
    main()
