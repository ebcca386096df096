"""The package's layers, read from the source: who may import whom (docs/architecture.md).

Every module of ``toolkit/`` is parsed with :mod:`ast`; an import counts wherever it is written
(module level or inside a function: a deferred import still ties the two modules together),
except under ``if TYPE_CHECKING:``, which never runs. ``importlib.import_module("toolkit...")``
with a literal name counts too. The rules:

- the CLI (``toolkit.cli``) is above everything: nothing outside it imports it, and the
  command-line toolkits (typer, click) are imported only there (or in a ``toolkit.compat``
  shim that only the CLI imports);
- the lab (``toolkit.lab``) stands beside the product: only the ``lab`` and ``demo`` commands
  import it;
- the foundation (errors, results, atomic, yamlsrc, config) imports only itself, and the
  renderers (``toolkit.report``) read a run's data, not the code that produced it;
- no import cycle between modules, and none between packages (``toolkit.checks`` may import
  ``toolkit.baselines`` or the other way round, never both).

A rule broken by code that its owner is changing this session is marked ``xfail(strict=True)``
with the owner's name, so the mark fails (and must go) as soon as the fix lands.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "toolkit"

#: Modules outside the lab that may import it, and why.
LAB_IMPORTERS = {
    "toolkit.cli.lab_cmd": "`psfleet lab` starts and serves the emulated fleet",
    "toolkit.cli.demo": "`psfleet demo` runs a whole audit against a lab it starts",
}

#: Third-party command-line toolkits: only the CLI may import them (a library call must not
#: pull in typer, and ``toolkit.Config`` is used by runbooks that never parse a command line).
CLI_TOOLKITS = frozenset({"typer", "click"})


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported toolkit module (the deepest one that exists)
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if "migrations" in parts:  # loaded by Alembic from their files, never imported
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _existing(name: str) -> str | None:
    """The deepest toolkit module ``name`` refers to (``toolkit.results.ErrorKind`` is
    ``toolkit.results``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping the bodies of ``if TYPE_CHECKING:`` (their ``else`` runs)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for other in node.orelse:
                yield other
                yield from _nodes(other)
            continue
        yield node
        yield from _nodes(node)


def _imported_names(module: str, node: ast.AST) -> Iterator[str]:
    """Fully qualified names an import statement (or a literal import_module call) names."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        for alias in node.names:
            # ``from toolkit.x import y``: y is a module when toolkit.x.y exists, else a name.
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
    elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "import_module" and isinstance(node.args[0].value, str):
            yield node.args[0].value


def _third_party(module: str) -> Iterator[tuple[str, int]]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in _nodes(tree):
        for name in _imported_names(module, node):
            if not name.startswith("toolkit"):
                yield name.split(".")[0], getattr(node, "lineno", 0)


def _imports(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in _nodes(tree):
        for name in _imported_names(module, node):
            if name.split(".")[0] != "toolkit":
                continue
            target = _existing(name)
            if target is not None and target != module:
                found.append(Import(module, target, getattr(node, "lineno", 0)))
    return found


IMPORTS = {module: _imports(module) for module in MODULES}


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _package_of(module: str) -> str:
    """``toolkit.checks.audit`` -> ``toolkit.checks``; top-level modules are their own."""
    return ".".join(module.split(".")[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle path (first node repeated at the end) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_path_in(component, edges) for component in components]


def _path_in(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first node (breadth-first, inside it)."""
    start = component[0]
    members = set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt in members and nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {component}")


def _describe(path: list[str]) -> str:
    steps = [path[0]]
    for source, target in itertools.pairwise(path):
        lines = sorted({i.line for i in IMPORTS.get(source, []) if i.target == target})
        steps.append(
            f"-> {target} (line {', '.join(map(str, lines))} of {source})" if lines else f"-> {target}"
        )
    return " ".join(steps)


#: Module graph for cycles. A module importing its own package (``from toolkit.cli import X`` in
#: ``toolkit.cli.app``) adds nothing: Python runs a package's ``__init__`` before any module in it.
MODULE_EDGES = {
    module: {i.target for i in found if not _inside(module, i.target)} for module, found in IMPORTS.items()
}
MODULE_CYCLES = _cycles(MODULE_EDGES)


def _knot_of(module: str) -> list[str]:
    """The modules that import ``module`` and are imported by it, directly or not."""
    return sorted(m for m in _reachable(module) if module in _reachable(m)) or [module]


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in MODULE_EDGES.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


#: Packages whose module cycles their owner removes this session (the mark must go then).
KNOWN_MODULE_CYCLES: dict[str, str] = {}


def _cycle_packages() -> list[object]:
    packages = sorted({_package_of(m) for m in MODULES if m != "toolkit"} | {"across packages"})
    params: list[object] = []
    for package in packages:
        marks = []
        if package in KNOWN_MODULE_CYCLES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_MODULE_CYCLES[package]))
        params.append(pytest.param(package, marks=marks, id=package))
    return params


def test_the_parser_sees_the_package() -> None:
    # A walk that found nothing would pass every rule below.
    assert len(MODULES) > 100
    assert Import("toolkit.cli.lab_cmd", "toolkit.lab.fleet", 0) in [
        Import(i.source, i.target, 0) for i in IMPORTS["toolkit.cli.lab_cmd"]
    ]
    assert "toolkit.results" in MODULE_EDGES["toolkit.checks.audit"]


