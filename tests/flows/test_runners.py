"""The curated dataset does not depend on the task runner: threads vs a 2-worker Dask LocalCluster."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.config import CurationConfig
from flows.curate import curate_flow

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]

# Columns whose values may legitimately differ between two runs of the same photos. None are
# expected: the dataset is a pure function of the photo bytes and the configuration.
RUN_DEPENDENT: tuple[str, ...] = ()


def curated(photos, out, runner: str) -> pd.DataFrame:
    # batch_size=1: one task per photo and stage, so both workers of each runner get work.
    config = CurationConfig(runner=runner, workers=2, batch_size=1, progress=False)
    result = curate_flow(inputs=[str(photos)], out=str(out), config=config)
    assert result["counts"] == {"ok": 3, "rejected": 1}
    data = pd.read_parquet(out / "faces")
    return data.drop(columns=list(RUN_DEPENDENT)).sort_values("source").reset_index(drop=True)


def test_threads_and_dask_runners_curate_the_same_dataset(small_photos, tmp_path):
    threads = curated(small_photos, tmp_path / "threads", "threads")
    dask = curated(small_photos, tmp_path / "dask", "dask")

    assert list(threads.columns) == list(dask.columns)
    assert list(threads.source) == list(dask.source) and len(threads) == 4
    differing = {column: [src.rsplit("/", 1)[-1] for src, a, b in
                          zip(threads.source, _canonical(threads[column]), _canonical(dask[column])) if a != b]
                 for column in threads.columns}
    differing = {column: rows for column, rows in differing.items() if rows}
    assert not differing, f"columns differing between threads and dask (column: photos): {differing}"
    # image and mask bytes identical, not merely close
    ok = threads.status == "ok"
    assert ok.sum() == 3
    assert list(threads.image[ok]) == list(dask.image[ok])
    assert list(threads["mask"][ok]) == list(dask["mask"][ok])


def _canonical(values) -> list:
    """numpy arrays (list columns) and NaN made comparable with ==, values unchanged."""
    import numpy as np

    def one(value):
        if isinstance(value, np.ndarray):
            return [one(v) for v in value.tolist()]
        if isinstance(value, (list, tuple)):
            return [one(v) for v in value]
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, float) and value != value:
            return "NaN"
        if value is None or value is pd.NA:
            return None
        return value

    return [one(v) for v in list(values)]
