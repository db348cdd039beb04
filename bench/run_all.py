"""Run every benchmark as its own process and print their tables as one.

    python bench/run_all.py [--quick] [--only curate,portrait] [--timeout SECONDS]

Runs bench/curate.py, bench/rerun.py, bench/portrait.py, bench/adapter.py (CPU, then --gpu) and bench/gpu.py in
turn (a script that does not exist yet is skipped with a note; gpu.py skips
itself without CUDA), shows each one's output as it finishes, then prints
one combined table. Exits non-zero when a benchmark failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import print_table  # noqa: E402

BENCHMARKS = ("curate", "rerun", "portrait", "modes", "adapter", "gpu", "adapter-gpu")
SCRIPTS = {"adapter-gpu": ("adapter", ["--gpu"])}  # benchmark name -> (script, its arguments)
QUICK_ARGS = {"curate": ["--photos", "20"]}  # --quick: a smaller curation run; the others are small already
ROW = re.compile(r"^(\s*\S(?:.*?\S)?)\s{2,}(\S.*)$")  # print_table's "key  value" (key padded, >= 2 spaces)
TRAILER = re.compile(r"^(saved|dry run|note):", re.IGNORECASE)


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "failed (rc N)", "skipped", "timed out"
    seconds: float = 0.0
    note: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)


def parse_tables(stdout: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every print_table block in `stdout`: (title, [(key, value), ...])."""
    lines = stdout.splitlines()

    def is_title(i: int) -> bool:
        return (i + 1 < len(lines) and bool(lines[i].strip()) and set(lines[i + 1]) == {"-"}
                and len(lines[i + 1]) == len(lines[i]))

    tables = []
    for i in range(len(lines)):
        if not is_title(i):
            continue
        rows = []
        for j in range(i + 2, len(lines)):
            line = lines[j]
            if not line.strip() or TRAILER.match(line) or is_title(j):
                break
            match = ROW.match(line)
            rows.append((match.group(1), match.group(2)) if match else (line.rstrip(), ""))
        tables.append((lines[i], rows))
    return tables


def run_one(name: str, extra: list[str], timeout: float | None) -> Outcome:
    stem, fixed = SCRIPTS.get(name, (name, []))
    script = REPO / "bench" / f"{stem}.py"
    if not script.is_file():
        return Outcome(name, "skipped", note=f"bench/{stem}.py not found (not written yet)")
    command = [sys.executable, str(script), *fixed, *extra]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    try:
        # stderr passes through (progress bars, warnings); stdout is kept for the table.
        proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired as error:
        out = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
        print(out, flush=True)
        return Outcome(name, "timed out", time.perf_counter() - started, note=f"after {timeout:g} s")
    seconds = time.perf_counter() - started
    print(proc.stdout, end="" if proc.stdout.endswith("\n") else "\n", flush=True)
    tables = parse_tables(proc.stdout)
    rows = [row for title, table in tables for row in ([(title, "")] if len(tables) > 1 else []) + table]
    if proc.returncode != 0:
        return Outcome(name, f"failed (rc {proc.returncode})", seconds, note="see its output above", rows=rows)
    if not tables:
        last = next((line for line in reversed(proc.stdout.splitlines()) if line.strip()), "no output")
        return Outcome(name, "skipped", seconds, note=last.strip())
    return Outcome(name, "ok", seconds, rows=rows)


def combined(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    rows = []
    for o in outcomes:
        head = f"{o.status}, {o.seconds:.0f} s" if o.seconds else o.status
        rows.append((f"[{o.name}]", f"{head}{': ' + o.note if o.note else ''}"))
        rows += [(f"  {key}", value) for key, value in o.rows]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs where a benchmark has a size knob")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark (default: none)")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")

    outcomes = [run_one(name, QUICK_ARGS.get(name, []) if args.quick else [], args.timeout) for name in names]
    print()
    print_table("all benchmarks", combined(outcomes))
    return 1 if any(o.status.startswith(("failed", "timed out")) for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
