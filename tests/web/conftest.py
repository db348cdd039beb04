"""One `python -m flows serve` for the web tests (API and browser): started once, stopped with Ctrl-C."""

from __future__ import annotations

import pytest

from tests.web import served as serve_helpers

USERS = ["alice", "bob", "carol", "dana"]
# Small limits so the tests can reach them: 1 MiB per photo, 4 photos, 3 jobs per user.
SERVE_ARGS = ["--concurrency", "2", "--jobs-per-user", "3", "--max-queue", "12", "--max-photos", "4",
              "--max-photo-mb", "1"]


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    instance = serve_helpers.start(tmp_path_factory.mktemp("serve"), USERS, *SERVE_ARGS)
    yield instance
    leftovers = serve_helpers.stop(instance)
    assert not leftovers, f"processes left after Ctrl-C on serve: {leftovers}\n{instance.log()}"


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    return serve_helpers.small_photos(tmp_path_factory.mktemp("web-photos"))
