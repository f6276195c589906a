"""The house's layout, read from the imports (README, "Layout"): the wings (functions, ui,
infra) stand on `shared/` and never on each other, the modules import no loop, and each
outside service's client library is imported in its one room only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WINGS = ("functions", "ui", "infra")
PROJECT = ("shared", *WINGS)
# an outside service's library -> the only modules that may import it
CONFINED = {
    "minio": {"shared.storage"},
    "mlflow": {"shared.tracking"},  # the registry, predict and the UI use its REST API (shared/registry.py)
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in PROJECT for path in sorted((ROOT / package).rglob("*.py"))}


def imported(path: Path, *, at_import_time: bool = False) -> set[str]:
    """The modules `path` imports; only those its top level runs when `at_import_time`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if at_import_time else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def project_imports(path: Path, **how) -> set[str]:
    """The project modules among `path`'s imports (`from shared import x` names shared.x)."""
    return {name for name in imported(path, **how) if name in MODULES}


def test_a_wing_stands_on_shared_only():
    crossing = sorted(
        f"{module} imports {name}"
        for module, path in MODULES.items()
        for name in project_imports(path)
        if name.split(".")[0] not in ("shared", module.split(".")[0])
    )
    assert crossing == []


def test_shared_imports_no_wing():
    assert sorted(f"{m} imports {n}" for m, p in MODULES.items() if m.startswith("shared")
                  for n in project_imports(p) if not n.startswith("shared")) == []


def test_no_import_loop():
    graph = {module: project_imports(path, at_import_time=True) - {module} for module, path in MODULES.items()}
    loops = [path for module in graph if (path := loop_from(module, graph))]
    assert loops == []


def loop_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A chain of imports leading from `start` back to it, if any (depth first, no recursion)."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        module, chain = stack.pop()
        for name in graph.get(module, ()):
            if name == start:
                return chain + [start]
            if name not in seen:
                seen.add(name)
                stack.append((name, chain + [name]))
    return None


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_a_service_library_is_imported_in_its_room_only(library):
    importers = {module for module, path in MODULES.items()
                 if any(name.split(".")[0] == library for name in imported(path))}
    assert importers <= CONFINED[library], sorted(importers - CONFINED[library])


def test_the_layout_check_sees_a_crossing(tmp_path):
    """The checks read real imports: a wing importing another is seen."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom ui.backend import Backend\n\ndef later():\n    from shared import errors\n")
    assert project_imports(sample) == {"ui.backend", "shared", "shared.errors"}
    assert project_imports(sample, at_import_time=True) == {"ui.backend"}
    assert loop_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
