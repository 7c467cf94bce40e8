"""The layout of the house (issue #14), read from the source without importing it.

- The models (``spikelib.alpha.*``, ``spikelib.lif.*``) import nothing from the layers above them: not
  directly, and not through a helper module either (the chain is shown, each hop with its file:line).
- No import cycle among spikelib modules.
- No ``.py``, ``.c`` or ``.h`` file under ``spikelib/`` over 600 lines.
- No notebook code cell over 30 lines; notebooks stored without outputs or execution counts.

How imports count (the edges of the graph):

- Every ``import``/``from ... import`` statement anywhere in a module counts, inside functions too: a lazy
  import still ties the layers together, and may hide a cycle. Relative imports are resolved.
- ``from pkg import name`` is an edge to the submodule ``pkg.name`` when that is a module, else to ``pkg``
  (its ``__init__``). So a package ``__init__`` that re-exports a submodule is an edge package ->
  submodule, and a submodule that takes a name from its own package's ``__init__`` closes a cycle.
- Importing ``pkg.sub`` also runs ``pkg/__init__.py``, but that implicit edge is not counted: while a
  package's submodule is imported its ``__init__`` is already in ``sys.modules``, so it cannot form a cycle.
- Left out: ``from __future__`` (not a module) and imports under ``if TYPE_CHECKING:`` (never run; they
  are allowed to name any layer, for annotations). Imports in ``try``/``except ImportError`` count.
- A module split into parts keeps its name as a prefix (``spikelib.sweep`` -> ``spikelib.sweep_configs``,
  ``spikelib.sweep_summary``; ``spikelib.data_fetch``; ``spikelib.pipeline_mathjax``): the parts belong to
  the same layer as the module, as do the submodules of a package (``spikelib.experiments.roy``).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "spikelib"
MAX_LINES = 600
MAX_CELL_LINES = 30
SOURCE_SUFFIXES = (".py", ".c", ".h")

MODEL_PACKAGES = ("spikelib.alpha", "spikelib.lif")
ABOVE_THE_MODELS = (
    "spikelib.scales", "spikelib.sweep", "spikelib.results", "spikelib.pipeline", "spikelib.scorecard",
    "spikelib.plotting", "spikelib.about", "spikelib.data", "spikelib.papers", "spikelib.reporting",
    "spikelib.experiments", "spikelib.audio", "spikelib.reference", "spikelib.captions",
)


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (both spikelib modules) at ``path:line``."""

    source: str
    target: str
    path: Path
    line: int

    def where(self, root: Path = ROOT) -> str:
        try:
            shown = self.path.relative_to(root)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def in_module(module: str, root: str, *, parts: bool = False) -> bool:
    """``module`` is ``root``, one of its submodules, or (``parts``) a part split off it (``root_*``)."""
    return module == root or module.startswith(root + ".") or (parts and module.startswith(root + "_"))


