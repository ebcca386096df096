"""Lab spec loader: good specs expand as documented; every mistake names file:line: field."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.unit.lab.helpers import ADMIN, WS, WS_PROVIDER, outputs
from toolkit.errors import InputError, LabSpecError
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.lab.spec import FAULT_KINDS, FaultSpec, build_host, load_spec, loads_spec, spec_from_args

KINDS = ", ".join(FAULT_KINDS)

GOOD = r"""
users:
  - {name: LAB\admin, password: "P@ss", admin: true}
  - {name: LAB\reader, password: "x"}
defaults: {profile: server2019, latency_ms: 5, auth: ntlm, pool_open_ms: 7}
hosts:
  - name: web
    profile: mixed
    count: 3
    registry:
      'HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters':
        RequireSecureNegotiate: {kind: DWord, value: 0}
        EnableSecuritySignature: null
        Blob: {kind: Binary, value: "01 ff"}
    events: [{id: 31012, log: Microsoft-Windows-SMBClient/Connectivity, count: 3, days_ago: 1, message: "m"}]
    fault: {kind: flaky, count: 2}
    scheme: https
  - name: db
    fault: refuse
    auth: basic
    latency_ms: 50
"""


def test_good_spec_expands_hosts() -> None:
    spec = loads_spec(GOOD, "lab.yml")
    assert [u.name for u in spec.users] == ["LAB\\admin", "LAB\\reader"]
    assert spec.users[1].admin is False and spec.admin.name == "LAB\\admin"
    assert [h.name for h in spec.hosts] == ["web-01", "web-02", "web-03", "db"]
    assert [h.profile for h in spec.hosts] == [*PROFILE_NAMES[:3], "server2019"]
    web, db = spec.hosts[0], spec.hosts[3]
    assert web.fault == FaultSpec("flaky", 0, 2) and db.fault == FaultSpec("refuse")
    assert (web.auth, web.scheme, web.latency_ms, web.pool_open_ms) == ("ntlm", "https", 5, 7)
    assert (db.auth, db.scheme, db.latency_ms) == ("basic", "http", 50)
    assert web.registry[WS_PROVIDER]["RequireSecureNegotiate"] == ("DWord", 0)
    assert web.registry[WS_PROVIDER]["EnableSecuritySignature"] is None
    assert web.registry[WS_PROVIDER]["Blob"] == ("Binary", b"\x01\xff")
    assert web.events[0].count == 3 and web.events[0].message == "m"
    assert (spec.latency_ms, spec.pool_open_ms) == (5, 7)
    assert pickle.loads(pickle.dumps(spec)) == spec  # lab worker processes receive it


def test_build_host_applies_registry_and_events() -> None:
    spec = loads_spec(GOOD, "lab.yml")
    host = build_host(spec.hosts[2])  # win8
    assert host.registry.get_value(WS, "RequireSecureNegotiate") == ("DWord", 0)
    assert host.registry.get_value(WS, "EnableSecuritySignature") is None
    assert len(host.events) == 3
    assert host.profile.build == 9200


def test_minimal_spec_gets_default_users() -> None:
    spec = loads_spec("hosts: [{name: a}]", "lab.yml")
    assert [(u.name, u.admin) for u in spec.users] == [("admin", True), ("reader", False)]
    assert spec.hosts[0].profile == "server2019" and spec.hosts[0].fault is None


def test_load_spec_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  - {name: x, count: 12}\n", encoding="utf-8")
    spec = load_spec(path)
    assert spec.hosts[0].name == "x-01" and spec.hosts[-1].name == "x-12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "lab.yml:1: the lab spec is empty"),
        ("- a", "lab.yml:1: must be a mapping, got a list"),
        ("users: []\nhosts: [{name: a}]", "lab.yml:1: users: must be a non-empty list"),
        ("hosts: [{name: a}]\nextra: 1", "lab.yml:2: extra: unknown key 'extra'; expected one of users, defaults, hosts"),
        ("defaults: {}", "lab.yml:1: hosts: is required"),
        ("hosts: []", "lab.yml:1: hosts: must be a non-empty list"),
        ("hosts:\n  - 5", "lab.yml:2: hosts[0]: must be a mapping, got an integer"),
        ("hosts:\n  - {profile: win81}", "lab.yml:2: hosts[0].name: is required"),
        ("hosts:\n  - {name: 'a b'}", "lab.yml:2: hosts[0].name: 'a b' is not a valid host name (letters, digits and '-', up to 63)"),
        ("hosts:\n  - name: a\n    colour: red", "lab.yml:3: hosts[0].colour: unknown key 'colour'; expected one of name, profile, count, registry, events, fault, auth, scheme, latency_ms, pool_open_ms, allow_from"),
        ("hosts:\n  - name: a\n    profile: win95", "lab.yml:3: hosts[0].profile: unknown profile 'win95'; expected one of " + ", ".join(PROFILE_NAMES) + " or mixed"),
        ("hosts:\n  - name: a\n    count: 0", "lab.yml:3: hosts[0].count: must be between 1 and 10000, got 0"),
        ("hosts:\n  - name: a\n    count: two", "lab.yml:3: hosts[0].count: must be an integer, got a string"),
        ("hosts:\n  - name: a\n    count: true", "lab.yml:3: hosts[0].count: must be an integer, got a boolean"),
        ("hosts:\n  - name: a\n  - name: A", "lab.yml:3: hosts[1].name: duplicate host name 'A' (also from hosts[0])"),
        ("hosts:\n  - {name: w, count: 2}\n  - {name: w-02}", "lab.yml:3: hosts[1].name: duplicate host name 'w-02' (also from hosts[0])"),
        ("hosts:\n  - name: a\n    auth: digest", "lab.yml:3: hosts[0].auth: unknown value 'digest'; expected one of negotiate, ntlm, basic, kerberos, credssp"),
        ("hosts:\n  - name: a\n    scheme: ftp", "lab.yml:3: hosts[0].scheme: unknown value 'ftp'; expected one of http, https"),
        ("hosts:\n  - name: a\n    latency_ms: -1", "lab.yml:3: hosts[0].latency_ms: must be between 0 and 600000, got -1"),
        ("defaults: {profile: nope}\nhosts: [{name: a}]", "lab.yml:1: defaults.profile: unknown profile 'nope'; expected one of " + ", ".join(PROFILE_NAMES) + " or mixed"),
        ("defaults: {colour: red}\nhosts: [{name: a}]", "lab.yml:1: defaults.colour: unknown key 'colour'; expected one of profile, latency_ms, auth, pool_open_ms, scheme"),
        ("defaults: 3\nhosts: [{name: a}]", "lab.yml:1: defaults: must be a mapping, got an integer"),
    ],
)  # fmt: skip
def test_structure_errors(text: str, expected: str) -> None:
    with pytest.raises(LabSpecError) as info:
        loads_spec(text, "lab.yml")
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        ("users: 3", "lab.yml:1: users: must be a non-empty list"),
        ("users:\n  - {password: x}", "lab.yml:2: users[0].name: is required"),
        ("users:\n  - {name: a}", "lab.yml:2: users[0].password: is required"),
        ("users:\n  - {name: a, password: 5, admin: true}", "lab.yml:2: users[0].password: must be a non-empty string"),
        ("users:\n  - {name: a, password: x, admin: yes please}", "lab.yml:2: users[0].admin: must be true or false, got 'yes please'"),
        ("users:\n  - {name: a, password: x, admin: true, role: y}", "lab.yml:2: users[0].role: unknown key 'role'; expected one of name, password, admin, remoting"),
        ("users:\n  - {name: a, password: x, admin: true, remoting: no thanks}", "lab.yml:2: users[0].remoting: must be true or false, got 'no thanks'"),
        ("users:\n  - {name: a, password: x, admin: true}\n  - {name: A, password: y}", "lab.yml:3: users[1].name: duplicate user 'A'"),
        ("users:\n  - {name: a, password: x}", "lab.yml:1: users: needs at least one user with admin: true"),
    ],
)  # fmt: skip
def test_user_errors(users: str, expected: str) -> None:
    with pytest.raises(LabSpecError) as info:
        loads_spec(users + "\nhosts: [{name: h}]", "lab.yml")
    assert str(info.value) == expected


def test_users_may_use_the_endpoint_unless_remoting_is_false() -> None:
    spec = loads_spec(
        "users:\n  - {name: a, password: x, admin: true}\n  - {name: b, password: y, remoting: false}\n"
        "hosts: [{name: h}]"
    )
    assert [(u.name, u.admin, u.remoting) for u in spec.users] == [("a", True, True), ("b", False, False)]


REG_KEY = "'HKLM:\\SYSTEM\\X'"


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("registry: 3", "lab.yml:3: hosts[0].registry: must be a mapping of key paths, got an integer"),
        ("registry:\n      'C:\\x': {A: null}", "lab.yml:4: hosts[0].registry['C:\\x']: 'C:\\x' is not a registry key path like 'HKLM:\\SOFTWARE\\X'"),
        (f"registry:\n      {REG_KEY}: 5", "lab.yml:4: hosts[0].registry['HKLM:\\SYSTEM\\X']: must be a mapping of value names, got an integer"),
        (f"registry:\n      {REG_KEY}:\n        A: {{kind: REG_DWORD, value: 0}}", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A.kind: unknown kind 'REG_DWORD'; expected one of String, ExpandString, Binary, DWord, MultiString, QWord"),
        (f"registry:\n      {REG_KEY}:\n        A: {{kind: DWord}}", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A.value: is required"),
        (f"registry:\n      {REG_KEY}:\n        A: {{kind: DWord, value: '0'}}", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A.value: DWord data must be an integer"),
        (f"registry:\n      {REG_KEY}:\n        A: {{kind: DWord, value: 4294967296}}", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A.value: 4294967296 does not fit a DWord"),
        (f"registry:\n      {REG_KEY}:\n        A: {{kind: Binary, value: zz}}", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A.value: Binary value must be hex text or a list of bytes"),
        (f"registry:\n      {REG_KEY}:\n        A: {{kind: DWord, value: 0, x: 1}}", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A.x: unknown key 'x'; expected one of kind, value"),
        (f"registry:\n      {REG_KEY}:\n        A: 0", "lab.yml:5: hosts[0].registry['HKLM:\\SYSTEM\\X'].A: must be a mapping, got an integer"),
    ],
)  # fmt: skip
def test_registry_errors(registry: str, expected: str) -> None:
    with pytest.raises(LabSpecError) as info:
        loads_spec(f"hosts:\n  - name: a\n    {registry}", "lab.yml")
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ("events: 3", "lab.yml:3: hosts[0].events: must be a list, got an integer"),
        ("events:\n      - {log: L}", "lab.yml:4: hosts[0].events[0].id: is required"),
        ("events:\n      - {id: 1}", "lab.yml:4: hosts[0].events[0].log: is required"),
        ("events:\n      - {id: 0, log: L}", "lab.yml:4: hosts[0].events[0].id: must be between 1 and 65535, got 0"),
        ("events:\n      - {id: 1, log: L, count: 0}", "lab.yml:4: hosts[0].events[0].count: must be between 1 and 100000, got 0"),
        ("events:\n      - {id: 1, log: L, days_ago: -2}", "lab.yml:4: hosts[0].events[0].days_ago: must be a number >= 0, got -2"),
        ("events:\n      - {id: 1, log: L, message: 5}", "lab.yml:4: hosts[0].events[0].message: must be a string"),
        ("events:\n      - {id: 1, log: L, level: Loud}", "lab.yml:4: hosts[0].events[0].level: unknown value 'Loud'; expected one of Critical, Error, Warning, Information, Verbose"),
        ("events:\n      - {id: 1, log: L, source: x}", "lab.yml:4: hosts[0].events[0].source: unknown key 'source'; expected one of id, log, count, days_ago, message, level"),
    ],
)  # fmt: skip
def test_event_errors(events: str, expected: str) -> None:
    with pytest.raises(LabSpecError) as info:
        loads_spec(f"hosts:\n  - name: a\n    {events}", "lab.yml")
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("fault: explode", "lab.yml:3: hosts[0].fault.kind: unknown fault kind 'explode'; expected one of " + KINDS),
        ("fault: slow", "lab.yml:3: hosts[0].fault: fault 'slow' needs ms: use {kind: slow, ms: N}"),
        ("fault: {ms: 5}", "lab.yml:3: hosts[0].fault.kind: is required"),
        ("fault: {kind: nope}", "lab.yml:3: hosts[0].fault.kind: unknown fault kind 'nope'; expected one of " + KINDS),
        ("fault: {kind: slow}", "lab.yml:3: hosts[0].fault.ms: fault 'slow' needs ms > 0"),
        ("fault: {kind: flaky, count: 0}", "lab.yml:3: hosts[0].fault.count: fault 'flaky' needs count > 0"),
        ("fault: {kind: hang, ms: x}", "lab.yml:3: hosts[0].fault.ms: must be an integer, got a string"),
        ("fault: {kind: hang, when: now}", "lab.yml:3: hosts[0].fault.when: unknown key 'when'; expected one of kind, ms, count"),
        ("fault: 5", "lab.yml:3: hosts[0].fault: must be a mapping, got an integer"),
    ],
)  # fmt: skip
def test_fault_errors(fault: str, expected: str) -> None:
    with pytest.raises(LabSpecError) as info:
        loads_spec(f"hosts:\n  - name: a\n    {fault}", "lab.yml")
    assert str(info.value) == expected


def test_slow_fault_with_ms_is_fine() -> None:
    spec = loads_spec("hosts:\n  - {name: a, fault: {kind: slow, ms: 250}}", "lab.yml")
    assert spec.hosts[0].fault == FaultSpec("slow", 250, 0)


def test_yaml_syntax_errors_keep_file_and_line() -> None:
    with pytest.raises(InputError) as info:
        loads_spec("hosts:\n  - {name: a\n", "lab.yml")
    assert str(info.value).startswith("lab.yml:")


def test_spec_from_args() -> None:
    spec = spec_from_args(3, "mixed", password="pw")
    assert [h.name for h in spec.hosts] == ["lab-01", "lab-02", "lab-03"]
    assert [h.profile for h in spec.hosts] == list(PROFILE_NAMES[:3])
    assert spec.users[0].password == "pw" and spec.admin.admin
    assert [h.profile for h in spec_from_args(2, "win81").hosts] == ["win81", "win81"]
    assert outputs(build_host(spec.hosts[0]).run_script(f"Test-Path '{WS}'", user=ADMIN)) == [True]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"hosts": 0, "profile": "win81"}, "--hosts/--profile: hosts: must be between 1 and 10000, got 0"),
        ({"hosts": 1, "profile": "dos"}, "--hosts/--profile: profile: unknown profile 'dos'"),
        ({"hosts": 1, "profile": "win81", "auth": "x"}, "--hosts/--profile: auth: unknown auth 'x'"),
        ({"hosts": 1, "profile": "win81", "scheme": "x"}, "--hosts/--profile: scheme: unknown scheme 'x'"),
    ],
)
def test_spec_from_args_errors(kwargs: dict, expected: str) -> None:
    with pytest.raises(LabSpecError) as info:
        spec_from_args(**kwargs)
    assert str(info.value).startswith(expected)


ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 9 levels of 9 aliases each: 9**9 (387 million) nodes if expanded.
        (ALIAS_BOMB + "hosts: [{name: h}]\n", "lab.yml:6: YAML aliases expand to more than"),
        (
            "hosts: &h [{name: a, events: *h}]\n",
            "lab.yml:1: alias *h is inside the node it names (recursive)",
        ),
    ],
)
def test_lab_specs_with_alias_bombs_are_refused_with_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_spec(path)
    assert str(info.value).startswith(str(tmp_path / expected)), str(info.value)
    assert info.value.exit_code == 2
