"""Conditional headers have one home: the kernel's dependencies read them into a
`Preconditions` value, the service holding the resource compares it with the current
ETag. No service function sees the HTTP request, and no module but `kernel.etag` reads
If-Match or If-None-Match."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kernel.errors import PreconditionFailed, PreconditionRequired
from kernel.etag import Preconditions

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = [ROOT / "services" / name for name in ("conventions", "actions", "documents")] + [
    ROOT / "gateway" / "habilitations"
]


def _service_modules() -> list[Path]:
    return sorted(p for d in APP_DIRS for p in d.glob("*.py") if p.name.startswith("service"))


def test_no_service_module_imports_fastapi() -> None:
    """Services take typed values (the principal, the preconditions), never a request."""
    offenders = []
    for path in _service_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in {"fastapi", "starlette"}
            ]
    assert _service_modules(), "no service module found"
    assert offenders == []


def test_only_the_kernel_reads_conditional_headers() -> None:
    readers = []
    for base in ("services", "gateway", "kernel"):
        for path in (ROOT / base).rglob("*.py"):
            text = path.read_text(encoding="utf-8").lower()
            if path.name == "etag.py" or path.name == "limits.py":
                continue  # the kernel's reader; the gateway's forwarded-header list
            if '"if-match"' in text or '"if-none-match"' in text:
                readers.append(str(path.relative_to(ROOT)))
    assert readers == []


CURRENT = '"a.2"'


@pytest.mark.parametrize(
    ("preconditions", "current", "raised"),
    [
        (Preconditions(if_match_required=True), CURRENT, PreconditionRequired),
        (Preconditions(if_match='"a.1"', if_match_required=True), CURRENT, PreconditionFailed),
        (Preconditions(if_match='"a.1"'), CURRENT, PreconditionFailed),
        (Preconditions(if_match=CURRENT), None, PreconditionFailed),
        (Preconditions(if_none_match="*", if_match_required=True), CURRENT, PreconditionFailed),
    ],
)
def test_refused_preconditions(
    preconditions: Preconditions, current: str | None, raised: type[Exception]
) -> None:
    with pytest.raises(raised):
        preconditions.check(current)


@pytest.mark.parametrize(
    ("preconditions", "current"),
    [
        (Preconditions(), CURRENT),  # If-Match optional and absent
        (Preconditions(if_match=f"W/{CURRENT}", if_match_required=True), CURRENT),
        (Preconditions(if_match="*", if_match_required=True), CURRENT),
        (Preconditions(if_none_match="*", if_match_required=True), None),  # create only
        (Preconditions(if_match_required=True), None),  # a PUT creating
    ],
)
def test_satisfied_preconditions(preconditions: Preconditions, current: str | None) -> None:
    preconditions.check(current)


def test_a_stale_if_match_answers_the_current_etag() -> None:
    with pytest.raises(PreconditionFailed) as refused:
        Preconditions(if_match='"a.1"').check(CURRENT)
    assert refused.value.headers == {"ETag": CURRENT}


def test_a_conditional_read_names_the_version_the_client_holds() -> None:
    assert Preconditions(if_none_match=f'"x", {CURRENT}').not_modified(CURRENT)
    assert not Preconditions(if_none_match='"a.1"').not_modified(CURRENT)
    assert not Preconditions().not_modified(CURRENT)
