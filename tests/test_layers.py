"""The tiers of docs/architecture.md, enforced: a module imports only from its own tier or below.

Every ``import opencortex.x`` and ``from opencortex.x import ...`` in ``src/opencortex`` (lazy
imports inside functions included) is read with ``ast``; an upward import fails this test with the
module, the line and both tiers named. A new top-level package or module fails it until it is
placed in ``TIERS`` (and in the map in docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "opencortex"

# Top to bottom; the same table as docs/architecture.md.
TIERS: list[frozenset[str]] = [
    frozenset({"cli"}),
    frozenset({"api", "web"}),
    frozenset({"exports", "demo"}),
    frozenset({"attachments"}),
    frozenset({"instances", "logs"}),
    frozenset({"runtime"}),
    frozenset({"acl", "auth"}),
    frozenset({"model"}),
    frozenset({"query"}),
    frozenset({"scripting"}),
    frozenset({"store", "files", "logging_setup"}),
    frozenset({"faults", "ids", "clock", "settings", "keys"}),
]
UNTIERED = frozenset({"__init__", "migrations"})  # the package's own docstring; Alembic's scripts


def tier_of(name: str) -> int:
    for index, members in enumerate(TIERS):
        if name in members:
            return index
    raise KeyError(name)


def opencortex_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every absolute import of an ``opencortex`` module in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "opencortex" and len(parts) > 1:
                yield node.lineno, parts[1]


def top_level(path: Path) -> str:
    return path.relative_to(SOURCE).parts[0].removesuffix(".py")


def test_every_top_level_package_has_a_tier() -> None:
    names = {top_level(path) for path in SOURCE.rglob("*.py")} - UNTIERED
    assert sorted(name for name in names if not any(name in tier for tier in TIERS)) == []


def test_no_module_imports_from_a_tier_above_its_own() -> None:
    upward = []
    for path in sorted(SOURCE.rglob("*.py")):
        owner = top_level(path)
        if owner in UNTIERED:
            continue
        for line, imported in opencortex_imports(path):
            if imported != owner and tier_of(imported) < tier_of(owner):
                upward.append(f"{path.relative_to(SOURCE)}:{line} ({owner}) imports {imported}")
    assert upward == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from opencortex.api.app import create_app\n", [(1, "api")]),
    ("def later():\n    import opencortex.web.mount\n", [(2, "web")]),
    ("from . import sibling\nimport os\n", []),
])
def test_imports_are_read_lazy_ones_included(tmp_path: Path, source: str, expected: list[tuple[int, str]]) -> None:
    module = tmp_path / "module.py"
    module.write_text(source)
    assert list(opencortex_imports(module)) == expected
