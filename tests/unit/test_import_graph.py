"""The package's import graph has no cycle, counting every import: TYPE_CHECKING ones and those
inside functions too (a cycle closed by a deferred import is still a knot a reader must untie)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_hpt"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (a ``from package import module`` counts)."""
    found: set[str] = set()
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules and name != this}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    return {_module_name(path): _imports(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_airflow_hpt_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "airflow_hpt.local.server" in graph  # the walk found the package
    assert cycles(graph) == []


# The rooms of the local backend, bottom first. A room's modules import only rooms of lower layers
# (and their own room); rooms of one layer are peers, unaware of each other. Only the modules at
# the top of airflow_hpt.local (server.py, which composes the fronts, and __init__.py) import any.
LOCAL = "airflow_hpt.local"
LAYERS: list[set[str]] = [
    {"http"},
    {"state"},
    {"iam"},
    {"s3"},
    {"training"},
    {"hosting", "tuning"},
    {"sagemaker", "cloudwatch", "sts"},
]
TOP_MODULES = {LOCAL, f"{LOCAL}.server"}


def _room(module: str) -> str | None:
    """The room (subpackage of airflow_hpt.local) a module belongs to; None outside the rooms."""
    parts = module.split(".")
    if parts[:2] != LOCAL.split(".") or len(parts) < 3 or module in TOP_MODULES:
        return None
    return parts[2]


def layer_violations(graph: dict[str, set[str]], layers: list[set[str]]) -> list[str]:
    """Each import from one room into a room not below it, as "importer -> imported"."""
    layer_of = {room: level for level, rooms in enumerate(layers) for room in rooms}
    found = []
    for module, imported in sorted(graph.items()):
        room = _room(module)
        if room is None:
            continue
        for target in sorted(imported):
            target_room = _room(target)
            if target in TOP_MODULES or (
                target_room not in (None, room) and layer_of[target_room] >= layer_of[room]
            ):
                found.append(f"{module} -> {target}")
    return found


def test_every_room_has_a_layer_and_only_the_top_modules_lie_outside_the_rooms() -> None:
    rooms = {path.parent.name for path in (PACKAGE / "local").glob("*/__init__.py")}
    assert rooms == set().union(*LAYERS)
    loose = {_module_name(path) for path in (PACKAGE / "local").glob("*.py")}
    assert loose == TOP_MODULES


def test_the_layer_checker_finds_an_upward_import() -> None:
    graph = {
        f"{LOCAL}.tuning.engine": {f"{LOCAL}.training.runner"},
        f"{LOCAL}.training.runner": {f"{LOCAL}.tuning.engine", f"{LOCAL}.server"},
        f"{LOCAL}.hosting.deploy": {f"{LOCAL}.tuning"},
    }
    assert layer_violations(graph, LAYERS) == [
        f"{LOCAL}.hosting.deploy -> {LOCAL}.tuning",
        f"{LOCAL}.training.runner -> {LOCAL}.server",
        f"{LOCAL}.training.runner -> {LOCAL}.tuning.engine",
    ]


def test_each_room_imports_only_rooms_below_it() -> None:
    assert layer_violations(import_graph(), LAYERS) == []
