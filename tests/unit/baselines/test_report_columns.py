"""Reports of a run judged against another baseline show its checks, not empty columns of the
default one."""

from __future__ import annotations

from toolkit.report.model import check_ids
from toolkit.results import AuditRun, CheckResult, CheckStatus, HostResult, HostStatus


def _run(*ids: str) -> AuditRun:
    checks = tuple(
        CheckResult(i, "x", "y", CheckStatus.COMPLIANT, "r", "windows-facts#rsn-value") for i in ids
    )
    host = HostResult(name="h", address="h", status=HostStatus.COMPLIANT, checks=checks)
    return AuditRun(hosts=(host,), started="s", finished="f", inventory="i", version="v")


PREFERRED = ("secure_negotiate", "client_signing", "server_signing")


def test_columns_follow_the_checks_that_were_judged() -> None:
    assert check_ids(_run("smb1_server", "client_signing"), PREFERRED) == (*PREFERRED, "smb1_server")
    assert check_ids(_run("smb1_server", "smb_encryption"), PREFERRED) == ("smb1_server", "smb_encryption")
    assert check_ids(_run(), PREFERRED) == PREFERRED  # nobody assessed: the default's columns
