"""Whatever the input, the inventory reader fails only with a one-line InventoryError."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.errors import InventoryError
from toolkit.inventory.loader import check_inventory, load_inventory
from toolkit.inventory.settings import POLICY_KEYS, SETTING_KEYS
from toolkit.inventory.write import write_inventory

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [*SETTING_KEYS, "address", "groups", "meta", "name", "hosts", "children", "vars", "all", *POLICY_KEYS]
ANSIBLE_KEYS = [
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_connection",
    "ansible_password",
    "ansible_winrm_transport",
    "ansible_psrp_auth",
    "ansible_psrp_cert_validation",
    "ansible_psrp_read_timeout",
    "psfleet_client_signing",
    "psfleet_password_env",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["fs01", "https", "ntlm", "required", "any", "", " ", "::1", "[::1]", "a b", "{{ x }}", "web[1:3]"]
    ),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS + ANSIBLE_KEYS), st.text(max_size=8))
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
documents = st.dictionaries(
    st.sampled_from(["psfleet", "defaults", "groups", "hosts", "all", "windows", "hostz"]), values, max_size=4
)
INI_PIECES = [
    "[web]",
    "[web:vars]",
    "[web:children]",
    "[bad",
    "[x:y]",
    "h1",
    "web[01:03]",
    "[::1]:5986",
    "ansible_port=5985",
    "ansible_port=99999",
    "ansible_password=x",
    "ansible_connection=ssh",
    "ansible_psrp_auth=basic",
    "psfleet_nope=1",
    "a=b c",
    "'unterminated",
    "# comment",
    "; comment",
    "=",
    "web",
    "",
]
ini_lines = st.lists(st.one_of(st.sampled_from(INI_PIECES), st.text(max_size=15)), max_size=12)


def _assert_only_inventory_errors(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"inv{suffix}"
        path.write_text(text, encoding="utf-8")
        for error in check_inventory(path):
            assert isinstance(error, InventoryError)
            assert "\n" not in str(error) and "\r" not in str(error)
        try:
            load_inventory(path)
        except InventoryError as exc:
            assert "\n" not in str(exc)


@SETTINGS
@given(documents)
def test_random_yaml_structures(document: dict[str, Any]) -> None:
    _assert_only_inventory_errors(yaml.safe_dump(document, allow_unicode=True), ".yml")


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_as_yaml(text: str) -> None:
    _assert_only_inventory_errors(text, ".yml")


@SETTINGS
@given(ini_lines)
def test_random_ini(lines: list[str]) -> None:
    _assert_only_inventory_errors("\n".join(lines), ".ini")


host_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters=",\x85"),
    min_size=1,
    max_size=10,
).filter(lambda s: s.strip() == s and not s[0].isspace())
hosts = st.dictionaries(
    host_names,
    st.fixed_dictionaries(
        {},
        optional={
            "port": st.integers(1, 65535),
            "scheme": st.sampled_from(["http", "https"]),
            "auth": st.sampled_from(["negotiate", "ntlm", "kerberos", "credssp"]),
            "username": st.sampled_from(["LAB\\admin", "u@LAB", "ünïcode"]),
            "password_env": st.sampled_from(["PW", "WIN_PW"]),
            "policy": st.fixed_dictionaries(
                {}, optional={"secure_negotiate": st.sampled_from(["any", "disabled"])}
            ),
            "meta": st.dictionaries(st.sampled_from(["a", "b"]), st.integers()),
        },
    ),
    min_size=1,
    max_size=5,
)


@SETTINGS
@given(hosts)
def test_written_inventories_read_back_the_same(host_specs: dict[str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.yml"
        source.write_text(yaml.safe_dump({"hosts": host_specs}, allow_unicode=True), encoding="utf-8")
        inv = load_inventory(source)
        target = Path(folder) / "out.yml"
        write_inventory(inv.hosts, target)
        again = load_inventory(target)
    assert [replace(h, source=None) for h in again.hosts] == [replace(h, source=None) for h in inv.hosts]
