"""Content-keyed, atomically written artefacts inside one workspace root.

Every artefact is named by the key it was computed with and written to a
temporary name first, then renamed: a killed process leaves either nothing
or the whole file, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# Images are already compressed (PNG/JPEG): compressing them again costs time
# and saves nothing; the other columns are small and compress well.
BINARY_COLUMNS = ("data", "image", "mask")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, value: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True, default=str).encode())


def write_parquet(path: str | Path, table: pa.Table) -> Path:
    import pyarrow.parquet as pq  # here, not at the top: `status` imports this module and needs no pyarrow

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    compression = {name: ("none" if name in BINARY_COLUMNS else "zstd") for name in table.column_names}
    try:
        pq.write_table(table, tmp, compression=compression)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_parquet(path: str | Path) -> pa.Table:
    """One Parquet file. ParquetFile, not read_table: read_table goes through pyarrow.dataset,
    which imports pandas (~1 s of a re-run's start-up on these machines)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as file:
        return file.read()


def remove_stale_temporaries(root: str | Path) -> list[Path]:
    """Temp files a killed write left behind. Call only while holding the job's lock."""
    stale = [p for p in Path(root).rglob("*.tmp") if p.is_file() and p.name.startswith(".")]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
