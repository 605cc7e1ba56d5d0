"""The layer contract, checked on every ``import`` statement of the package: at module level,
inside functions and under ``TYPE_CHECKING`` alike (the contract itself is pyproject.toml's
``[tool.importlinter]``, which CI also runs through import-linter)."""

from __future__ import annotations

import ast
import shutil
import tomllib
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "twin"


def layers() -> list[list[str]]:
    """The contract's layers, top first, each a list of sibling parts (``twin.x`` -> ``x``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[m.strip().removeprefix("twin.") for m in layer.split("|")]
            for layer in contract["layers"]]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    """Every module ``path`` imports (absolute names), with its line: all ``import`` and
    ``from ... import`` statements anywhere in the file."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:  # from . import x: each x may be a module
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((target, node.lineno))
    return found


def part(module: str) -> str | None:
    """The part of twin a module belongs to (``twin.engine.flow`` -> ``engine``)."""
    pieces = module.split(".")
    if pieces[0] != "twin":
        return None
    return pieces[1] if len(pieces) > 1 else "twin"


def part_graph(root: Path = ROOT) -> tuple[nx.DiGraph, dict[tuple[str, str], list[str]]]:
    """The parts of twin (under ``root``) as a graph, an edge where one imports the other, with
    where each import is written."""
    graph: nx.DiGraph = nx.DiGraph()
    where: dict[tuple[str, str], list[str]] = {}
    for path in (root / "twin").rglob("*.py"):
        source = part(module_name(path, root))
        assert source is not None
        graph.add_node(source)
        for target, line in imports(path, root):
            into = part(target)
            if into is None or into == source:
                continue
            graph.add_edge(source, into)
            where.setdefault((source, into), []).append(f"{path.relative_to(root)}:{line}")
    return graph, where


def test_every_part_of_twin_is_in_a_layer() -> None:
    graph, _ = part_graph()
    placed = {p for layer in layers() for p in layer}
    assert set(graph) - {"twin"} <= placed, set(graph) - placed


def test_no_import_goes_up_or_across_independent_parts() -> None:
    graph, where = part_graph()
    rank = {p: (i, tuple(layer)) for i, layer in enumerate(layers()) for p in layer}
    wrong = []
    for source, into in graph.edges:
        if source == "twin":
            continue  # the package's facade, above every layer, imports lazily by name
        if into == "twin":
            wrong.append(((source, into), where[source, into]))
            continue
        (high, _), (low, siblings) = rank[source], rank[into]
        if low < high or (low == high and into in siblings):  # upward, or to a sibling
            wrong.append(((source, into), where[source, into]))
    assert not wrong, wrong


def test_no_cycle_between_parts() -> None:
    graph, where = part_graph()
    graph.remove_node("twin")
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, [(c, [where[a, b] for a, b in zip(c, c[1:] + c[:1], strict=True)]) for c in cycles]


def test_imports_inside_functions_are_counted(tmp_path: Path) -> None:
    """The walk sees imports written inside a function and under ``TYPE_CHECKING``, relative
    ones too (a copy of the package with three upward imports added)."""
    shutil.copytree(PACKAGE, tmp_path / "twin", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "twin" / "engine" / "probe.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from twin.study import runner\n"
        "def f():\n    from twin.cli import main\n    from ..report import save\n")
    graph, where = part_graph(tmp_path)
    assert where["engine", "study"] == ["twin/engine/probe.py:3"]
    assert where["engine", "cli"] == ["twin/engine/probe.py:5"]
    assert where["engine", "report"] == ["twin/engine/probe.py:6"]
