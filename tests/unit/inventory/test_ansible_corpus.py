"""psfleet against ansible-core on the corpus in tests/data/ansible/.

Recorded answers (scripts/ansible_corpus.py) judge the built-in reader: where it reads an
inventory, every host's variables, every group's hosts and every limit pattern must be what
ansible-core said; where it cannot (plugins, vault, templates psfleet needs), it refuses with
file:line and the backend that reads it. When ansible-inventory is installed
(``PSFLEET_ANSIBLE_BIN``, PATH or /opt/ansible-venv/bin), the ansible backend is run live on
every case and must give the same hosts as the recorded answer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit.inventory.helpers import ANSIBLE_INVENTORY, needs_ansible
from toolkit.errors import InventoryError
from toolkit.inventory.ansible import AnsibleView, Vaulted, read_ansible
from toolkit.inventory.ansible_cli import VaultOptions, read_with_ansible, view_from_list
from toolkit.inventory.limit import select, split_patterns
from toolkit.inventory.loader import InventoryOptions, _detect, _read_text, read_inventory
from toolkit.inventory.model import Inventory
from toolkit.inventory.settings import Problems

CORPUS = Path(__file__).resolve().parents[2] / "data" / "ansible"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "recorded.json").exists())
#: Cases the built-in reader must refuse (what it cannot evaluate), with the words it uses.
REFUSED = {
    "constructed": "does not run plugins; read it with --inventory-backend ansible",
    "vault": "Ansible Vault value: the builtin reader cannot use it; read it with --inventory-backend ansible",
    "jinja": "neither psfleet's readers nor ansible-inventory evaluate templates",
}


def _case(name: str) -> tuple[dict[str, object], dict[str, object], Path]:
    case = CORPUS / name
    spec = json.loads((case / "case.json").read_text(encoding="utf-8"))
    recorded = json.loads((case / "recorded.json").read_text(encoding="utf-8"))
    return spec, recorded, case / str(spec["inventory"])


def _builtin_view(source: Path) -> tuple[AnsibleView, Problems]:
    problems = Problems(str(source))
    kind, data = (None, None) if source.is_dir() else _detect(source, _read_text(source))
    return read_ansible(source, problems, kind=kind, data=data), problems


def _plain(view: AnsibleView) -> dict[str, dict[str, object]]:
    def value(v: object) -> object:
        return {"__ansible_vault": v.ciphertext} if isinstance(v, Vaulted) else v

    return {h: {k: value(v.value) for k, v in hv.items()} for h, hv in view.hostvars.items()}


def _recorded_view(recorded: dict[str, object], source: Path) -> AnsibleView:
    listed = recorded["list"]
    assert isinstance(listed, dict)
    return view_from_list(listed, str(source))


@pytest.mark.parametrize("name", CASES)
def test_builtin_reader_agrees_with_ansible_core(name: str) -> None:
    _spec, recorded, source = _case(name)
    view, problems = _builtin_view(source)
    answer = _recorded_view(recorded, source)
    if name == "constructed":  # the plugin is refused at read time, before any host
        assert REFUSED[name] in str(problems.errors[0])
        assert str(problems.errors[0]).startswith(str(source / "02-constructed.yml") + ":1: ")
        return
    assert not problems, [str(e) for e in problems.errors]
    assert sorted(view.hosts) == sorted(answer.hosts)  # --list sorts; order is checked by groups
    assert _plain(view) == _plain(answer)
    for group, members in answer.groups.items():
        if group != "all":
            assert view.groups[group] == members, group
    assert {h: set(g) for h, g in view.member_of.items()} == {h: set(g) for h, g in answer.member_of.items()}


@pytest.mark.parametrize("name", CASES)
def test_builtin_limits_agree_with_ansible_core(name: str) -> None:
    _spec, recorded, source = _case(name)
    view, problems = _builtin_view(source)
    if problems:
        # Only a case the reader is meant to refuse may stop here (its words: the test above).
        assert name in REFUSED, [str(e) for e in problems.errors]
        return
    inventory = Inventory(hosts=(), groups={}, source=str(source), ansible_groups=view.groups)
    limits = recorded["limits"]
    assert isinstance(limits, dict)
    for pattern, expected in limits.items():
        try:
            got: list[str] | None = sorted(select(inventory, split_patterns([pattern])))
        except InventoryError as exc:
            # psfleet's one deliberate difference: a pattern matching nothing is an error.
            assert expected == [], (pattern, str(exc))
            continue
        assert got == expected, pattern


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_builtin_reader_refuses_what_it_cannot_evaluate(name: str) -> None:
    _spec, _recorded, source = _case(name)
    options = InventoryOptions(backend="builtin")
    with pytest.raises(InventoryError) as caught:
        read_inventory(source, options=options)
    message = str(caught.value)
    assert REFUSED[name] in message
    assert "\n" not in message
    assert message.split(": ", 1)[0].rsplit(":", 1)[1].isdigit(), message  # file:line


def test_vault_password_stays_out_of_everything_but_the_secret() -> None:
    _spec, _recorded, source = _case("vault")
    view, _problems = _builtin_view(source)
    assert isinstance(view.hostvars["app01"]["ansible_password"].value, Vaulted)
    assert "Corpus-Only" not in repr(view)


@needs_ansible
@pytest.mark.parametrize("name", CASES)
def test_ansible_backend_agrees_with_recorded_answers(name: str) -> None:
    spec, recorded, source = _case(name)
    vault = (
        VaultOptions(password_files=(str(source.parent / str(spec["vault_password_file"])),))
        if spec.get("vault_password_file")
        else VaultOptions()
    )
    live = read_with_ansible(source, executable=ANSIBLE_INVENTORY, vault=vault)
    answer = _recorded_view(recorded, source)
    assert _plain(live) == _plain(answer)
    assert live.groups == answer.groups
    assert set(live.hosts) == set(answer.hosts)


@needs_ansible
def test_ansible_backend_uses_a_vaulted_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ANSIBLE_INVENTORY is not None
    monkeypatch.setenv("PATH", f"{Path(ANSIBLE_INVENTORY).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    spec, _recorded, source = _case("vault")
    options = InventoryOptions(
        backend="ansible", vault_password_files=(str(source.parent / str(spec["vault_password_file"])),)
    )
    loaded = read_inventory(source, options=options)
    app01 = loaded.inventory.host("app01")
    assert app01.password.kind == "inventory"
    assert app01.password.secret == "Corpus-Only-Pa55"
    assert "Corpus-Only" not in repr(app01)
    assert app01.transport.auth == "ntlm" and app01.transport.cert_validation is True


@needs_ansible
def test_ansible_backend_reads_the_constructed_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ANSIBLE_INVENTORY is not None
    monkeypatch.setenv("PATH", f"{Path(ANSIBLE_INVENTORY).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    _spec, _recorded, source = _case("constructed")
    inventory = read_inventory(source, options=InventoryOptions(backend="auto")).inventory
    assert inventory.groups["role_fs"] == ("fs01", "fs02")
    assert [h.name for h in inventory.hosts] == ["dc01", "fs01", "fs02"]


@needs_ansible
def test_ansible_backend_says_why_ansible_could_not_parse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[web\nh1\n", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        read_with_ansible(bad, executable=ANSIBLE_INVENTORY)
    assert str(caught.value).startswith(
        f"{bad}: ansible-inventory failed (exit 1): Failed to parse inventory"
    )
    assert "\n" not in str(caught.value)


def test_ansible_backend_without_ansible_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ansible-inventory there
    _spec, _recorded, source = _case("gv_files")
    with pytest.raises(InventoryError) as caught:
        read_inventory(source, options=InventoryOptions(backend="ansible"))
    assert str(caught.value) == (
        f"{source}: ansible-inventory is not on PATH; install ansible-core or use --inventory-backend builtin"
    )
    assert read_inventory(source, options=InventoryOptions(backend="auto")).backend == "builtin"
