"""Password files: a fleet sharing one file gets it read once; a bad file is one error naming
the first host that uses it, its inventory line and ``password_file``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from toolkit.errors import CredentialError
from toolkit.inventory.credentials import resolve_credentials
from toolkit.inventory.model import Host, PasswordSource, SourceRef

SECRET = "S3cr3t!pw"


def host(name: str, path: Path, line: int) -> Host:
    base = Host(name=name, address=name, username="LAB\\admin", source=SourceRef("inv.yml", line))
    return replace(base, password=PasswordSource("file", str(path)))


def secret_file(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_shared_file_is_read_once_and_each_file_gives_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = secret_file(tmp_path, "shared.pw", SECRET + "\n")
    other = secret_file(tmp_path, "other.pw", "other-pw\r\n")
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, flags: int, *args: int) -> int:
        opened.append(path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    hosts = [host(f"h{i}", shared, i) for i in range(50)] + [host("x", other, 99), host("h50", shared, 100)]
    creds = resolve_credentials(hosts, interactive=False)
    assert {c.password for name, c in creds.items() if name != "x"} == {SECRET}
    assert creds["x"].password == "other-pw"
    assert creds["h3"].username == "LAB\\admin"
    assert sorted(opened) == sorted([str(shared), str(other)])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: secret_file(d, "open.pw", SECRET, 0o640),
            "is readable by others (mode 640); chmod 600 it",
        ),
        (lambda d: secret_file(d, "empty.pw", "\n"), "is empty"),
        (lambda d: d / "missing.pw", "does not exist"),
    ],
)
def test_a_bad_file_names_the_first_host_using_it(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    hosts = [host("h1", path, 4), host("h2", path, 9)]
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(hosts, interactive=False)
    assert str(caught.value) == f"inv.yml:4: password_file: host h1: {path} {message}"
