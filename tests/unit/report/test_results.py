"""The status enums every renderer reads: an error kind always maps to a host status."""

from __future__ import annotations

import pytest

from toolkit.results import ErrorKind, ErrorStatus, HostStatus


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_error_kind_is_a_host_status(kind: ErrorKind) -> None:
    status = HostStatus.from_error(kind)
    assert status is HostStatus(kind.value)
    assert not status.assessed


def test_a_status_enum_missing_an_error_kind_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="lacks the error kinds access_denied, auth_failed"):

        class Partial(ErrorStatus):
            OK = "ok"
            UNREACHABLE = "unreachable"
            TIMEOUT = "timeout"
            PROTOCOL_ERROR = "protocol_error"
            ERROR = "error"
