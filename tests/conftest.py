"""Session-wide test settings."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _quiet_kerberos_defaults() -> Iterator[None]:
    """Debian's krb5-user writes /etc/krb5.conf with the ATHENA.MIT.EDU realm; with Kerberos
    libraries installed, a Negotiate client would first wait on that unreachable KDC. Tests that
    want Kerberos set their own KRB5_CONFIG (tests/support/kdc.py)."""
    if "KRB5_CONFIG" in os.environ:
        yield
        return
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("[libdefaults]\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n")
    os.environ["KRB5_CONFIG"] = f.name
    os.environ.setdefault("PSFLEET_NO_PROGRESS", "1")
    try:
        yield
    finally:
        os.environ.pop("KRB5_CONFIG", None)
        os.unlink(f.name)


@pytest.fixture(scope="session", autouse=True)
def _private_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs the tests make are recorded in a database of the test session, never in the
    user's compliance store (~/.local/state/psfleet/psfleet.db). Tests of the store set their
    own ``PSFLEET_DB``."""
    if "PSFLEET_DB" in os.environ:
        yield
        return
    os.environ["PSFLEET_DB"] = str(tmp_path_factory.mktemp("store") / "psfleet.db")
    try:
        yield
    finally:
        os.environ.pop("PSFLEET_DB", None)
