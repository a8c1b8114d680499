"""The suite as `coop run` starts it (every app with its default worker count, and `coop
worker`), on the test database, once for the end-to-end tests that share it (starting it
costs seconds); a module needing other settings builds its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coop.stack import Stack
from tests.support.suite import running_stack


@pytest.fixture(scope="package")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("suite")) as suite:
        yield suite
