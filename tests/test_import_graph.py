"""The intra-package import graph: no cycles (not even through imports inside functions), and
no import from a lower layer to a higher one. Read with ``ast``, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "transferlib"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Lowest first. A module may import modules of its own layer or of a lower one, never of a
# higher one. Every module of the package must be in exactly one layer.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation: errors, settings, tokens, data files", {
        "__init__", "errors", "config", "text", "datasets", "datasets_build", "vectors",
        "vectors_build", "csvdata"}),
    ("core: model, batching, training loop, checkpoints, layer groups", {
        "model", "batching", "resume", "training", "checkpoint", "layers", "regularizers",
        "strategies", "predict", "baselines", "naive", "generate", "compression",
        "export_onnx"}),
    ("transfer recipes: vocabulary transfer, fine-tuning, zero-shot", {
        "transfer", "pipeline", "zeroshot"}),
    ("applications: experiments, benchmarks, data parallelism, command line", {
        "experiments", "experiments_report", "bench", "bench_flops", "bench_infer",
        "bench_measure", "bench_softmax", "bench_train", "bench_tta", "distributed", "cli",
        "__main__"}),
    ("workbook helpers: notebook widgets, lessons, exercises, demos", {
        "objective", "lessons", "exercises", "widgets_finetune"}),
]

# Upward imports tolerated for now, as (importer, imported) pairs; none today. An entry whose
# import is gone fails the test, so the list cannot go stale.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    return path.stem


def _targets(node: ast.AST, module: str, known: set[str]) -> set[str]:
    """The package modules one import statement of ``module`` names."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == PACKAGE and len(parts) > 1:
                found.add(parts[1])
    elif isinstance(node, ast.ImportFrom):
        if node.level == 0 and node.module and node.module.split(".")[0] == PACKAGE:
            rest = node.module.split(".")[1:]
        elif node.level == 1:
            rest = node.module.split(".") if node.module else []
        else:
            return found
        if rest:
            found.add(rest[0])
        else:  # ``from . import x`` / ``from transferlib import x``
            found.update(a.name for a in node.names if a.name in known)
    return found - {module}


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` at the top level of a file."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its source (ast, not importing).

    The body of a file's ``if __name__ == "__main__":`` block is a separate program: it runs
    only as module ``__main__`` (``python -m transferlib.x``), never while ``transferlib.x`` is
    being imported, so its imports are the edges of a node ``x:__main__`` in the applications
    layer (``datasets:__main__`` hands the data builders to ``datasets.main``)."""
    paths = sorted(PACKAGE_DIR.glob("*.py"))
    known = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, nodes in ((module, [n for n in tree.body if not _is_main_guard(n)]),
                            (f"{module}:__main__", [n for n in tree.body if _is_main_guard(n)])):
            edges = {t for top in nodes for node in ast.walk(top)
                     for t in _targets(node, module, known) & known}
            if name == module or edges:
                graph[name] = edges | ({module} if name != module else set())
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path a -> ... -> a) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles: list[list[str]] = []
    for comp in components:  # a shortest cycle through each member, each cycle once
        for member in sorted(comp):
            cycle = _cycle_in(graph, comp, member)
            turn = cycle.index(min(cycle[:-1]))
            canonical = cycle[turn:-1] + cycle[:turn] + [cycle[turn]]
            if canonical not in cycles:
                cycles.append(canonical)
    return cycles


def _cycle_in(graph: dict[str, set[str]], comp: set[str], start: str) -> list[str]:
    """A shortest closed path from ``start`` through the strongly connected ``comp``."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # unreachable for an SCC


def _layer_of(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer index; ``x:__main__`` entry points are applications."""
    layer = {m: i for i, (_, members) in enumerate(LAYERS) for m in members}
    return {m: layer[m] if m in layer else layer["__main__"] for m in graph}


def test_the_parser_sees_every_kind_of_import(tmp_path):
    source = ("import os\nimport transferlib.model\nfrom transferlib.text import Vocab\n"
              "from . import datasets\nfrom .batching import make_loader\n"
              "from transferlib import config\n"
              "def f():\n    from .training import fit\n    from . import errors\n")
    known = {"model", "text", "datasets", "batching", "config", "training", "errors"}
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        found |= _targets(node, "probe", known)
    assert found == known
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b", "c"}, "b": {"a"}, "c": {"a"}}) == [["a", "b", "a"],
                                                                      ["a", "c", "a"]]


def test_entry_point_blocks_are_their_own_nodes():
    graph = import_graph()
    assert {"datasets_build", "vectors_build"} <= graph["datasets:__main__"]
    assert not graph["datasets"] & {"datasets_build", "vectors_build"}


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in transferlib:\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def test_every_module_has_exactly_one_layer():
    modules = {m for m in import_graph() if not m.endswith(":__main__")}
    listed = [m for _, members in LAYERS for m in members]
    assert len(listed) == len(set(listed)), "a module is in two layers"
    assert modules - set(listed) == set(), "put these new modules in a layer of LAYERS"
    assert set(listed) - modules == set(), "these modules in LAYERS do not exist"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    graph = import_graph()
    layer = _layer_of(graph)
    upward = {(a, b) for a, targets in graph.items() for b in targets
              if layer[b] > layer[a]}
    unexpected = sorted(upward - KNOWN_UPWARD)
    assert not unexpected, "upward imports (lower layer -> higher layer):\n" + "\n".join(
        f"{a} ({LAYERS[layer[a]][0]}) imports {b} ({LAYERS[layer[b]][0]})"
        for a, b in unexpected)
    stale = sorted(KNOWN_UPWARD - upward)
    assert not stale, f"these KNOWN_UPWARD imports are gone; drop them from the list: {stale}"
