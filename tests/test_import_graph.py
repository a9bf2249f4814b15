"""The intra-package import graph: no cycles (not even through imports inside functions), and
no import from a lower layer to a higher one. Read with ``ast``, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "transferlib"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Lowest first. A module may import modules of its own layer or of a lower one, never of a
# higher one. Every module of the package must be in exactly one layer. Names are dotted paths
# inside the package (``bench.tta``); a subpackage's ``__init__`` is the subpackage's name.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation: errors, settings, tokens, data files", {
        "__init__", "errors", "config", "text", "datasets", "datasets.loaders", "datasets.build",
        "datasets.build_vectors", "vectors", "csvdata"}),
    ("core: model, batching, training loop, checkpoints, parameter groups, DDP parts", {
        "model", "chunked", "batching", "resume", "devices", "tasks", "training", "checkpoint",
        "param_groups", "schedules", "regularizers", "strategies", "stats", "predict", "baselines",
        "naive", "generate", "compression", "export_onnx", "parallel", "augment", "teacher"}),
    ("transfer recipes: vocabulary transfer, fine-tuning, zero- and few-shot", {
        "transfer", "pretrain", "pipeline", "zeroshot", "fewshot", "distill"}),
    ("applications: experiments, benchmarks, DDP scaling, command lines", {
        "experiments", "experiments.runs", "experiments.report", "experiments.distill",
        "experiments.sources", "experiments.records", "experiments.samples",
        "experiments.command", "experiments.deploy", "experiments.distill_command", "bench",
        "bench.levers", "bench.flops", "bench.infer", "bench.measure", "bench.softmax",
        "bench.train", "bench.tta", "distributed", "cli", "cli_helpers", "finetune_command",
        "__main__", "datasets.__main__"}),
    ("workbook helpers: notebook widgets, lessons, exercises, diagrams", {
        "workbook", "workbook.objective", "workbook.lessons", "workbook.exercises",
        "workbook.widgets", "workbook.diagrams", "workbook.classroom", "workbook.book",
        "workbook.__main__"}),
]
# Every module inside these subpackages belongs to the subpackage's layer (one file per
# notebook or topic; listing each would only repeat the folder).
LAYERED_FOLDERS = ("workbook.exercises", "workbook.diagrams")


def _listed(module: str) -> str:
    """The name ``module`` is listed under in LAYERS (its folder's, for LAYERED_FOLDERS)."""
    return next((f for f in LAYERED_FOLDERS if module.startswith(f + ".")), module)

# Upward imports tolerated for now, as (importer, imported) pairs; none today. An entry whose
# import is gone fails the test, so the list cannot go stale.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    """``bench/tta.py`` -> ``bench.tta``; ``bench/__init__.py`` -> ``bench``."""
    parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    if len(parts) > 1 and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_of(module: str, path_is_init: bool) -> list[str]:
    """The package a module's ``from . import`` means, as parts inside transferlib."""
    parts = [] if module in ("__init__", "__main__") else module.split(".")
    return parts if path_is_init else parts[:-1]


def _known_prefix(parts: list[str], known: set[str]) -> str | None:
    """The longest dotted prefix of ``parts`` that is a module of the package."""
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return None


def _targets(node: ast.AST, module: str, known: set[str], is_init: bool = False) -> set[str]:
    """The package modules one import statement of ``module`` names."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == PACKAGE and len(parts) > 1:
                found.add(_known_prefix(parts[1:], known) or parts[1])
    elif isinstance(node, ast.ImportFrom):
        if node.level == 0:
            parts = (node.module or "").split(".")
            if parts[0] != PACKAGE:
                return found
            base = parts[1:]
        else:
            package = _package_of(module, is_init)
            base = package[:len(package) - (node.level - 1)] + (
                node.module.split(".") if node.module else [])
        for alias in node.names:  # ``from transferlib.bench import tta`` names a submodule
            sub = ".".join(base + [alias.name])
            if sub in known:
                found.add(sub)
            elif base:
                found.add(_known_prefix(base, known) or ".".join(base))
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
    layer."""
    paths = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    known = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        module = _module_name(path)
        is_init = path.name == "__init__.py" and path.parent != PACKAGE_DIR
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, nodes in ((module, [n for n in tree.body if not _is_main_guard(n)]),
                            (f"{module}:__main__", [n for n in tree.body if _is_main_guard(n)])):
            edges = {t for top in nodes for node in ast.walk(top)
                     for t in _targets(node, module, known, is_init) & known}
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
    return {m: layer[_listed(m)] if _listed(m) in layer else layer["__main__"] for m in graph}


def test_the_parser_sees_every_kind_of_import(tmp_path):
    source = ("import os\nimport transferlib.model\nfrom transferlib.text import Vocab\n"
              "from . import datasets\nfrom .batching import make_loader\n"
              "from transferlib import config\nfrom transferlib.bench import tta\n"
              "import transferlib.bench.flops as fl\n"
              "from transferlib.workbook.exercises import check_threshold\n"
              "def f():\n    from .training import fit\n    from . import errors\n")
    known = {"model", "text", "datasets", "batching", "config", "training", "errors", "bench",
             "bench.tta", "bench.flops", "workbook", "workbook.exercises"}
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        found |= _targets(node, "probe", known)
    assert found == known - {"bench", "workbook"}
    inside: set[str] = set()  # relative imports inside a subpackage
    for node in ast.walk(ast.parse("from . import flops\nfrom ..model import X\n"
                                   "from .measure import Stream\n")):
        inside |= _targets(node, "bench.tta", known | {"bench.measure"})
    assert inside == {"bench.flops", "model", "bench.measure"}
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b", "c"}, "b": {"a"}, "c": {"a"}}) == [["a", "b", "a"],
                                                                      ["a", "c", "a"]]


def test_the_command_line_of_the_data_sits_above_its_builders():
    graph = import_graph()
    assert {"datasets.build", "datasets.build_vectors"} <= graph["datasets.__main__"]
    assert not graph["datasets.loaders"] & {"datasets.build", "datasets.build_vectors"}


def test_each_subpackage_sits_in_one_layer():
    """The folders show the layers: every module of bench/, experiments/, workbook/ is in the
    same layer as its package (datasets/'s command line excepted: it is an application)."""
    layer = _layer_of(import_graph())
    for package in ("datasets", "bench", "experiments", "workbook"):
        members = {m for m in layer if m.startswith(package + ".") and ":" not in m}
        members.discard("datasets.__main__")
        assert members, package
        assert {layer[m] for m in members} == {layer[package]}, package


def test_finetune_goes_down_the_layers():
    """cli -> finetune_command -> pipeline -> parallel/training: the one fine-tuning path never
    climbs back."""
    graph = import_graph()
    layer = _layer_of(graph)
    assert "finetune_command" in graph["cli"] and "pipeline" in graph["finetune_command"]
    assert "parallel" in graph["pipeline"]
    assert "distributed" not in graph["pipeline"] and "cli" not in graph["distributed"]
    assert all(layer[t] <= layer["pipeline"] for t in graph["pipeline"])


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in transferlib:\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def test_every_module_has_exactly_one_layer():
    modules = {_listed(m) for m in import_graph() if not m.endswith(":__main__")}
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
