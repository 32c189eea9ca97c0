"""No import circle among the project's own modules (`lamigo`, `lamigo_gr`).

Every module under python/ and gr-lamigo/ is parsed (not imported) and each `import` statement,
at module level or inside a function, is an edge to the project module it names: `from a.b
import c` names a.b.c where that is a module, else a.b. Importing a.b.c also runs the __init__
of a and a.b: an edge too from a module outside that package (from inside, the package is
already being imported, so a package that re-exports its submodules is no circle).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "python", ROOT / "gr-lamigo")
PACKAGES = ("lamigo", "lamigo_gr")


def _modules() -> dict[str, Path]:
    modules = {}
    for source in SOURCES:
        for package in PACKAGES:
            for path in (source / package).rglob("*.py") if (source / package).is_dir() else ():
                parts = path.relative_to(source).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a.b import c` with a.b.c a module imports a.b.c; else it takes c from a.b
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target not in modules:
                continue
            parts = target.split(".")
            found.update(ancestor for ancestor in (".".join(parts[:n]) for n in range(1, len(parts) + 1))
                         if ancestor in modules and not _inside(name, ancestor))
    return found


def _inside(name: str, package: str) -> bool:
    """Whether module `name` is `package` or lies inside it."""
    return name == package or name.startswith(package + ".")


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path whose first and last entries are the same, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_an_import_from_outside_a_package_runs_its_init(tmp_path):
    modules = {"p": tmp_path / "p.py", "p.a": tmp_path / "a.py", "q": tmp_path / "q.py"}
    modules["p"].write_text("from p.a import thing\n")
    modules["p.a"].write_text("from q import other\n")
    modules["q"].write_text("import p.a\n")
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"p": {"p.a"}, "p.a": {"q"}, "q": {"p", "p.a"}}
    assert find_cycle(graph) == ["p", "p.a", "q", "p"]


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_holds_the_known_edges():
    graph = import_graph()
    assert "lamigo.service.server" in graph and "lamigo_gr.apps.loopback" in graph
    assert "lamigo.errors" in graph["lamigo.lami.settings"]


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)