def test_nothing_outside_the_cli_imports_it() -> None:
    upward = [
        str(i)
        for module, found in IMPORTS.items()
        if not _inside(module, "toolkit.cli")
        for i in found
        if _inside(i.target, "toolkit.cli")
    ]
    assert upward == [], "modules below the CLI import it:\n" + "\n".join(upward)


def _cli_only(module: str) -> bool:
    """``module`` is the CLI's: inside toolkit.cli, or a compat shim (a dependency's private
    parts belong in toolkit.compat) that only toolkit.cli imports."""
    if _inside(module, "toolkit.cli"):
        return True
    importers = {m for m, found in IMPORTS.items() for i in found if i.target == module}
    return (
        _inside(module, "toolkit.compat")
        and bool(importers)
        and all(_inside(m, "toolkit.cli") for m in importers)
    )


def test_command_line_toolkits_only_in_the_cli() -> None:
    found = [
        f"{module} (line {line}) imports {name}"
        for module in MODULES
        if not _cli_only(module)
        for name, line in _third_party(module)
        if name in CLI_TOOLKITS
    ]
    assert found == [], "typer/click outside toolkit.cli (and compat shims only it imports):\n" + "\n".join(
        found
    )


def test_the_lab_is_imported_only_by_the_lab_and_demo_commands() -> None:
    found = [
        str(i)
        for module, imports in IMPORTS.items()
        if not _inside(module, "toolkit.lab") and module not in LAB_IMPORTERS
        for i in imports
        if _inside(i.target, "toolkit.lab")
    ]
    assert found == [], "product modules import the lab:\n" + "\n".join(found)


#: The bottom of the package: plain data, errors, file and YAML helpers, configuration. They
#: import only each other, so anything may import them without pulling in the rest.
FOUNDATION = ("toolkit.errors", "toolkit.results", "toolkit.atomic", "toolkit.yamlsrc", "toolkit.config")

#: What renderers must not reach into: they read a run's plain data (check ids come with the
#: run), never the code that produced it.
NOT_FOR_RENDERERS = {
    "toolkit.api": "the library calls",
    "toolkit.fanout": "the fan-out",
    "toolkit.engine": "the scale-out engine",
    "toolkit.inventory.credentials": "credentials",
    "toolkit.checks.verdicts": "the checks (check ids come with the run)",
    "toolkit.checks.audit": "the audit",
    "toolkit.checks.probe": "the probe",
    "toolkit.transport.select": "sessions",
    "toolkit.transport.lean": "sessions",
    "toolkit.transport.pypsrp_session": "sessions",
    "toolkit.remediate.apply": "remediation",
    "toolkit.remediate.rollback": "rollback",
}


def test_the_foundation_imports_nothing_above_it() -> None:
    upward = [
        str(i)
        for module in FOUNDATION
        for i in IMPORTS[module]
        if not any(_inside(i.target, base) for base in FOUNDATION)
    ]
    assert upward == [], "foundation modules import upward:\n" + "\n".join(upward)


def test_renderers_read_only_plain_data() -> None:
    found = [
        f"{i} ({why})"
        for module, imports in IMPORTS.items()
        if _inside(module, "toolkit.report")
        for i in imports
        for banned, why in NOT_FOR_RENDERERS.items()
        if _inside(i.target, banned)
    ]
    assert found == [], "renderers reach past the run's data:\n" + "\n".join(found)


def test_the_allowed_lab_importers_exist_and_do_import_it() -> None:
    for module in LAB_IMPORTERS:
        assert any(_inside(i.target, "toolkit.lab") for i in IMPORTS.get(module, [])), module


@pytest.mark.parametrize("package", _cycle_packages())
def test_no_import_cycle_between_modules(package: str) -> None:
    mine = [
        path
        for path in MODULE_CYCLES
        if (
            {_package_of(m) for m in path} == {package}
            if package != "across packages"
            else len({_package_of(m) for m in path}) > 1
        )
    ]
    assert mine == [], "import cycles:\n" + "\n".join(
        f"{_describe(path)}\n  (all the modules of this knot: {', '.join(_knot_of(path[0]))})"
        for path in mine
    )


def _package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, targets in MODULE_EDGES.items():
        for target in targets:
            source, dest = _package_of(module), _package_of(target)
            if source != dest and "toolkit" not in (source, dest):
                edges.setdefault(source, set()).add(dest)
    return edges


def test_no_import_cycle_between_packages() -> None:
    cycles = _cycles(_package_edges())
    assert cycles == [], "package import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_reports_the_path() -> None:
    # The finder itself, on a graph with a known cycle and a dead end.
    edges = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set()}
    assert _cycles(edges) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_architecture_page_names_every_package() -> None:
    # docs/architecture.md's package table is the map a newcomer reads: a new package or
    # top-level module must appear there (as `name/` or `name.py`).
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)(?:/|\.py)`", table))
    tops = {
        path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for path in PACKAGE.glob("*")
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name != "__init__.py")
    }
    assert sorted(tops - named) == []
