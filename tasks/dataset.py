"""The curated dataset: part-<key>.parquet files in a folder of any file system.

A local path by default (OUT/faces/); any fsspec URL (s3://bucket/faces,
gs://..., memory://... in tests) when the user has its package and
credentials. Each run adds its own part, a partition of its own: appending
never rewrites what other runs wrote, and readers (pandas, pyarrow, Spark)
read the folder as one dataset.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tasks.storage import write_parquet


def is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


class DatasetStore:
    def __init__(self, location: str) -> None:
        self.location = location
        if is_url(location):
            import fsspec

            fs, self.path = fsspec.core.url_to_fs(location)
            self.fs: pafs.FileSystem = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
            self._protocol = location.split("://", 1)[0]
        else:
            self.path = str(Path(location.removeprefix("file://")).resolve())
            self.fs = pafs.LocalFileSystem()
            self._protocol = None

    def name_of(self, part: str) -> str:
        return part.rstrip("/").rsplit("/", 1)[-1]

    def where(self, name: str) -> str:
        """Where a part lives: a local path or a URL."""
        path = f"{self.path}/{name}"
        return f"{self._protocol}://{path.lstrip('/')}" if self._protocol else path

    def parts(self) -> list[str]:
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        names = [info.base_name for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]
        return sorted(n for n in names if n.startswith("part-") and n.endswith(".parquet"))

    def exists(self, name: str) -> bool:
        return self.fs.get_file_info(f"{self.path}/{name}").type == pafs.FileType.File

    def write(self, name: str, table: pa.Table) -> str:
        """Local: temp file + rename (atomic). Object stores write an object whole in one PUT."""
        if self._protocol is None:
            write_parquet(Path(self.path) / name, table)
        else:
            self.fs.create_dir(self.path, recursive=True)
            pq.write_table(table, f"{self.path}/{name}", filesystem=self.fs)
        return self.where(name)

    def read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(f"{self.path}/{name}", filesystem=self.fs, columns=columns)

    def schema(self, name: str) -> pa.Schema:
        return pq.read_schema(f"{self.path}/{name}", filesystem=self.fs)

    def delete(self, name: str) -> None:
        if self.exists(name):
            self.fs.delete_file(f"{self.path}/{name}")

    def hashes(self, exclude: list[str] = ()) -> set[str]:
        """sha256 of every photo already in the dataset, except in the parts `exclude` (this run's own)."""
        skip = {self.name_of(e) for e in exclude if e}
        found: set[str] = set()
        for name in self.parts():
            if name not in skip:
                found.update(self.read(name, columns=["sha256"]).column("sha256").to_pylist())
        return found
