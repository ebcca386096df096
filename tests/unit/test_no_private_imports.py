"""Private modules and attributes of dependencies only inside toolkit/compat/, and each
dependency compat reaches into has an upper version bound in pyproject.toml.

The scan reads toolkit/ with ast. Outside toolkit/compat/ it refuses:

- an import of a dependency's underscore module (``from spnego._gss import ...``) or of an
  underscore name (``from psrpcore.types import _x``);
- a string naming a dependency's underscore module (a logger name such as ``spnego._ntlm``);
- a keyword argument starting with an underscore (``spnego.server(_gssapi_credential=...)``);
- an underscore attribute (``pool._receive_buffer``, ``self._cipher`` in a subclass) that
  toolkit's own code outside compat never defines;
- a method of a subclass of a dependency's class that overrides the base's underscore method.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

import toolkit

ROOT = Path(toolkit.__file__).parent
PYPROJECT = ROOT.parent / "pyproject.toml"
_NOT_DEPENDENCIES = set(sys.stdlib_module_names) | {"toolkit", "__future__"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dependency(module: str) -> bool:
    return bool(module) and module.split(".")[0] not in _NOT_DEPENDENCIES


def _private_module(module: str) -> bool:
    return _dependency(module) and any(_private(part) for part in module.split(".")[1:])


def _sources(root: Path, *, compat: bool) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        if (root / "compat" in path.parents) == compat:
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _own_names(root: Path) -> set[str]:
    """Underscore names toolkit's own code (outside compat) defines: functions, classes,
    class-body and module-level assignments, ``self._x``/``cls._x`` stores, import aliases."""
    names: set[str] = set()
    for _, tree in _sources(root, compat=False):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[-1])
    return {n for n in names if _private(n)}


def _imported(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted dependency path it was imported as."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _dependency(alias.name):
                    # "import a.b" binds "a"; "import a.b as c" binds "c" to a.b.
                    bound[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _dependency(node.module or ""):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _resolve(node: ast.expr, bound: dict[str, str]) -> Any:
    """The dependency object a base-class expression names, or None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    dotted = bound[node.id].split(".") + parts
    for cut in range(len(dotted), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(dotted[:cut]))
        except ImportError:
            continue
        for attr in dotted[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _standard_library(value: ast.expr, tree: ast.Module) -> bool:
    """``os._exit``: an attribute of a standard-library module the file imports by name (not a
    dependency: nothing to bound in pyproject, and such names are documented API)."""
    if not isinstance(value, ast.Name) or value.id not in sys.stdlib_module_names:
        return False
    return any(
        isinstance(node, ast.Import) and any(a.name == value.id and a.asname is None for a in node.names)
        for node in ast.walk(tree)
    )


def private_uses(root: Path) -> list[str]:
    """Every private use of a dependency in ``root`` outside ``root/compat``, as
    ``path:line: what``."""
    own = _own_names(root)
    sources = list(_sources(root, compat=False))
    tops = {v.split(".")[0] for _, tree in sources for v in _imported(tree).values()}
    module_string = (
        re.compile(rf"^({'|'.join(map(re.escape, sorted(tops)))})(\.\w+)*\._\w+") if tops else None
    )
    found: list[str] = []
    for path, tree in sources:
        rel = path.relative_to(root.parent)
        bound = _imported(tree)
        for node in ast.walk(tree):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                found += [f"{rel}:{line}: import {a.name}" for a in node.names if _private_module(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and _dependency(node.module or ""):
                module = node.module or ""
                if _private_module(module):
                    found.append(f"{rel}:{line}: from {module} import ...")
                found += [
                    f"{rel}:{line}: from {module} import {a.name}" for a in node.names if _private(a.name)
                ]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and module_string:
                if module_string.match(node.value):
                    found.append(f"{rel}:{line}: names the private module {node.value!r}")
            elif isinstance(node, ast.keyword) and node.arg and _private(node.arg):
                found.append(f"{rel}:{line}: private keyword {node.arg}=")
            elif (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and node.attr not in own
                and not _standard_library(node.value, tree)
            ):
                found.append(f"{rel}:{line}: private attribute .{node.attr}")
            elif isinstance(node, ast.ClassDef):
                bases = [b for b in (_resolve(e, bound) for e in node.bases) if isinstance(b, type)]
                for item in node.body:
                    overrides = isinstance(item, ast.FunctionDef) and _private(item.name)
                    if overrides and any(hasattr(base, item.name) for base in bases):
                        found.append(
                            f"{rel}:{item.lineno}: overrides {node.name}.{item.name} of a dependency"
                        )
    return found


def test_no_private_dependency_piece_outside_compat() -> None:
    assert private_uses(ROOT) == []


def test_the_scan_finds_each_kind_of_private_use(tmp_path: Path) -> None:
    (tmp_path / "compat").mkdir()
    (tmp_path / "compat" / "ok.py").write_text("from spnego._gss import GSSAPIProxy\n")
    (tmp_path / "own.py").write_text(
        "class Own:\n    def __init__(self):\n        self._mine = 1\n    def _helper(self):\n        return self._mine\n"
    )
    (tmp_path / "names.py").write_text("LOGGERS = ('spnego._gss',)\n")  # no import of spnego here
    (tmp_path / "stdlib.py").write_text("import os\nos._exit(0)\n")  # the standard library's API
    (tmp_path / "bad.py").write_text(
        "import psrpcore\n"
        "import spnego\n"
        "from spnego._context import GSSMech\n"
        "import psrpcore._payload\n"
        "from psrpcore.types import _private_thing\n"
        "LOGGERS = ('spnego', 'spnego._ntlm')\n"
        "spnego.server(_negotiate_contexts={})\n"
        "def f(pool):\n    pool._receive_buffer = bytearray()\n    return pool._mine\n"
        "class Pool(psrpcore.ServerRunspacePool):\n"
        "    def _process_message(self, message):\n        return self._cipher\n"
    )
    found = private_uses(tmp_path)
    text = "\n".join(found)
    for expected in (
        "bad.py:3: from spnego._context import ...",
        "bad.py:4: import psrpcore._payload",
        "bad.py:5: from psrpcore.types import _private_thing",
        "bad.py:6: names the private module 'spnego._ntlm'",
        "bad.py:7: private keyword _negotiate_contexts=",
        "bad.py:9: private attribute ._receive_buffer",
        "bad.py:12: overrides Pool._process_message of a dependency",
        "bad.py:13: private attribute ._cipher",
        "names.py:1: names the private module 'spnego._gss'",
    ):
        assert expected in text, text
    assert "stdlib.py" not in text
    assert "compat" not in text and "own.py" not in text and "._mine" not in text
    assert len(found) == 9, text


def _compat_dependencies() -> dict[str, str]:
    """Import name -> compat module, for every dependency a compat module reaches into: the
    ones it imports private modules or names of, and the one the module is named after."""
    deps: dict[str, str] = {}
    for path, tree in _sources(ROOT, compat=True):
        tops = {v.split(".")[0] for v in _imported(tree).values()}
        stem = path.stem.split("_")[0]
        if stem in tops:
            deps[stem] = path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _dependency(node.module or ""):
                module = node.module or ""
                if _private_module(module) or any(_private(a.name) for a in node.names):
                    deps[module.split(".")[0]] = path.name
            elif isinstance(node, ast.Import):
                deps.update({a.name.split(".")[0]: path.name for a in node.names if _private_module(a.name)})
    return deps


def test_every_dependency_compat_reaches_into_has_an_upper_bound() -> None:
    deps = _compat_dependencies()
    assert {"spnego", "psrpcore", "pypsrp"} <= set(deps), deps
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = {}
    for text in project["dependencies"]:
        req = Requirement(text)
        requirements[req.name.lower().replace("_", "-")] = req
    distributions = importlib.metadata.packages_distributions()
    unbounded = []
    for module, compat_file in sorted(deps.items()):
        for dist in distributions.get(module, [module]):
            req = requirements.get(dist.lower().replace("_", "-"))
            bounded = req is not None and any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier)
            if not bounded:
                unbounded.append(f"{dist} (used privately by toolkit/compat/{compat_file}): {req}")
    assert unbounded == []
