"""``ansible_group_priority`` read as ansible-core reads it: ``Group.set_variable`` calls
``int()`` on the value as parsed, so YAML ``2.5`` is 2, ``true`` 1 and ``' 3 '`` 3, while
``'2.0'``, null, a list or ``.inf`` stop the inventory. Each case is run through both
backends (the real ``ansible-inventory`` where installed): the same group must win.

Two groups hold host h1 at the same depth; ``a`` has the rival priority, ``b`` the one under
test, and each sets ``ansible_user`` to its name: the higher priority wins, a tie goes to
the later name (``b``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.loader import InventoryOptions, check_inventory, read_inventory

from .helpers import ansible_on_path, needs_ansible, write

BACKENDS = ["builtin", pytest.param("ansible", marks=needs_ansible)]


@pytest.fixture(autouse=True)
def _ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    ansible_on_path(monkeypatch)


def _yaml(rival: str, priority: str) -> str:
    return f"""\
        all:
          vars:
            ansible_connection: psrp
          children:
            a:
              hosts:
                h1:
              vars:
                ansible_user: a
                ansible_group_priority: {rival}
            b:
              hosts:
                h1:
              vars:
                ansible_user: b
                ansible_group_priority: {priority}
        """


def _user(path: Path, backend: str) -> str | None:
    loaded = read_inventory(path, options=InventoryOptions(backend=backend), report=False)
    (host,) = loaded.inventory.hosts
    return host.username


# (b's priority as written, a's rival priority, who wins): the rival is chosen so that a
# value read one off (or refused, or left at the default 1) picks the other group.
TAKEN = [
    pytest.param("2.5", "3", "a", id="float-truncated-to-2"),
    pytest.param("2.0", "2", "b", id="float-2.0-is-2"),
    pytest.param("-1.5", "-1", "b", id="negative-float-toward-zero"),
    pytest.param("true", "2", "a", id="true-is-1"),
    pytest.param("true", "1", "b", id="true-ties-1"),
    pytest.param("false", "1", "a", id="false-is-0"),
    pytest.param("false", "0", "b", id="false-ties-0"),
    pytest.param("' 3 '", "3", "b", id="string-with-spaces"),
    pytest.param("' 3 '", "4", "a", id="string-with-spaces-below-4"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("priority", "rival", "winner"), TAKEN)
def test_a_priority_is_read_with_int_as_ansible_does(
    tmp_path: Path, backend: str, priority: str, rival: str, winner: str
) -> None:
    path = write(tmp_path, _yaml(rival, priority))
    assert _user(path, backend) == winner


REFUSED = [
    pytest.param("'2.0'", "the string '2.0'", id="string-2.0"),
    pytest.param("'0x10'", "the string '0x10'", id="string-hex"),
    pytest.param("null", "nothing", id="null"),
    pytest.param("[1]", "a list", id="list"),
    pytest.param(".inf", "the number inf", id="infinity"),
    pytest.param(".nan", "the number nan", id="nan"),
]


@pytest.mark.parametrize(("priority", "described"), REFUSED)
def test_a_priority_int_refuses_is_reported_with_file_line_and_field(
    tmp_path: Path, priority: str, described: str
) -> None:
    path = write(tmp_path, _yaml("1", priority))
    options = InventoryOptions(backend="builtin")
    errors = [str(e).replace(str(tmp_path), "{dir}") for e in check_inventory(path, options=options)]
    assert errors == [
        f"{{dir}}/inv.yml:16: all.children.b.vars.ansible_group_priority: expected an integer, got {described}"
    ]


@needs_ansible
@pytest.mark.parametrize(("priority", "described"), REFUSED)
def test_ansible_core_refuses_the_same_priorities(tmp_path: Path, priority: str, described: str) -> None:
    path = write(tmp_path, _yaml("1", priority))
    with pytest.raises(InventoryError):
        read_inventory(path, options=InventoryOptions(backend="ansible"), report=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("priority", "winner"),
    [
        pytest.param("2.0", "b", id="float-2.0-ties-2"),
        pytest.param("True", "a", id="True-is-1"),
        pytest.param("2.5", "b", id="float-2.5-ties-2"),
    ],
)
def test_an_ini_priority_is_read_with_int_as_ansible_does(
    tmp_path: Path, backend: str, priority: str, winner: str
) -> None:
    # INI values go through ast.literal_eval first: 2.0 is a float, True a boolean
    text = (
        "[a]\nh1\n[b]\nh1\n[all:vars]\nansible_connection=psrp\n"
        f"[a:vars]\nansible_user=a\nansible_group_priority=2\n[b:vars]\nansible_user=b\nansible_group_priority={priority}\n"
    )
    path = write(tmp_path, text, "hosts")
    assert _user(path, backend) == winner
