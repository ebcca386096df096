"""``toolkit.remediate`` is the public function and the subpackage of that name; ``plan`` and
``rollback`` are functions and submodules of it. Every import form must reach the module *and*
every call must run the function, whatever was imported first: the modules are callable.
Each case runs in a fresh interpreter, because which module was imported first is the point."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = {
    "the package is callable and is the package": (
        "import toolkit, toolkit.remediate as r, toolkit.api\n"
        "assert r is toolkit.remediate and r.__name__ == 'toolkit.remediate' and callable(r)\n"
    ),
    "import a submodule with 'as'": (
        "import toolkit.remediate.journal as j, toolkit.remediate.apply as a\n"
        "assert j.__name__ == 'toolkit.remediate.journal' and a.RemediateHooks\n"
    ),
    "from-import after the submodule was loaded": (
        "import toolkit.remediate.apply\n"
        "from toolkit.remediate import plan, rollback\n"
        "assert callable(plan) and callable(rollback)\n"
        "assert rollback.default_rollback_journal is not None\n"
    ),
    "import the namesake submodule with 'as'": (
        "import toolkit.remediate.plan as p, toolkit.remediate.rollback as rb\n"
        "assert p.__name__ == 'toolkit.remediate.plan' and rb.rollback and callable(p)\n"
    ),
    "top-level names": (
        "import toolkit, toolkit.api\n"
        "assert toolkit.plan is toolkit.api.plan and toolkit.rollback is toolkit.api.rollback\n"
        "import toolkit.remediate.journal\n"
        "assert toolkit.remediate.journal.__name__ == 'toolkit.remediate.journal'\n"
    ),
    "mock.patch by dotted path": (
        "from unittest import mock\nimport toolkit.remediate.apply as a\n"
        "with mock.patch('toolkit.remediate.apply.plan') as m:\n    assert a.plan is m\n"
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_forms(name: str) -> None:
    proc = subprocess.run([sys.executable, "-c", CASES[name]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_calling_the_modules_runs_the_functions() -> None:
    # Called without arguments, each must reach its function, which names itself in the
    # TypeError (a module would say "'module' object is not callable").
    code = (
        "import toolkit, toolkit.remediate.plan, toolkit.remediate.rollback\n"
        "from toolkit.remediate import plan, rollback\n"
        "for f in (toolkit.remediate, plan, rollback, toolkit.remediate.plan):\n"
        "    try:\n        f()\n"
        "    except TypeError as exc:\n        print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    assert [line.split("(")[0] for line in lines] == ["remediate", "plan", "rollback", "plan"], (
        proc.stdout + proc.stderr
    )