def discover(root: Path = ROOT, package: str = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """{module name: (file, is_package)} of every ``.py`` file under ``root/package``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """Every import statement of a module (at any depth) except those under ``if TYPE_CHECKING:``."""

    def __init__(self) -> None:
        self.found: list[ast.Import | ast.ImportFrom] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append(node)


def edges_of(name: str, path: Path, is_package: bool, modules: dict, package: str = PACKAGE) -> list[Edge]:
    """The edges from module ``name`` (file ``path``) to the spikelib modules it imports."""
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    out = []
    for node in visitor.found:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:  # relative: from the package holding this module, level - 1 further up
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                       for alias in node.names]
        for target in dict.fromkeys(targets):
            if in_module(target, package) and target != name:
                out.append(Edge(name, target, path, node.lineno))
    return out


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, list[Edge]]:
    """{module: its edges} for every module under ``root/package``."""
    modules = discover(root, package)
    return {name: edges_of(name, path, is_package, modules, package)
            for name, (path, is_package) in modules.items()}


def layer_violations(graph: dict[str, list[Edge]], models=MODEL_PACKAGES, above=ABOVE_THE_MODELS,
                     root: Path = ROOT) -> list[str]:
    """Every import of a model module from a module above the models, then each model module's shortest
    chain to any other module above the models through helpers (modules neither above the models nor
    models themselves: those report their own imports). Each line starts with the model module's import.
    """
    def is_model(module: str) -> bool:
        return any(in_module(module, m) for m in models)

    def is_above(module: str) -> bool:
        return any(in_module(module, a, parts=True) for a in above)

    lines = []
    for start in sorted(m for m in graph if is_model(m)):
        chains = {start: []}
        frontier = [start]
        while frontier:  # breadth first: the shortest chain to each module
            following = []
            for module in frontier:
                for edge in graph.get(module, []):
                    if edge.target in chains or is_model(edge.target):
                        continue
                    chains[edge.target] = [*chains[module], edge]
                    if not is_above(edge.target):
                        following.append(edge.target)
            frontier = following
        direct = [e for e in graph.get(start, []) if is_above(e.target)]
        lines += [f"{e.where(root)}: {start} imports {e.target}" for e in sorted(direct, key=lambda e: e.line)]
        for target, chain in sorted(chains.items()):
            if is_above(target) and len(chain) > 1 and target not in {e.target for e in direct}:
                hops = " -> ".join(f"{e.target} ({e.where(root)})" for e in chain)
                lines.append(f"{chain[0].where(root)}: {start} imports {target} via {hops}")
    return lines


def cycles(graph: dict[str, list[Edge]], root: Path = ROOT) -> list[str]:
    """One cycle, as a path with each import's file:line, per strongly connected group of modules."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for edge in graph.get(v, []):
            w = edge.target
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    out = []
    for group in groups:
        start = min(group)
        paths = {start: []}
        frontier = [start]
        found = None
        while frontier and found is None:  # the shortest way from start back to itself
            following = []
            for module in frontier:
                for edge in graph[module]:
                    if edge.target == start:
                        found = [*paths[module], edge]
                        break
                    if edge.target in group and edge.target not in paths:
                        paths[edge.target] = [*paths[module], edge]
                        following.append(edge.target)
                if found:
                    break
            frontier = following
        out.append(start + "".join(f" -> {e.target} ({e.where(root)})" for e in found)
                   + f"  [{len(group)} modules in the cycle group: {', '.join(sorted(group))}]")
    return sorted(out)


def long_files(root: Path = ROOT, package: str = PACKAGE, limit: int = MAX_LINES) -> list[str]:
    out = []
    for path in sorted((root / package).rglob("*")):
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > limit:
                out.append(f"{path.relative_to(root)}: {n} lines")
    return out


def _cells(path: Path) -> list[tuple[int, dict, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(i, cell, "".join(cell.get("source", "")) if isinstance(cell.get("source"), list)
             else cell.get("source", "")) for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"]


def long_cells(notebooks: list[Path], limit: int = MAX_CELL_LINES) -> list[str]:
    out = []
    for path in notebooks:
        for i, _, source in _cells(path):
            n = len(source.splitlines())
            if n > limit:
                first = next((ln for ln in source.splitlines() if ln.strip()), "")
                out.append(f"{path.name} cell {i}: {n} lines ({first.strip()[:60]!r})")
    return out


def unclean_cells(notebooks: list[Path]) -> list[str]:
    return [f"{path.name} cell {i}: {'outputs' if cell.get('outputs') else 'an execution count'}"
            for path in notebooks for i, cell, _ in _cells(path)
            if cell.get("outputs") or cell.get("execution_count") is not None]


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


# ---------------------------------------------------------------- the house


def test_models_import_nothing_from_the_layers_above():
    found = layer_violations(import_graph())
    assert not found, (f"{len(found)} imports from spikelib.alpha/lif into the layers above "
                       f"({', '.join(ABOVE_THE_MODELS)}):\n" + "\n".join(found))


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles among spikelib modules:\n" + "\n".join(found)


def test_no_source_file_over_600_lines():
    found = long_files()
    assert not found, f"split these into modules of at most {MAX_LINES} lines:\n" + "\n".join(found)


def test_notebook_code_cells_are_short():
    assert NOTEBOOKS
    found = long_cells(NOTEBOOKS)
    assert not found, (f"code cells over {MAX_CELL_LINES} lines (move the logic into spikelib):\n"
                       + "\n".join(found))


def test_notebooks_stored_without_outputs():
    found = unclean_cells(NOTEBOOKS)
    assert not found, "clear outputs and execution counts before committing:\n" + "\n".join(found)


# ---------------------------------------------------------------- the guard itself, on a toy package


def _toy(tmp_path: Path, files: dict[str, str]) -> dict[str, list[Edge]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(tmp_path, "spikelib")


def test_graph_counts_lazy_and_relative_imports_but_not_type_checking(tmp_path):
    graph = _toy(tmp_path, {
        "spikelib/__init__.py": "",
        "spikelib/results.py": "",
        "spikelib/sweep_summary.py": "",
        "spikelib/alpha/__init__.py": "from .functional import spike_times\n",
        "spikelib/alpha/functional.py": (
            "from __future__ import annotations\nfrom typing import TYPE_CHECKING\nimport numpy\n"
            "if TYPE_CHECKING:\n    from spikelib import results\nelse:\n    from spikelib import sweep_summary\n"
            "def f():\n    from .. import results\n    import spikelib.alpha.modules as m\n"
        ),
        "spikelib/alpha/modules.py": "from spikelib.alpha import functional\nfrom . import spike_times\n",
    })
    got = {(e.source, e.target, e.line) for edges in graph.values() for e in edges}
    assert got == {
        ("spikelib.alpha", "spikelib.alpha.functional", 1),
        ("spikelib.alpha.functional", "spikelib.sweep_summary", 7),  # the else branch runs
        ("spikelib.alpha.functional", "spikelib.results", 9),  # inside a function, relative
        ("spikelib.alpha.functional", "spikelib.alpha.modules", 10),
        ("spikelib.alpha.modules", "spikelib.alpha.functional", 1),  # a submodule, not the package
        ("spikelib.alpha.modules", "spikelib.alpha", 2),  # a name from the package's __init__
    }
    violations = layer_violations(graph, root=tmp_path)
    assert violations == [
        "spikelib/alpha/functional.py:7: spikelib.alpha.functional imports spikelib.sweep_summary",
        "spikelib/alpha/functional.py:9: spikelib.alpha.functional imports spikelib.results",
    ]
    (cycle,) = cycles(graph, root=tmp_path)
    assert cycle.startswith("spikelib.alpha -> spikelib.alpha.functional (spikelib/alpha/__init__.py:1) -> "
                            "spikelib.alpha.modules (spikelib/alpha/functional.py:10) -> spikelib.alpha "
                            "(spikelib/alpha/modules.py:2)")


def test_layers_followed_through_helper_modules(tmp_path):
    graph = _toy(tmp_path, {
        "spikelib/__init__.py": "",
        "spikelib/encoding.py": "def f():\n    from spikelib.data import load_mnist\n",
        "spikelib/data.py": "from spikelib import data_fetch\n",
        "spikelib/data_fetch.py": "",
        "spikelib/lif/__init__.py": "",
        "spikelib/lif/roy.py": "import math\n\nfrom spikelib import encoding\n",
    })
    assert layer_violations(graph, root=tmp_path) == [
        "spikelib/lif/roy.py:3: spikelib.lif.roy imports spikelib.data via spikelib.encoding "
        "(spikelib/lif/roy.py:3) -> spikelib.data (spikelib/encoding.py:2)"
    ]
    assert cycles(graph, root=tmp_path) == []


def test_long_files_and_cells_are_listed(tmp_path):
    (tmp_path / "spikelib").mkdir()
    (tmp_path / "spikelib" / "big.c").write_text("x\n" * 601)
    (tmp_path / "spikelib" / "ok.py").write_text("x\n" * 600)
    assert long_files(tmp_path) == ["spikelib/big.c: 601 lines"]
    nb = tmp_path / "n.ipynb"
    cells = [{"cell_type": "code", "source": ["a\n"] * 31, "outputs": [], "execution_count": None},
             {"cell_type": "code", "source": "b\n" * 30, "outputs": [{}], "execution_count": 3},
             {"cell_type": "markdown", "source": "m\n" * 99}]
    nb.write_text(json.dumps({"cells": cells}))
    assert long_cells([nb]) == ["n.ipynb cell 0: 31 lines ('a')"]
    assert unclean_cells([nb]) == ["n.ipynb cell 1: outputs"]


@pytest.mark.parametrize("module, root, parts, inside", [
    ("spikelib.sweep_configs", "spikelib.sweep", True, True),
    ("spikelib.sweep_configs", "spikelib.sweep", False, False),
    ("spikelib.experiments.roy", "spikelib.experiments", False, True),
    ("spikelib.datasets", "spikelib.data", True, False),
    ("spikelib.lif.audiocoder", "spikelib.audio", True, False),
])
def test_in_module(module, root, parts, inside):
    assert in_module(module, root, parts=parts) == inside
