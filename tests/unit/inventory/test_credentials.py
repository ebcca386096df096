from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from toolkit.errors import CredentialError
from toolkit.inventory import credentials
from toolkit.inventory.credentials import Credential, resolve_credentials
from toolkit.inventory.model import Host, PasswordSource, SourceRef, Transport

SECRET = "S3cr3t!pw"


def host(name: str = "fs01", kind: str = "none", ref: str = "", **kw: object) -> Host:
    base = Host(
        name=name,
        address=name,
        username="LAB\\admin",
        password=PasswordSource(kind, ref),  # type: ignore[arg-type]
        source=SourceRef("inv.yml", 7),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class FakeKeyring:
    def __init__(self, store: dict[tuple[str, str], str]) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append((service, username))
        return self.store.get((service, username))


@pytest.fixture
def fake_keyring(monkeypatch: pytest.MonkeyPatch) -> FakeKeyring:
    import keyring

    fake = FakeKeyring({("psfleet", "LAB\\admin"): SECRET})
    monkeypatch.setattr(keyring, "get_password", fake.get_password)
    return fake


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pretend stdin is a terminal; record every prompt."""
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(credentials.getpass, "getpass", fake_getpass)
    return prompts


def test_env_source() -> None:
    creds = resolve_credentials([host(kind="env", ref="WIN_PW")], interactive=False, env={"WIN_PW": SECRET})
    assert creds == {"fs01": Credential("LAB\\admin", SECRET)}


@pytest.mark.parametrize(("env", "state"), [({}, "is not set"), ({"WIN_PW": ""}, "is empty")])
def test_env_source_missing_names_the_variable_and_line(env: dict[str, str], state: str) -> None:
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([host(kind="env", ref="WIN_PW")], interactive=True, env=env)
    assert str(caught.value) == f"inv.yml:7: password_env: host fs01: environment variable WIN_PW {state}"
    assert caught.value.exit_code == 2


def test_keyring_source_reads_once_per_service_and_user(fake_keyring: FakeKeyring) -> None:
    hosts = [host("a", "keyring", "psfleet"), host("b", "keyring", "psfleet")]
    creds = resolve_credentials(hosts, interactive=False, env={})
    assert creds["a"].password == SECRET and creds["b"].password == SECRET
    assert fake_keyring.calls == [("psfleet", "LAB\\admin")]


def test_keyring_without_entry(fake_keyring: FakeKeyring) -> None:
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([host(kind="keyring", ref="other")], interactive=False, env={})
    assert str(caught.value) == (
        "inv.yml:7: password_keyring: host fs01: no password in keyring service 'other' for user 'LAB\\\\admin'"
    )


def test_keyring_backend_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    import keyring.errors

    def broken(service: str, username: str) -> str:
        raise keyring.errors.NoKeyringError("no backend " + SECRET)

    monkeypatch.setattr(keyring, "get_password", broken)
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([host(kind="keyring", ref="psfleet")], interactive=False, env={})
    assert "keyring unavailable (NoKeyringError)" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_prompt_once_per_username(tty: list[str]) -> None:
    hosts = [host("a", "prompt"), host("b", "prompt"), host("c", "prompt", username="other")]
    creds = resolve_credentials(hosts, interactive=True, env={})
    assert {c.password for c in creds.values()} == {SECRET}
    assert tty == ["Password for LAB\\admin: ", "Password for other: "]


@pytest.mark.parametrize("interactive", [True, False])
def test_prompt_without_terminal(monkeypatch: pytest.MonkeyPatch, interactive: bool) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: not interactive, raising=False)
    monkeypatch.setattr(credentials.getpass, "getpass", lambda prompt="": pytest.fail("prompted"))
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([host(kind="prompt")], interactive=interactive, env={})
    assert str(caught.value) == (
        "inv.yml:7: password_prompt: host fs01: no terminal to prompt for the password of LAB\\admin; set password_env"
    )


@pytest.mark.parametrize(
    ("auth", "username", "env", "expected"),
    [
        ("kerberos", "LAB\\admin", {}, Credential("LAB\\admin", None)),
        ("certificate", None, {}, Credential(None, None)),
        ("negotiate", None, {}, Credential(None, None)),  # the caller's Kerberos ticket
        ("ntlm", None, {"PSFLEET_USERNAME": "u", "PSFLEET_PASSWORD": SECRET}, Credential("u", SECRET)),
        ("ntlm", "LAB\\admin", {"PSFLEET_PASSWORD": SECRET}, Credential("LAB\\admin", SECRET)),
    ],
)
def test_no_source_uses_psfleet_environment_defaults(
    auth: str, username: str | None, env: dict[str, str], expected: Credential
) -> None:
    h = host(username=username, transport=Transport(auth=auth))  # type: ignore[arg-type]
    assert resolve_credentials([h], interactive=False, env=env) == {"fs01": expected}


def test_no_source_and_no_default_is_an_error() -> None:
    h = host(transport=Transport(auth="ntlm"))
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([h], interactive=True, env={})
    assert str(caught.value) == (
        "inv.yml:7: password: host fs01: no password source for LAB\\admin (ntlm authentication); "
        "set password_env, password_keyring or password_prompt, or PSFLEET_PASSWORD"
    )


@pytest.mark.parametrize("render", [repr, str, lambda c: f"{c}", lambda c: repr({"h": c})])
def test_credential_never_shows_the_password(render: object) -> None:
    text = render(Credential("LAB\\admin", SECRET))  # type: ignore[operator]
    assert SECRET not in text
    assert "LAB" in text


def test_credential_is_frozen() -> None:
    cred = Credential("u", SECRET)
    with pytest.raises(AttributeError):
        cred.password = "x"  # type: ignore[misc]
