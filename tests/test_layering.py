"""Dependencies inside cnnstat point one way (issue 16; docs/architecture.md, "Layers").

Every ``import`` in the package is read from the source (the AST: module-level and function-level
imports, relative ones resolved; ``if TYPE_CHECKING:`` imports are annotations, never run, and are
left out). ``from P import name`` is an edge to the submodule ``P.name`` where there is one, else
to ``P`` itself (a package's ``__init__``). Importing ``P.m`` also runs ``P/__init__.py``; that
implicit edge is not counted: a package's ``__init__`` is a module like any other, with its own
imports, and the ones here import nothing of their package's submodules but what they re-export.

Two rules:
1. no import cycle between modules (the failure names the chain, with file and line per step);
2. each module belongs to a layer and imports only from its own layer or lower ones (the
   failure names the import and both layers). A module nobody has placed fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cnnstat"

#: The layers, lowest first; a module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, list[str]]] = [
    # what everything may use: errors, limits, files, the cache, "did you mean", the layer graph,
    # the counting convention, escaping for each output, reference data, the results' seam to
    # their presentation
    ("foundation", ["cnnstat.errors", "cnnstat.limits", "cnnstat.fileio", "cnnstat.cache",
                    "cnnstat.suggest", "cnnstat.graph",
                    "cnnstat.render.escape", "cnnstat.render.numbers", "cnnstat.data",
                    "cnnstat.presenting", "cnnstat.version", "cnnstat.model_options"]),
    # the pure per-operator rules (and the vocabulary of their memory rules)
    ("ops", ["cnnstat.ops", "cnnstat.memory.saved", "cnnstat.convention"]),
    # definitions and existing models -> layer graph
    ("definition", ["cnnstat.definition", "cnnstat.zoo", "cnnstat.importers", "cnnstat.models",
                    "cnnstat.catalog"]),
    # layer graph -> records, totals, fields, memory, device models; torch runs (check, bench)
    ("analysis", ["cnnstat.analyze", "cnnstat.receptive", "cnnstat.input_sizes",
                  "cnnstat.unit_field", "cnnstat.memory", "cnnstat.roofline.model",
                  "cnnstat.roofline.profiles", "cnnstat.roofline", "cnnstat.torch_bridge",
                  "cnnstat.timing"]),
    # records -> tables, documents, figures, pages, notebook display
    ("presentation", ["cnnstat.render", "cnnstat.report", "cnnstat.plots", "cnnstat.view",
                      "cnnstat.display", "cnnstat.papers", "cnnstat.roofline.render",
                      "cnnstat.timing.report", "cnnstat.survey"]),
    # the command line and the package's public functions (cnnstat/__init__.py)
    ("interface", ["cnnstat.cli", "cnnstat.__main__", "cnnstat"]),
]


def layer_of(module: str) -> tuple[int, str] | None:
    best: tuple[int, int, str] | None = None
    for rank, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # the package's own __init__ (its interface) is placed by its exact name only
            if module == prefix or (prefix != PACKAGE and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), rank, name)
    return None if best is None else (best[1], best[2])


def _modules(root: Path, package: str) -> dict[str, tuple[str, bool, str]]:
    """module name -> (source, is a package, path shown in messages)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path.read_text(encoding="utf-8"), is_pkg,
                                str(path.relative_to(root)))
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines of imports under ``if TYPE_CHECKING:`` (annotations only, never executed)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        lines.add(sub.lineno)
    return lines


