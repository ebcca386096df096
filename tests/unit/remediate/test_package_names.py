"""``from toolkit.remediate import plan`` is the function even after the submodule of that name
was imported (importing a submodule binds it on the package; the package drops that binding
for its exported names only), while other submodules stay reachable as attributes. A
surviving mutant of toolkit/remediate/__init__.py showed no unit test pinned either half."""

from __future__ import annotations

import importlib
import sys
import types

#: the package itself (``toolkit.remediate`` as an attribute of toolkit is the function)
package = importlib.import_module("toolkit.remediate")


def test_exported_names_stay_functions_after_their_submodules_are_imported() -> None:
    importlib.import_module("toolkit.remediate.plan")
    importlib.import_module("toolkit.remediate.rollback")
    from toolkit.remediate import plan, rollback

    assert not isinstance(plan, types.ModuleType) and callable(plan)
    assert not isinstance(rollback, types.ModuleType) and callable(rollback)
    assert package.plan is importlib.import_module("toolkit.remediate.apply").plan


def test_other_submodules_and_attributes_are_bound_as_usual() -> None:
    journal = importlib.import_module("toolkit.remediate.journal")
    assert package.journal is journal is sys.modules["toolkit.remediate.journal"]
    package.marker_for_this_test = 1  # type: ignore[attr-defined]
    try:
        assert package.marker_for_this_test == 1  # type: ignore[attr-defined]
    finally:
        del package.marker_for_this_test  # type: ignore[attr-defined]
