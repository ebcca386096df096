#!/usr/bin/env python3
"""Mutation testing for psfleet's safety-critical modules: a small, self-contained AST mutator.

Each mutant changes one thing in one file (a comparison flipped, a boundary moved by one, a
boolean negated, a constant changed, a call statement such as ``flush()`` or ``fsync()``
deleted, a return value swapped), then the module's unit tests run (``pytest -x``) against
it. A mutant is *killed* when the tests fail (or hang past the time limit), *survived* when
they pass. Survivors are printed with their file, line and change: each one is either a
missing test or an equivalent mutant (docs/testing.md records which).

The shared working tree is never touched: mutants are written into a temporary git worktree
of HEAD (``--tree`` to use another checkout), with ``PYTHONPATH`` pointing at it.

    python3 scripts/mutation.py --module remediate --sample 60 --seed 1 --json /tmp/m.json
    python3 scripts/mutation.py --module all --list          # count the mutants only
    python3 scripts/mutation.py --recheck /tmp/m.json        # re-run earlier survivors

Not part of CI's test command (it runs the unit tests once per mutant); see README.md
(Development) and docs/testing.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: module -> (source files or folders, unit tests that guard them)
MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # the verdict logic moved into the baseline engine (issue 17): mutated with checks/
    "checks": (
        ("toolkit/checks", "toolkit/baselines/engine.py"),
        ("tests/unit/checks", "tests/unit/baselines"),
    ),
    "remediate": (("toolkit/remediate",), ("tests/unit/remediate",)),
    "inventory": (("toolkit/inventory",), ("tests/unit/inventory",)),
    "classify": (
        ("toolkit/transport/classify.py",),
        (
            "tests/unit/transport/test_classify_table.py",
            "tests/unit/transport/test_classify_kerberos.py",
            "tests/unit/transport/test_classify_sent.py",
        ),
    ),
    "fanout": (("toolkit/fanout",), ("tests/unit/fanout",)),
}

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
}
#: Calls whose deletion changes nothing a test can see (logging).
_QUIET_CALLS = {"debug", "info", "warning", "log", "exception"}


@dataclass(frozen=True)
class Mutant:
    module: str
    file: str
    index: int  # position of the node in ast.walk order
    line: int
    op: str
    description: str

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}:{self.index}:{self.op}"


def _skip_ids(tree: ast.AST) -> set[int]:
    """Nodes not worth mutating: docstrings, annotations, TYPE_CHECKING blocks, asserts."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:  # lru_cache sizes, dataclass flags
                mark(decorator)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for a in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                mark(a.annotation)
            for a in (node.args.vararg, node.args.kwarg):
                if a is not None:
                    mark(a.annotation)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.Assert):
            mark(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            mark(node)
        if isinstance(node, ast.JoinedStr):  # message texts: too many, mostly cosmetic
            mark(node)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _QUIET_CALLS
            and ast.unparse(node.func.value) in ("log", "logger", "logging")
        ):
            mark(node)  # logging arguments (exc_info=...) change nothing a user sees
    return skip