def _defined_names(source: str) -> set[str]:
    """Names a package's ``__init__`` binds itself at the top (functions, classes, assignments)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def import_edges(modules: dict[str, tuple[str, bool, str]], package: str
                 ) -> dict[str, list[tuple[str, int]]]:
    """module -> [(imported module of the package, line)], self-imports left out."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    defined = {m: _defined_names(src) for m, (src, is_pkg, _) in modules.items() if is_pkg}
    edges: dict[str, list[tuple[str, int]]] = {}
    for module, (source, is_pkg, _) in modules.items():
        tree = ast.parse(source)
        skip = _type_checking_lines(tree)
        here = module if is_pkg else module.rpartition(".")[0]
        found: list[tuple[str, int]] = []
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        found.append((known(alias.name), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[:len(here.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not (target == package or target.startswith(package + ".")):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    # a name the package's __init__ defines itself (cnnstat.analyze, the function)
                    # is the __init__'s, even where a submodule has that name too
                    own = alias.name in defined.get(target, ())
                    found.append((sub if sub in modules and not own else known(target),
                                  node.lineno))
        edges[module] = sorted({(t, line) for t, line in found if t and t != module},
                               key=lambda e: (e[1], e[0]))
    return edges


def find_cycle(edges: dict[str, list[tuple[str, int]]]) -> list[tuple[str, int]] | None:
    """One import cycle as [(module, line of its import of the next)], or None."""
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[tuple[str, int]] = []

    def visit(module: str) -> list[tuple[str, int]] | None:
        state[module] = 1
        for target, line in edges.get(module, []):
            path.append((module, line))
            if state.get(target) == 1:
                start = next(i for i, (m, _) in enumerate(path) if m == target)
                return path[start:]
            if target not in state:
                found = visit(target)
                if found:
                    return found
            path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def describe_cycle(cycle: list[tuple[str, int]], modules) -> str:
    steps = [f"{m} ({modules[m][2]}:{line})" for m, line in cycle]
    return " -> ".join(steps + [cycle[0][0]])


def layer_violations(edges, modules) -> list[str]:
    out = []
    for module in sorted(edges):
        mine = layer_of(module)
        if mine is None:
            out.append(f"{module} ({modules[module][2]}) is in no layer: place it in LAYERS "
                       f"(tests/test_layering.py) and docs/architecture.md")
            continue
        for target, line in edges[module]:
            theirs = layer_of(target)
            if theirs is not None and theirs[0] > mine[0]:
                out.append(f"{module} (layer {mine[1]}) imports {target} (layer {theirs[1]}, "
                           f"higher) at {modules[module][2]}:{line}")
    return out


@pytest.fixture(scope="module")
def package():
    modules = _modules(ROOT, PACKAGE)
    return modules, import_edges(modules, PACKAGE)


def test_the_package_is_read(package):
    modules, edges = package
    # the reader sees the imports it must see (a guard against a reader that finds nothing)
    assert len(modules) > 100 and sum(len(v) for v in edges.values()) > 500
    assert "cnnstat.graph" in {t for t, _ in edges["cnnstat.analyze"]}
    assert "cnnstat.ops.base" in {t for t, _ in edges["cnnstat.ops.conv"]}    # relative


def test_no_import_cycle(package):
    modules, edges = package
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + describe_cycle(cycle, modules)


def test_imports_point_down_the_layers(package):
    modules, edges = package
    problems = layer_violations(edges, modules)
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


# -- the checker itself fails where it must --------------------------------------------------------
def _fake(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules = _modules(tmp_path, "pkg")
    return modules, import_edges(modules, "pkg")


def test_checker_finds_a_function_level_cycle_and_names_it(tmp_path):
    modules, edges = _fake(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def f():\n    from ..c import g\n",
        "pkg/c.py": "import os\nif True:\n    from . import a\n",
        "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n",
    })
    assert edges["pkg.d"] == []                       # annotations only: not an import
    cycle = find_cycle(edges)
    assert cycle is not None
    text = describe_cycle(cycle, modules)
    assert set(m for m, _ in cycle) == {"pkg.a", "pkg.sub.b", "pkg.c"}
    assert "pkg/sub/b.py:2" in text and "pkg/c.py:3" in text


def test_checker_without_a_cycle(tmp_path):
    _, edges = _fake(tmp_path, {"pkg/__init__.py": "from .a import x\n",
                                "pkg/a.py": "x = 1\n", "pkg/b.py": "from . import a\n"})
    assert find_cycle(edges) is None
    assert edges["pkg.b"] == [("pkg.a", 1)] and edges["pkg"] == [("pkg.a", 1)]


def test_layer_rule_names_the_upward_import():
    modules = {"cnnstat.graph": ("", False, "cnnstat/graph.py"),
               "cnnstat.render.rows": ("", False, "cnnstat/render/rows.py"),
               "cnnstat.nowhere_yet": ("", False, "cnnstat/nowhere_yet.py")}
    edges = {"cnnstat.graph": [("cnnstat.render.rows", 7)], "cnnstat.render.rows": [],
             "cnnstat.nowhere_yet": []}
    problems = layer_violations(edges, modules)
    assert problems == [
        "cnnstat.graph (layer foundation) imports cnnstat.render.rows (layer presentation, "
        "higher) at cnnstat/graph.py:7",
        "cnnstat.nowhere_yet (cnnstat/nowhere_yet.py) is in no layer: place it in LAYERS "
        "(tests/test_layering.py) and docs/architecture.md"]


# -- the seam from results to their presentation (cnnstat.presenting) ------------------------------
def test_every_presentation_a_result_asks_for_is_registered(package):
    """Results ask for their presentation by name (``shown("analysis.table", ...)``); each name
    asked for anywhere in the package is registered by cnnstat.display (which ``import cnnstat``
    imports), and each registered one is asked for."""
    import cnnstat  # noqa: F401 - registers them
    from cnnstat import presenting
    modules, _ = package
    asked = {}
    for module, (source, _, path) in modules.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "shown" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                asked.setdefault(node.args[0].value, f"{path}:{node.lineno}")
    assert len(asked) >= 15
    missing = {name: where for name, where in asked.items() if name not in presenting._PRESENTERS}
    assert not missing, f"asked for but not registered: {missing}"
    assert set(presenting._PRESENTERS) == set(asked), "registered but never asked for: " + \
        ", ".join(sorted(set(presenting._PRESENTERS) - set(asked)))


def test_a_presentation_is_registered_once():
    from cnnstat import presenting
    from cnnstat.errors import CnnstatError
    with pytest.raises(CnnstatError, match="two presentations of 'analysis.table'"):
        presenting.presents("analysis.table")(lambda a: None)
    with pytest.raises(CnnstatError, match="no presentation of 'nothing.here'"):
        presenting.shown("nothing.here")
