"""The layers hold (docs/architecture.md): `lint-imports` keeps the contracts in pyproject.toml,
and no module of the project takes part in an import loop."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("payment_core", "mcp_server", "bff", "web")


def import_loops(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of modules (Tarjan): each one is a loop, or loops that share modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph.modules)))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return loops


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout, done.stdout


def test_no_module_takes_part_in_an_import_loop() -> None:
    # Imports inside functions and under TYPE_CHECKING count too: a loop there is still a loop.
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert "payment_core.payments.service" in graph.modules  # the graph is the project's, not empty
    loops = import_loops(graph)
    assert loops == [], "import loops:\n" + "\n".join(" <-> ".join(group) for group in loops)


def test_the_loop_finder_finds_a_loop() -> None:
    """The check above could not pass by finding nothing: a planted loop is reported."""
    graph = grimp.ImportGraph()
    for importer, imported in (("a.one", "a.two"), ("a.two", "a.three"), ("a.three", "a.one"), ("a.three", "a.four")):
        graph.add_import(importer=importer, imported=imported)
    assert import_loops(graph) == [["a.one", "a.three", "a.two"]]
