"""The house's shape, read from the source: no import circle among the project's modules,
and the domain core (handoff/) imports no adapter (connectors/, actions/, sandbox/)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("handoff", "connectors", "actions", "bot")
ADAPTERS = ("connectors", "actions", "sandbox")
# What the domain must not know of: how its records are kept (the storage adapter speaks
# SQLAlchemy; the domain speaks ``handoff.records``), nor the web and Meta libraries.
STORAGE_AND_TRANSPORT_LIBRARIES = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sanic", "aiohttp", "redis")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, packages: tuple[str, ...] = PACKAGES) -> set[str]:
    """Every module of ``packages`` that ``path`` imports, TYPE_CHECKING blocks and local imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in packages}


def import_graph() -> dict[str, set[str]]:
    files = {
        module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    graph = {}
    for name, path in files.items():
        # "from handoff.campaigns import load_campaigns" names the package, not a module in it.
        graph[name] = {target for target in imports_of(path) if target in files and target != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back():
    assert circles(import_graph()) == []


def test_the_domain_core_imports_no_adapter():
    graph = import_graph()
    core = [name for name in graph if name.split(".")[0] == "handoff"]
    offending = {name: sorted(target for target in graph[name] if target.startswith(ADAPTERS)) for name in core}
    assert {name: targets for name, targets in offending.items() if targets} == {}


def test_the_domain_keeps_its_records_through_its_port_not_a_database_library():
    offending = {
        module_name(path): sorted(imports_of(path, STORAGE_AND_TRANSPORT_LIBRARIES)) for path in (ROOT / "handoff").rglob("*.py")
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_library_check_sees_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def later():\n    from sqlalchemy.ext.asyncio import AsyncEngine\n", encoding="utf-8")
    assert imports_of(sample, STORAGE_AND_TRANSPORT_LIBRARIES) == {"sqlalchemy.ext.asyncio", "sqlalchemy.ext.asyncio.AsyncEngine"}
