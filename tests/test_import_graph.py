"""The house's shape, read from the source: no import circle among the project's modules,
and the domain core (handoff/) imports no adapter (connectors/, actions/, sandbox/)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("handoff", "connectors", "actions", "bot")
ADAPTERS = ("connectors", "actions", "sandbox")
# The use cases that still write their SQL through the storage adapter's row modules instead
# of a port (issue 14, under way). The list only shrinks: a module that stops importing
# connectors.storage must leave it, and no other may join. (handoff.services.* is what was
# handoff.service, split by use case: the same SQL in more modules, not more SQL.)
STILL_ON_STORAGE_ROWS = {
    "handoff.queries",
    "handoff.history",
    *(
        f"handoff.services.{name}"
        for name in (
            "agents",
            "attentions",
            "forms",
            "inbound",
            "labels",
            "outbound",
            "outbox",
            "presence",
            "receipts",
            "shared",
        )
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every project module ``path`` imports, TYPE_CHECKING blocks and local imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


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
    offending = {name: targets for name, targets in offending.items() if targets}
    on_rows = {name for name, targets in offending.items() if all(t.startswith("connectors.storage") for t in targets)}
    assert on_rows == STILL_ON_STORAGE_ROWS, "STILL_ON_STORAGE_ROWS only shrinks"
    assert {name: targets for name, targets in offending.items() if name not in on_rows} == {}
