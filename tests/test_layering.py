"""The layering, enforced: no import cycles between the modules of `app` and `engine` (imports inside
functions count: a cycle through one is still a cycle; `if TYPE_CHECKING:` imports, which never run, do
not), and the import-linter contracts of pyproject.toml (`engine` never imports `app`, the engine's face
imports no torch, …) hold."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "engine")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of the module import graph that hold a cycle (Tarjan,
    iterative), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or graph.direct_import_exists(importer=node, imported=node):
                        cycles.append(sorted(component))
    return sorted(cycles)


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """Every import between the modules of one cycle, with its line."""
    members = set(cycle)
    lines = []
    for importer in cycle:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"  {importer}:{detail['line_number']} imports {imported}  ({detail['line_contents']})")
    return "\n".join(lines)


def test_the_cycle_finder_finds_cycles():
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.d", "p.e"),
                               ("p.e", "p.d"), ("p.f", "p.a")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["p.a", "p.b", "p.c"], ["p.d", "p.e"]]
    graph.remove_import(importer="p.c", imported="p.a")
    graph.remove_import(importer="p.e", imported="p.d")
    assert import_cycles(graph) == []


def test_no_import_cycles_between_modules():
    # Imports inside functions count (they run); `if TYPE_CHECKING:` ones do not (annotations only, the
    # way a module names a type without loading it). The contracts of pyproject.toml count both.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(graph, c) for c in cycles)


def test_the_contracts_see_external_packages():
    # the no-torch contract is only as good as the graph: torch must show up where it is imported
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True)
    assert "torch" in graph.find_modules_directly_imported_by("engine.model")
    assert "mamba_ssm" in graph.modules  # seen even where it is not installed (the CPU machines)


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout
