"""Find each host's username and password, from where the inventory says, never from it.

Sources, per host (``Host.password``):

* ``env`` (``password_env: VAR``): the environment variable VAR; missing or empty is an error
  that names the variable and the host's inventory line, never a value;
* ``keyring`` (``password_keyring: SERVICE``): ``keyring.get_password(SERVICE, username)``;
* ``prompt`` (``password_prompt: true``): asked on the terminal with getpass, once per distinct
  username, only when ``interactive`` and stdin is a TTY;
* ``none``: no source in the inventory. The username then defaults to ``PSFLEET_USERNAME`` and
  the password to ``PSFLEET_PASSWORD``. Kerberos and certificate authentication need no
  password; Negotiate without any username uses the caller's Kerberos ticket. Any other case
  without a password is an error.

Each lookup happens once per run (one keyring read per service and user, one prompt per user).
Not thread-safe: resolve credentials before starting worker threads.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from toolkit.errors import CredentialError
from toolkit.inventory.model import Host

ENV_USERNAME = "PSFLEET_USERNAME"
ENV_PASSWORD = "PSFLEET_PASSWORD"
_NO_PASSWORD_AUTH = ("kerberos", "certificate")


@dataclass(frozen=True)
class Credential:
    """A username and password. ``repr()``/``str()`` never show the password."""

    username: str | None
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        shown = "set" if self.password is not None else "none"
        return f"Credential(username={self.username!r}, password=<{shown}>)"

    __str__ = __repr__


class _Resolver:
    def __init__(self, *, interactive: bool, env: Mapping[str, str]) -> None:
        self.interactive = interactive
        self.env = env
        self.prompted: dict[str, str] = {}
        self.keyring_cache: dict[tuple[str, str], str] = {}
        #: Password files read so far: a fleet usually shares one (1,000 hosts, one read).
        self.file_cache: dict[str, str] = {}

    def error(self, host: Host, field_name: str, message: str) -> CredentialError:
        source = host.source
        return CredentialError(
            f"host {host.name}: {message}",
            file=source.file if source else None,
            line=source.line if source else None,
            field=field_name,
        )

    def resolve(self, host: Host) -> Credential:
        username = host.username or self.env.get(ENV_USERNAME) or None
        kind, ref = host.password.kind, host.password.ref
        if kind == "env":
            value = self.env.get(ref)
            if not value:
                state = "is empty" if value == "" else "is not set"
                raise self.error(host, "password_env", f"environment variable {ref} {state}")
            return Credential(username, value)
        if kind == "file":
            if ref not in self.file_cache:
                self.file_cache[ref] = self.from_file(host, ref)
            return Credential(username, self.file_cache[ref])
        if kind == "inventory" and host.password.secret is not None:
            return Credential(username, host.password.secret)  # an Ansible ansible_password
        if kind == "keyring":
            return Credential(username, self.from_keyring(host, ref, username))
        if kind == "prompt":
            return Credential(username, self.prompt(host, username))
        if host.transport.auth in _NO_PASSWORD_AUTH:
            return Credential(username, None)
        fallback = self.env.get(ENV_PASSWORD)
        if fallback:
            return Credential(username, fallback)
        if username is None and host.transport.auth == "negotiate":
            return Credential(None, None)  # the caller's Kerberos ticket
        raise self.error(
            host,
            "password",
            f"no password source for {username or 'the user'} ({host.transport.auth} authentication); "
            f"set password_env, password_keyring or password_prompt, or {ENV_PASSWORD}",
        )

    def from_keyring(self, host: Host, service: str, username: str | None) -> str:
        if username is None:
            raise self.error(host, "password_keyring", "a keyring password needs a username")
        key = (service, username)
        if key not in self.keyring_cache:
            try:
                import keyring

                password = keyring.get_password(service, username)
            except Exception as exc:  # any backend failure (locked, no backend) is a credential problem
                raise self.error(
                    host, "password_keyring", f"keyring unavailable ({type(exc).__name__})"
                ) from None
            if password is None:
                raise self.error(
                    host,
                    "password_keyring",
                    f"no password in keyring service {service!r} for user {username!r}",
                )
            self.keyring_cache[key] = password
        return self.keyring_cache[key]

    def from_file(self, host: Host, path: str) -> str:
        """A password file must be private, like an ssh key: owned by the current user (or
        root) and without group/other permission bits. Checked on the opened file, so a
        rename between the check and the read cannot slip another file in."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise self.error(host, "password_file", f"{path} does not exist") from None
        except OSError as exc:
            raise self.error(host, "password_file", f"cannot read {path} ({type(exc).__name__})") from None
        with os.fdopen(fd, encoding="utf-8") as f:
            st = os.fstat(f.fileno())
            if st.st_uid not in (os.geteuid(), 0):
                raise self.error(
                    host,
                    "password_file",
                    f"{path} is owned by another user (uid {st.st_uid}); it must belong to you or root",
                )
            if st.st_mode & 0o077:
                raise self.error(
                    host,
                    "password_file",
                    f"{path} is readable by others (mode {st.st_mode & 0o777:o}); chmod 600 it",
                )
            try:
                value = f.read().rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise self.error(
                    host, "password_file", f"cannot read {path} ({type(exc).__name__})"
                ) from None
        if not value:
            raise self.error(host, "password_file", f"{path} is empty")
        return value

    def prompt(self, host: Host, username: str | None) -> str:
        if username is None:
            raise self.error(host, "password_prompt", "a password prompt needs a username")
        if username not in self.prompted:
            if not (self.interactive and sys.stdin is not None and sys.stdin.isatty()):
                raise self.error(
                    host,
                    "password_prompt",
                    f"no terminal to prompt for the password of {username}; set password_env",
                )
            self.prompted[username] = ask_password(username)
        return self.prompted[username]


def ask_password(username: str) -> str:
    """The password of ``username``, typed on the terminal without echo: the one place psfleet
    reads a password from a person (inventory prompts, ``diagnose --username``)."""
    return getpass.getpass(f"Password for {username}: ")


def resolve_credentials(
    hosts: Iterable[Host], *, interactive: bool, env: Mapping[str, str] = os.environ
) -> dict[str, Credential]:
    """``{host name: Credential}`` for every host; raises :class:`CredentialError` at the first gap.

    ``interactive`` allows getpass prompts (the CLI passes False for ``--format json`` and
    ``--no-input``). Error messages name the host, its inventory file and line, and the
    variable or service to fix; they never contain a password.
    """
    resolver = _Resolver(interactive=interactive, env=env)
    return {host.name: resolver.resolve(host) for host in hosts}
