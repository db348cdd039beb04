"""What a run shows in Prefect's UI: a table and a summary per curation run and per portrait job.

Artifact keys name the job (user and job, or the run), so "latest" in the UI
is that job's latest, never another user's.
"""

from __future__ import annotations

import re

from tasks.digests import digest


def artifact_key(*parts: str) -> str:
    """Prefect keys take lowercase letters, digits and dashes; a short hash keeps distinct ids distinct."""
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")[:60]
    return f"{slug}-{digest(*parts)[:6]}"


def curation_table(result: dict) -> list[dict]:
    rows = [{"status": status, "photos": n, "reason": ""} for status, n in sorted(result["counts"].items())]
    rows += [{"status": "not ok", "photos": n, "reason": reason}
             for reason, n in sorted(result["reasons"].items(), key=lambda kv: -kv[1])]
    return rows


def curation_markdown(result: dict) -> str:
    counts = result["counts"]
    lines = ["# Curation run", "", f"Run `{result['run_id']}` into `{result['dataset']}`", "",
             "| ok | rejected | error |", "|---|---|---|",
             f"| {counts.get('ok', 0)} | {counts.get('rejected', 0)} | {counts.get('error', 0)} |", ""]
    if result["part"] is None:
        lines.append("Nothing new to curate: every photo is already in the dataset.")
    else:
        lines.append(f"Dataset part: `{result['part']}`")
    return "\n".join(lines)


def publish_curation(result: dict) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    key = artifact_key("curation", result["job"])
    create_table_artifact(key=key, table=curation_table(result), description="Photos by status and reason")
    create_markdown_artifact(key=f"{key}-summary", markdown=curation_markdown(result))


def publish_portrait(user: str, job: str, table: list[dict], markdown: str) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    key = artifact_key("portrait", user, job)
    create_table_artifact(key=key, table=table, description=f"Ranked portraits of {user}'s job {job}")
    create_markdown_artifact(key=f"{key}-summary", markdown=markdown)
