"""Fixtures for Kerberos tests against a real MIT KDC (tests/support/kdc.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# This folder has no __init__.py (a package named "kerberos" would shadow the PyPI one);
# the repo root is on sys.path through pyproject's pytest pythonpath.
from tests.support.kdc import LAB_HOST, ExpiringTicket, Kdc, kdc
from toolkit.lab.kerberos import (
    KerberosAcceptor,
    KerberosAcceptorConfig,
    kerberos_unavailable_reason,
)

__all__ = ["kdc"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = kerberos_unavailable_reason()
    if reason is None:
        return
    for item in items:
        if "kerberos" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def krb_env(kdc: Kdc, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kdc]:
    """The KDC's krb5.conf, admin ccache and replay-cache dir in os.environ for one test.

    MIT krb5 reads these variables each time a context is made, so setting them per test works.
    KRB5_KTNAME is left unset on purpose: the acceptor must use its own keytab.
    """
    for name, value in kdc.environ.items():
        if name != "KRB5_KTNAME":
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("KRB5_KTNAME", raising=False)
    monkeypatch.delenv("NTLM_USER_FILE", raising=False)
    yield kdc


@pytest.fixture(scope="session")
def host_keytab(kdc: Kdc) -> Path:
    """lab-02's own keytab: only HTTP/lab-02... and host/lab-02..., like a machine account's."""
    return kdc.host_keytab(LAB_HOST, kdc.root / "lab-02.keytab")


@pytest.fixture
def acceptor(krb_env: Kdc, host_keytab: Path) -> KerberosAcceptor:
    return KerberosAcceptor(KerberosAcceptorConfig(keytab=host_keytab, hostname=LAB_HOST))


@pytest.fixture(scope="session")
def expiring_ticket(kdc: Kdc) -> ExpiringTicket:
    return kdc.expiring_ticket(kdc.root / "expiring.ccache")
