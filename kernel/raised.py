"""The domain errors a function can raise, read from its code.

A route's documentation declares the problems its service can answer (a 409 of a rule,
a 404 of an object named in the body...). Read from the code, not listed beside it:
the function's source is parsed, every `DomainError` subclass it raises or builds is
noted, and every function of the suite it calls by name (`service.sign(...)`,
`require_bilan_final(...)`, a module's function through its alias) is read the same
way, transitively. Names are resolved in the function's module at run time, so an
alias or a re-export finds the real function; a method called on a parameter is
looked up on the parameter's annotated class, and an app's class the function builds
counts with all its methods (a multipart parser refusing what it reads). Other method
calls are not followed: the kernel's dependencies that refuse requests (rights,
preconditions) say what they answer themselves (`kernel.openapi.declare`, `statuses`).

Over-approximates on purpose: an error caught further down still counts; a status the
route never answers in practice is a weaker fault than one it answers undeclared (the
contract test, `tests/contract/`, fuzzes the second).
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator
from types import FunctionType, ModuleType
from typing import Any

from kernel.errors import DomainError

# Modules whose functions are read: the suite's own code.
SUITE_PACKAGES = ("kernel", "services", "gateway")


def _in_suite(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".", 1)[0] in SUITE_PACKAGES


def _followed_class(hint: object) -> bool:
    """An app's class (the kernel's say what they answer: a `Preconditions` refuses
    with 428 only where its route requires If-Match)."""
    return isinstance(hint, type) and _in_suite(hint) and not hint.__module__.startswith("kernel.")


def _error_class(obj: object) -> type[DomainError] | None:
    if isinstance(obj, type) and issubclass(obj, DomainError):
        return obj
    return None


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> object:
    """What a called name or `alias.name` designates in the function's module."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = namespace.get(node.value.id)
        if isinstance(owner, ModuleType | type):
            return getattr(owner, node.attr, None)
    return None


def _calls(function: FunctionType) -> Iterator[object]:
    """Every object the function calls (or raises) by a name of its module."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return
    module = sys.modules.get(function.__module__)
    namespace = {**vars(module)} if module is not None else {}
    namespace.update(inspect.getclosurevars(function).nonlocals)
    # A parameter's class: its methods are followed (`preconditions.check(...)`).
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that does not resolve: its methods are not followed
        hints = {}
    namespace.update({name: hint for name, hint in hints.items() if _followed_class(hint)})
    for node in ast.walk(ast.parse(source)):
        target: ast.expr | None = None
        if isinstance(node, ast.Call):
            target = node.func
        elif isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc
        if target is not None:
            found = _resolve(target, namespace)
            if found is not None:
                yield found


def raised_by(function: Callable[..., Any]) -> frozenset[type[DomainError]]:
    """The domain errors `function` (and the suite's functions it calls) can raise."""
    return _raised(inspect.unwrap(function), ())


# Read once per process (the documents are built once); a function met again within
# its own call chain (recursion) adds nothing more.
_MEMO: dict[FunctionType, frozenset[type[DomainError]]] = {}


def _raised(function: object, stack: tuple[FunctionType, ...]) -> frozenset[type[DomainError]]:
    if not isinstance(function, FunctionType) or not _in_suite(function) or function in stack:
        return frozenset()
    known = _MEMO.get(function)
    if known is not None:
        return known
    out: set[type[DomainError]] = set()
    for called in _calls(function):
        error = _error_class(called)
        if error is not None:
            out.add(error)
        elif isinstance(called, FunctionType):
            out |= _raised(inspect.unwrap(called), (*stack, function))
        elif _followed_class(called):
            # An object the function builds is there to be used: its methods count.
            for member in vars(called).values():
                method = getattr(member, "__func__", member)
                out |= _raised(method, (*stack, function))
    _MEMO[function] = found = frozenset(out)
    return found
