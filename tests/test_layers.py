"""The layout's rules that import-linter cannot state (see pyproject.toml for the rest)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "eventstore", "ledger", "projections", "bootstrap", "api", "cli")
STORAGE_MODULES = ("eventsourcing.postgres", "eventsourcing.sqlite")
# argparse's subparsers type has no public name.
ALLOWED = {"argparse._SubParsersAction"}


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_seam_imports_the_library_storage_modules() -> None:
    outside = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in PACKAGES
        if package != "eventstore"
        for path in modules_of(package)
        for name in imported_names(path)
        if name.startswith(STORAGE_MODULES)
    ]
    assert outside == []


def test_no_private_library_member_is_used_outside_the_seam() -> None:
    """`something._name(...)` on an object that is not `self`/`cls` reaches into another
    class's insides: inside our own packages that is a smell, outside the seam a rule."""
    reaching_in = [
        f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}"
        for package in PACKAGES
        if package != "eventstore"
        for path in modules_of(package)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        and not (isinstance(node.value, ast.Call) and ast.unparse(node.value) == "super()")
        and ast.unparse(node) not in ALLOWED
    ]
    assert reaching_in == []


def test_no_two_modules_share_a_basename() -> None:
    names = Counter(
        path.stem
        for package in (*PACKAGES, "bench", "tests")
        for path in modules_of(package)
        if path.stem != "__init__"
    )
    assert [name for name, count in names.items() if count > 1] == []
