"""select: the template face, the curated photo of highest quality."""

from __future__ import annotations

from tasks.portrait_rows import curated_ok
from tasks.storage import read_parquet, write_parquet
from tasks.workspace import Workspace


def select_template(root: str, output: str, inputs: dict[str, str]) -> None:
    workspace = Workspace(root)
    best = max(curated_ok(root, inputs["curate"]), key=lambda r: (r.quality or 0.0, r.source))
    table = read_parquet(workspace.path(inputs["curate"]))
    index = table.column("sha256").to_pylist().index(best.sha256)
    write_parquet(workspace.path(output), table.slice(index, 1))
