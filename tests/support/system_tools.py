"""System programs the tests drive for real (clamd, LibreOffice, poppler): found on the
machine, or the test skips locally with a French message and fails under CI (`CI` set),
where `.ci/run` installs them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(message: str) -> NoReturn:
    """Skip locally, fail under CI: a missing program must never pass unseen there."""
    if under_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_program(name: str, package: str, *, extra_paths: tuple[str, ...] = ()) -> str:
    """The path of program `name`, from Debian's `package` (installed by .ci/run)."""
    found = shutil.which(name) or next((p for p in extra_paths if Path(p).is_file()), None)
    if found is None:
        missing(f"{name} introuvable : installez le paquet Debian {package} (.ci/run le fait).")
    return found
