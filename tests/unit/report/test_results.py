"""The status enums every renderer reads: an error kind always maps to a host status."""

from __future__ import annotations

import pytest

from toolkit.results import ErrorKind, HostStatus


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_error_kind_is_a_host_status(kind: ErrorKind) -> None:
    status = HostStatus.from_error(kind)
    assert status is HostStatus(kind.value)
    assert not status.assessed