def _mutations(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(operator name, description) for each mutation of ``node``."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = type(node.ops[0])
        if op in _CMP_SWAP:
            yield "cmp", f"{op.__name__} -> {_CMP_SWAP[op].__name__}"
    elif isinstance(node, ast.BoolOp):
        yield "boolop", "and -> or" if isinstance(node.op, ast.And) else "or -> and"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not", "drop 'not'"
    elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_SWAP:
        yield "binop", f"{type(node.op).__name__} -> {_BIN_SWAP[type(node.op)].__name__}"
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield "bool", f"{value} -> {not value}"
        elif isinstance(value, int):
            yield "int+1", f"{value} -> {value + 1}"
            if value != 0:
                yield "int-1", f"{value} -> {value - 1}"
        elif isinstance(value, float):
            yield "float", f"{value} -> {value * 2 + 1}"
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in _QUIET_CALLS:
            yield "delete", f"delete call {ast.unparse(func)}(...)"
    elif isinstance(node, ast.Return) and node.value is not None:
        v = node.value
        if isinstance(v, ast.Constant) and isinstance(v.value, bool):
            yield "return", f"return {v.value} -> return {not v.value}"
        elif isinstance(v, ast.Constant) and v.value is None:
            pass
        else:
            yield "return", "return ... -> return None"
    elif isinstance(node, ast.If):
        yield "if", "condition negated"


def _apply(node: ast.AST, op: str) -> None:
    if op == "cmp":
        assert isinstance(node, ast.Compare)
        node.ops = [_CMP_SWAP[type(node.ops[0])]()]
    elif op == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif op == "binop":
        assert isinstance(node, ast.BinOp)
        node.op = _BIN_SWAP[type(node.op)]()
    elif op == "bool":
        assert isinstance(node, ast.Constant)
        node.value = not node.value
    elif op == "int+1":
        assert isinstance(node, ast.Constant)
        node.value = node.value + 1
    elif op == "int-1":
        assert isinstance(node, ast.Constant)
        node.value = node.value - 1
    elif op == "float":
        assert isinstance(node, ast.Constant)
        node.value = node.value * 2 + 1
    else:
        raise ValueError(op)


def _mutated_source(source: str, index: int, op: str) -> str:
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    target = nodes[index]
    if op == "not":
        # replace the UnaryOp by its operand in its parent
        _replace_child(tree, target, target.operand)  # type: ignore[attr-defined]
    elif op == "delete":
        _replace_child(tree, target, ast.Pass())
    elif op == "return":
        assert isinstance(target, ast.Return)
        v = target.value
        if isinstance(v, ast.Constant) and isinstance(v.value, bool):
            target.value = ast.Constant(not v.value)
        else:
            target.value = ast.Constant(None)
    elif op == "if":
        assert isinstance(target, ast.If)
        target.test = ast.UnaryOp(ast.Not(), target.test)
    else:
        _apply(target, op)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _replace_child(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return
    raise LookupError("node not found")


def _files(paths: tuple[str, ...], root: Path) -> list[str]:
    out: list[str] = []
    for p in paths:
        full = root / p
        if full.is_dir():
            out += sorted(str(f.relative_to(root)) for f in full.rglob("*.py"))
        elif full.exists():
            out.append(p)
    return out


def mutants_of(module: str, root: Path = REPO) -> list[Mutant]:
    """The mutants of ``module`` as its files are in ``root`` (the tree that gets mutated:
    node indexes are only valid for that exact text)."""
    out: list[Mutant] = []
    for rel in _files(MODULES[module][0], root):
        tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        skip = _skip_ids(tree)
        for index, node in enumerate(ast.walk(tree)):
            if id(node) in skip:
                continue
            for op, desc in _mutations(node):
                out.append(Mutant(module, rel, index, getattr(node, "lineno", 0), op, desc))
    return out


def _run_tests(tree: Path, tests: tuple[str, ...], limit: float) -> tuple[str, float]:
    """("passed" | "failed" | "timeout", seconds)."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1", PSFLEET_NO_PROGRESS="1")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--timeout",
        str(int(limit)),
        *[t for t in tests if (tree / t).exists()],
    ]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, timeout=limit, check=False)
        outcome = "passed" if proc.returncode == 0 else "failed"
        if proc.returncode != 0 and b"Timeout" in proc.stdout[-3000:]:
            outcome = "timeout"
    except subprocess.TimeoutExpired:
        outcome = "timeout"  # a hang counts as killed, but is reported apart
    return outcome, time.monotonic() - start


def make_tree(base: Path | None, prefix: str = "psfleet-mut-") -> tuple[Path, bool]:
    """``base``, or a new detached worktree of HEAD (and True: the caller drops it after)."""
    if base is not None:
        return base, False
    path = Path(tempfile.mkdtemp(prefix=prefix)) / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), "HEAD"], check=True
    )
    return path, True


def drop_tree(path: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)
    shutil.rmtree(path.parent, ignore_errors=True)


def _clear_pycache(tree: Path) -> None:
    for cache in (tree / "toolkit").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def run_module(
    module: str, tree: Path, *, sample: int | None, seed: int, limit: float, budget: float | None
) -> dict[str, object]:
    tests = MODULES[module][1]
    everything = mutants_of(module, tree)
    chosen = list(everything)
    if sample is not None and sample < len(chosen):
        # kept in random order: a --budget that runs out must not leave whole files unsampled
        chosen = random.Random(seed).sample(chosen, sample)
    _clear_pycache(tree)
    outcome, baseline = _run_tests(tree, tests, limit=600)
    if outcome != "passed":  # once more: a timing test may lose a race on a loaded machine
        outcome, baseline = _run_tests(tree, tests, limit=600)
    if outcome != "passed":
        raise SystemExit(f"{module}: the unit tests fail without any mutant; fix them first")
    # generous: on a loaded machine a slow run must not pass for a killed mutant
    per_mutant = max(120.0, baseline * 5) if limit <= 0 else limit
    print(
        f"[{module}] {len(everything)} mutants, running {len(chosen)}; baseline {baseline:.1f}s", flush=True
    )
    killed: list[Mutant] = []
    survived: list[Mutant] = []
    timeouts: list[Mutant] = []
    skipped = 0
    started = time.monotonic()
    for n, m in enumerate(chosen, 1):
        if budget is not None and time.monotonic() - started > budget:
            skipped = len(chosen) - len(killed) - len(survived)
            print(f"[{module}] time budget spent: {skipped} mutants not run", flush=True)
            break
        path = tree / m.file
        original = path.read_text(encoding="utf-8")
        try:
            path.write_text(_mutated_source(original, m.index, m.op), encoding="utf-8")
            outcome, took = _run_tests(tree, tests, per_mutant)
        finally:
            path.write_text(original, encoding="utf-8")
        (survived if outcome == "passed" else killed).append(m)
        if outcome == "timeout":
            timeouts.append(m)
        status = {"passed": "SURVIVED", "failed": "killed", "timeout": "timeout"}[outcome]
        print(
            f"[{module}] {n}/{len(chosen)} {status:8} {m.file}:{m.line} {m.description} ({took:.1f}s)",
            flush=True,
        )
    ran = len(killed) + len(survived)
    score = 100.0 * len(killed) / ran if ran else 0.0
    return {
        "module": module,
        "mutants_total": len(everything),
        "ran": ran,
        "not_run": skipped,
        "killed": len(killed),
        "timeouts": [asdict(m) for m in timeouts],
        "survived": [asdict(m) for m in survived],
        "score": round(score, 1),
        "sample": sample,
        "seed": seed,
    }


def recheck(report_path: Path, tree: Path, limit: float) -> list[dict[str, object]]:
    """Run the survivors of an earlier report again (after new tests were added)."""
    data = json.loads(report_path.read_text(encoding="utf-8"))
    out = []
    for entry in data:
        module = str(entry["module"])
        tests = MODULES[module][1]
        _clear_pycache(tree)
        still: list[dict[str, object]] = []
        gone = 0
        for raw in entry["survived"]:
            m = Mutant(**raw)
            path = tree / m.file
            original = path.read_text(encoding="utf-8")
            current = mutants_of(module, tree)
            if not any(c.key == m.key for c in current):
                print(f"[{module}] gone (source changed): {m.file}:{m.line} {m.description}")
                gone += 1  # not run again: left out of the score, neither killed nor survived
                continue
            try:
                path.write_text(_mutated_source(original, m.index, m.op), encoding="utf-8")
                outcome, _ = _run_tests(tree, tests, limit)
            finally:
                path.write_text(original, encoding="utf-8")
            passed = outcome == "passed"
            print(f"[{module}] {'SURVIVED' if passed else outcome:8} {m.file}:{m.line} {m.description}")
            if passed:
                still.append(raw)
        killed = int(entry["killed"]) + len(entry["survived"]) - len(still) - gone
        ran = int(entry["ran"]) - gone
        out.append(
            {
                **entry,
                "ran": ran,
                "killed": killed,
                "survived": still,
                "score": round(100.0 * killed / ran, 1) if ran else 0.0,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default="all", help=f"one of {', '.join(MODULES)} or all")
    parser.add_argument("--sample", type=int, help="run this many mutants per module (random, --seed)")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--limit", type=float, default=0, help="seconds per mutant (default 3x baseline)")
    parser.add_argument("--budget", type=float, help="seconds per module, then stop (the rest: not run)")
    parser.add_argument("--tree", type=Path, help="a checkout to mutate (default: a new worktree of HEAD)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--list", action="store_true", help="only count the mutants per module")
    parser.add_argument(
        "--files", nargs="+", help="mutate only these files (paths from the repository root) of --module"
    )
    parser.add_argument("--tests", nargs="+", help="run these test paths instead of the module's own")
    parser.add_argument("--recheck", type=Path, help="re-run the survivors of an earlier --json report")
    args = parser.parse_args(argv)
    modules = list(MODULES) if args.module == "all" else [args.module]
    if args.files or args.tests:
        if len(modules) != 1:
            parser.error("--files and --tests need one --module")
        sources, tests = MODULES[modules[0]]
        MODULES[modules[0]] = (tuple(args.files or sources), tuple(args.tests or tests))
    for name in modules:
        if name not in MODULES:
            parser.error(f"unknown module {name!r}")
    if args.list:
        for name in modules:
            print(f"{name}: {len(mutants_of(name))} mutants")
        return 0
    tree, made = make_tree(args.tree)
    try:
        if args.recheck:
            reports = recheck(args.recheck, tree, args.limit or 300)
        else:
            reports = [
                run_module(
                    name, tree, sample=args.sample, seed=args.seed, limit=args.limit, budget=args.budget
                )
                for name in modules
            ]
    finally:
        if made:
            drop_tree(tree)
    print()
    print(f"{'module':10} {'mutants':>8} {'ran':>5} {'killed':>7} {'timeout':>8} {'score':>7}")
    for r in reports:
        hung = len(r.get("timeouts", ()))  # type: ignore[arg-type]
        print(
            f"{r['module']:10} {r['mutants_total']:>8} {r['ran']:>5} {r['killed']:>7} {hung:>8} {r['score']:>6}%"
        )
    for r in reports:
        for s in r["survived"]:  # type: ignore[attr-defined]
            print(f"survivor [{r['module']}] {s['file']}:{s['line']} {s['op']}: {s['description']}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
