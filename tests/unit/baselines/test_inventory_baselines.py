"""Inventory ``baselines:`` (host > group > defaults) and policy keys for baseline checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.baselines.test_loader import GOOD
from toolkit.baselines.select import baselines_for, with_baselines
from toolkit.errors import InventoryError
from toolkit.inventory.loader import load_inventory


def _inventory(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tiny.yaml").write_text(GOOD, encoding="utf-8")
    path = tmp_path / "inv.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_baselines_and_their_policies_merge_host_over_defaults(tmp_path: Path) -> None:
    path = _inventory(
        tmp_path,
        "psfleet: 1\n"
        "defaults:\n"
        "  baselines: [smb-hardening, tiny.yaml]\n"
        "  policy: {smb_encryption: required, one: any}\n"
        "hosts:\n"
        "  a: {}\n"
        "  b: {baselines: smb-validate-negotiate, policy: {secure_negotiate: any}}\n",
    )
    inventory = load_inventory(path)
    a, b = inventory.hosts
    assert a.baselines == ("smb-hardening", str(tmp_path / "tiny.yaml"))
    assert a.policy.checks == {"smb_encryption": "required", "one": "any"}
    assert [x.name for x in baselines_for(a)] == ["smb-hardening", "tiny"]
    assert b.baselines == ("smb-validate-negotiate",) and b.policy.secure_negotiate == "any"
    # --baseline overrides the inventory's choice for every host.
    forced = with_baselines(inventory, ["smb-validate-negotiate"])
    assert {h.baselines for h in forced.hosts} == {("smb-validate-negotiate",)}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("  baselines: [missing.yaml]\n", ":3: defaults.baselines: baseline 'missing.yaml':"),
        (
            "  policy: {smb_encryption: sometimes}\n",
            ":3: defaults.policy.smb_encryption: must be one of required, any",
        ),
        ("  policy: {one: up}\n", ":3: defaults.policy.one: unknown policy key 'one'"),
    ],
)
def test_bad_baselines_and_policies_name_the_inventory_line(tmp_path: Path, text: str, where: str) -> None:
    path = _inventory(tmp_path, "psfleet: 1\ndefaults:\n" + text + "hosts:\n  a: {}\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    assert f"{path}{where}" in str(exc.value)


def test_a_retry_file_keeps_baselines_and_their_policies(tmp_path: Path) -> None:
    from toolkit.engine.wire import host_from_wire, host_to_wire
    from toolkit.inventory.write import write_inventory

    path = _inventory(
        tmp_path,
        "psfleet: 1\ndefaults:\n  baselines: [smb-hardening]\n  policy: {smb_encryption: required}\nhosts:\n  a: {}\n",
    )
    (host,) = load_inventory(path).hosts
    retry = tmp_path / "retry.yml"
    write_inventory([host], retry)
    (again,) = load_inventory(retry).hosts
    assert (again.baselines, again.policy) == (host.baselines, host.policy)
    assert host_from_wire(host_to_wire(host)).baselines == ("smb-hardening",)  # to site workers


def test_ansible_hosts_take_baselines_and_check_policies_from_psfleet_vars(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(
        "[fs]\nfs01 ansible_host=10.0.0.5 ansible_connection=winrm "
        "psfleet_baselines=smb-hardening psfleet_policy_smb_encryption=required\n",
        encoding="utf-8",
    )
    (host,) = load_inventory(path).hosts
    assert host.baselines == ("smb-hardening",)
    assert host.policy.checks == {"smb_encryption": "required"}


def test_baseline_option_refuses_a_policy_state_its_check_does_not_know(tmp_path: Path) -> None:
    from toolkit.baselines.loader import BaselineError

    other = GOOD.replace("up: {expected", "high: {expected").replace(
        "default_state: up", "default_state: high"
    )
    (tmp_path / "other.yaml").write_text(other, encoding="utf-8")
    path = _inventory(
        tmp_path, "psfleet: 1\ndefaults:\n  baselines: [tiny.yaml]\n  policy: {one: up}\nhosts:\n  a: {}\n"
    )
    inventory = load_inventory(path)
    with pytest.raises(BaselineError, match=r"host a: policy one: 'up' is not a state of that check"):
        with_baselines(inventory, [str(tmp_path / "other.yaml")])
