"""The house (STYLE.md): imports point down only, and nothing imports api or gridwatch."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "ingest", "spatial", "monitoring", "maps", "api", "gridwatch", "migrations")
ALLOWED = {
    "core": set(),
    "ingest": {"core"},
    "spatial": {"core", "ingest"},
    "monitoring": {"core", "ingest", "spatial"},
    "maps": {"core", "ingest", "spatial", "monitoring"},
    "api": {"core", "ingest", "spatial", "monitoring", "maps"},
    "gridwatch": {"core", "ingest", "spatial", "monitoring", "maps", "api", "migrations"},
    "migrations": {"core"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def test_imports_point_down_only() -> None:
    wrong = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            for target in _imports(path) - {pkg} - ALLOWED[pkg]:
                wrong.append(f"{path.relative_to(REPO)} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from monitoring.jobs import run_all\nimport api.app\n")
    assert _imports(bad) == {"monitoring", "api"}
