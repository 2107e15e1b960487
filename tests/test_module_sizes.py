"""No module of the project over 500 lines (issue 14): a module that long holds more than one
use case. Migrations are left out (one per schema change, written once)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("handoff", "connectors", "actions", "bot", "sandbox", "bench")
LIMIT = 500


def line_counts() -> dict[str, int]:
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def test_the_count_sees_the_project():
    counts = line_counts()
    assert "handoff/service.py" in counts and "connectors/storage/schema.py" in counts
    assert not any("/migrations/" in name for name in counts)


def test_no_module_is_over_500_lines():
    over = {name: lines for name, lines in line_counts().items() if lines > LIMIT}
    assert over == {}, f"over {LIMIT} lines: split them by use case"


def test_the_handoff_service_is_split_by_use_case():
    """handoff/service.py is the composition only; each use case under 400 lines."""
    counts = line_counts()
    assert counts["handoff/service.py"] < 150
    services = {name: lines for name, lines in counts.items() if name.startswith("handoff/services/")}
    assert len(services) >= 8
    assert {name: lines for name, lines in services.items() if lines >= 400} == {}
