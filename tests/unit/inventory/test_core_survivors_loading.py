"""What the full mutation run of toolkit/inventory (1333eb2) found unpinned in loading and
``--limit``: format detection (an inventory plugin's configuration, a YAML list, a lone INI
section), the process-wide inventory options and the reporter the CLI prints skipped hosts
with, ``PSFLEET_INVENTORY_BACKEND`` against ``--inventory-backend``, globs and plain names
over groups and hosts, and a limit that leaves only skipped hosts.
docs/mutation/inventory-core.md maps each mutant to its test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.cli.options import use_backend
from toolkit.errors import InventoryError
from toolkit.inventory import ansible_cli
from toolkit.inventory.limit import apply_limit
from toolkit.inventory.loader import (
    ENV_BACKEND,
    InventoryOptions,
    LoadedInventory,
    detect_format,
    inventory_options,
    load_inventory,
    read_inventory,
    set_inventory_options,
)

from .helpers import load, write

ANSIBLE_INI = "[windows]\nfs01 ansible_connection=winrm\n"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("aws_ec2.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", "ansible-yaml"),
        ("inv.yml", "plugin: constructed\n", "ansible-yaml"),
        ("inv.yml", "- fs01\n- fs02\n", "native"),  # a YAML list: native, whose error says what is expected
        ("hosts", "[windows]\n", "ansible-ini"),  # YAML reads a flow list; it is an INI section
    ],
)
def test_detect_format_of_plugins_lists_and_a_lone_section(name: str, text: str, expected: str) -> None:
    assert detect_format(name, text) == expected


@pytest.fixture
def clean_options(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process-wide options as they were, and no reporter, after the test."""
    monkeypatch.delenv(ENV_BACKEND, raising=False)
    before = inventory_options()
    yield
    set_inventory_options(before)


@pytest.mark.usefixtures("clean_options")
def test_a_commands_own_backend_keeps_the_global_vault_options() -> None:
    # psfleet --vault-id prod@prompt audit --inventory-backend builtin ...
    set_inventory_options(InventoryOptions(backend="auto", vault_ids=("prod@prompt",)))
    use_backend("builtin")
    assert inventory_options() == InventoryOptions(backend="builtin", vault_ids=("prod@prompt",))


@pytest.mark.usefixtures("clean_options")
def test_every_inventory_read_is_reported_unless_asked_not_to(tmp_path: Path) -> None:
    seen: list[LoadedInventory] = []
    set_inventory_options(InventoryOptions(backend="builtin"), reporter=seen.append)
    path = write(tmp_path, "hosts: {fs01: {}}\n")
    loaded = read_inventory(path)
    assert seen == [loaded]
    read_inventory(path, report=False)
    assert len(seen) == 1
    load_inventory(path)
    assert [[h.name for h in r.inventory.hosts] for r in seen] == [["fs01"], ["fs01"]]


@pytest.fixture
def ansible_on_path(monkeypatch: pytest.MonkeyPatch, clean_options: None) -> None:
    """``auto`` would pick ansible-core: any use of it fails the test."""
    monkeypatch.setattr(ansible_cli, "find_ansible_inventory", lambda: "/usr/bin/ansible-inventory")

    def no_ansible(*args: object, **kwargs: object) -> None:
        pytest.fail("ansible-inventory was run")

    monkeypatch.setattr(ansible_cli, "read_with_ansible", no_ansible)


@pytest.mark.usefixtures("ansible_on_path")
@pytest.mark.parametrize(
    ("env", "option"),
    [
        (" Builtin ", "auto"),  # the environment decides what auto means, spaces and case aside
        ("ansible", "builtin"),  # but never overrides a backend the option names
    ],
)
def test_the_environment_chooses_the_backend_only_where_the_option_says_auto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, option: str
) -> None:
    path = write(tmp_path, ANSIBLE_INI, "hosts.ini")
    monkeypatch.setenv(ENV_BACKEND, env)
    assert read_inventory(path, options=InventoryOptions(backend=option)).backend == "builtin"


@pytest.mark.usefixtures("ansible_on_path")
def test_an_unknown_backend_in_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, ANSIBLE_INI, "hosts.ini")
    monkeypatch.setenv(ENV_BACKEND, "pyyaml")
    with pytest.raises(InventoryError) as caught:
        read_inventory(path, options=InventoryOptions(backend="auto"))
    assert str(caught.value) == (
        "PSFLEET_INVENTORY_BACKEND: PSFLEET_INVENTORY_BACKEND='pyyaml' is not one of: auto, ansible, builtin"
    )


def test_a_glob_selects_matching_groups_and_matching_host_names(tmp_path: Path) -> None:
    inv = load(tmp_path, "groups:\n  files: {hosts: [a]}\nhosts:\n  a: {}\n  fs01: {}\n  dc01: {}\n")
    assert [h.name for h in apply_limit(inv, ["f*"]).hosts] == ["a", "fs01"]


def test_a_plain_name_that_is_a_group_selects_the_group_not_a_host_of_that_name(tmp_path: Path) -> None:
    # Ansible: a host name is tried only when no group matched (or for globs, regexes, dots)
    inv = load(tmp_path, "groups:\n  web: {hosts: [a]}\nhosts:\n  a: {}\n  web: {}\n")
    assert [h.name for h in apply_limit(inv, ["web"]).hosts] == ["a"]


def test_a_limit_that_leaves_only_skipped_hosts_says_how_many_it_selected(tmp_path: Path) -> None:
    # only-exclusion limits start from every host Ansible knows, the skipped ones included
    path = write(tmp_path, ANSIBLE_INI + "lx01\nlx02\n", "hosts.ini")
    inv = load_inventory(path)
    with pytest.raises(InventoryError) as caught:
        apply_limit(inv, ["!fs01"])
    assert (
        str(caught.value)
        == "--limit: the limit '!fs01' leaves no host psfleet manages (2 selected, none on WinRM)"
    )
