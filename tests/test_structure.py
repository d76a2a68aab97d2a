"""Issue 16 acceptance 7, checked by reading the code (with `ast`, module-level imports only):

- no import cycle among activate's modules (lazy imports inside functions are how heavy drivers and optional
  layers load; `if TYPE_CHECKING:` blocks are for types only, so neither counts);
- the writer toolkit (`activate.http`) imports nothing from `activate.destinations`;
- no module over 500 lines in `activate/engine`, `activate/state`, `activate/diff`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import activate

PACKAGE = Path(activate.__file__).parent
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """activate modules `path` imports when it is imported (module level, outside TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    nodes: list[ast.stmt] = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and not _is_type_checking(node):
            nodes += node.body + node.orelse
        elif isinstance(node, ast.Try):
            nodes += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import submodule` imports the submodule; `from module import name` the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    resolved = set()
    for target in found:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if not target or target == name:
            continue
        resolved.add(target)
        # importing a submodule from outside its package runs the package's __init__ first (from inside, the
        # package is already loading, so a sibling import adds no edge to it)
        ancestor = target.rpartition(".")[0]
        while ancestor and ancestor != "activate":
            if not (name == ancestor or name.startswith(ancestor + ".")):
                resolved.add(ancestor)
            ancestor = ancestor.rpartition(".")[0]
    return resolved


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def test_no_import_cycle_among_activate_modules() -> None:
    assert _cycles(_graph()) == []


def test_the_toolkit_imports_nothing_from_destinations() -> None:
    graph = _graph()
    offenders = {
        name: sorted(t for t in targets if t.startswith("activate.destinations"))
        for name, targets in graph.items()
        if name.startswith("activate.http")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_modules_stay_under_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for folder in ("engine", "state", "diff")
        for path in (PACKAGE / folder).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_graph_sees_the_imports_it_checks() -> None:
    """The walker is not vacuous: it finds a known edge and a known lazy import stays out."""
    graph = _graph()
    assert "activate.rows" in graph["activate.state.changes"]
    assert "activate.sources.snowflake" not in graph["activate.sources.readers"]  # imported lazily
