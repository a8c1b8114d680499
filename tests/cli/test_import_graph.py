"""The `coop` package imports without a circle: the CLI's sub-command modules take
what they share (the database URL) from `coop.cli_database`, never from `coop.cli`."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import coop

ROOT = Path(coop.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Every `coop` module `tree` imports, at the top or inside a function (a lazy
    import closes a circle as surely, only later), or loads by `importlib`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found.update(name for name in names if name in known)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    known = {_module_name(p) for p in paths}
    return {
        _module_name(p): _imports(ast.parse(p.read_text(encoding="utf-8")), known) - {"coop"}
        for p in paths
    }


def test_the_coop_package_has_no_import_circle() -> None:
    graph = import_graph()
    assert "coop.cli_documents" in graph["coop.cli"]  # the graph sees the sub-commands
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_no_sub_command_module_imports_the_cli() -> None:
    graph = import_graph()
    back = sorted(
        m for m, deps in graph.items() if m.startswith("coop.cli_") and "coop.cli" in deps
    )
    assert back == []
