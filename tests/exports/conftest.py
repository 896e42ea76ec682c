"""The export engine's tests run their ``platform`` on the local folder and, on SQLite, on S3 (the
run's moto server) too: every export they run writes its pieces, partials and archive through
the store, whichever it is. A test that looks into the local data folder itself stays local
(``LOCAL_ONLY``, with why)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.s3 import deselect_s3_runs, storage_settings

LOCAL_ONLY = frozenset({
    # Sets each partial's age by its file's mtime, prefix by prefix; an S3 upload's age is the
    # time of its last part, which nothing but the clock moves. The S3 sweep's ages are tested in
    # tests/files/test_s3_store.py (test_the_sweep_*, test_a_live_writer_keeps_*), and the worker
    # calls the same store method whichever the store.
    "test_the_worker_sweeps_partials_nobody_finished",
})


@pytest.fixture(params=["local", "s3"])
def file_storage(request: pytest.FixtureRequest) -> dict[str, Any]:
    return storage_settings(request)


def runs_on_s3(item: pytest.Item, database: str) -> bool:
    return database == "sqlite" and getattr(item, "originalname", item.name) not in LOCAL_ONLY


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_s3_runs(config, items, Path(__file__).parent, runs_on_s3)
