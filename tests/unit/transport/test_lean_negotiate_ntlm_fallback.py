"""The lean client's Negotiate keeps NTLM, with the inventory's password, as its fallback when
Kerberos cannot be used for a host (no ticket for its SPN, a KDC that does not know the SPN), as
Windows' client and the pypsrp path do. pyspnego drops a credential whose protocols an earlier one
already covers: a ticket-cache credential ahead of the NTLM hash claimed NTLM too (from
NTLM_USER_FILE), and a host without Kerberos then failed to authenticate at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.transport.lean import auth as lean_auth


def test_negotiate_falls_back_to_ntlm_with_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-such.ccache'}")  # Kerberos cannot start
    monkeypatch.delenv("NTLM_USER_FILE", raising=False)
    context = lean_auth.client_context(
        "negotiate", "admin", "Adm1n-Lab!", hostname="127.0.0.1", service="host", encrypt=True
    )
    token = context.step()
    assert b"NTLMSSP\x00\x01\x00\x00\x00" in token  # an SPNEGO NegTokenInit carrying NTLM's NEGOTIATE
