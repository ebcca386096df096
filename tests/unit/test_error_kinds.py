"""Error kinds are defined once (:class:`toolkit.results.ErrorKind`) and every status enum, JSON
summary and documented list follows it.

The strings are contracts (JSON ``status``, ``error.kind`` and ``summary`` keys, in this order),
so they are written out here, on purpose, to pin them; the code derives them from the enum.
"""

from __future__ import annotations

import ast
import json
import re
from enum import StrEnum
from pathlib import Path

import pytest

from toolkit.remediate.model import RemediateStatus
from toolkit.results import CheckStatus, ErrorKind, ErrorStatus, HostStatus
from toolkit.run_command.results import RunStatus

ROOT = Path(__file__).resolve().parents[2]

KINDS = ["unreachable", "auth_failed", "timeout", "access_denied", "protocol_error", "error", "not_attempted"]


def test_the_error_kinds_are_the_documented_strings() -> None:
    assert [k.value for k in ErrorKind] == KINDS


@pytest.mark.parametrize(
    ("status", "own"),
    [
        (HostStatus, ["compliant", "drift"]),
        (RunStatus, ["ok", "command_errors"]),
        (RemediateStatus, ["compliant", "drift", "skipped", "busy"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_each_status_is_its_own_statuses_then_every_error_kind(status: type[StrEnum], own: list[str]) -> None:
    # The order is the order of the run's JSON summary.
    assert [s.value for s in status] == own + KINDS
    for kind in ErrorKind:
        assert status[kind.name].value == kind.value


def test_a_status_enum_names_only_its_own_statuses() -> None:
    class Probed(ErrorStatus):
        PROBED = "probed"

    assert [s.value for s in Probed] == ["probed", *KINDS]
    assert Probed.from_error(ErrorKind.TIMEOUT) is Probed.TIMEOUT


def test_a_status_enum_that_names_an_error_kind_itself_is_refused() -> None:
    with pytest.raises(TypeError, match="UNREACHABLE"):

        class Twice(ErrorStatus):
            OK = "ok"
            UNREACHABLE = "unreachable"


def _section(path: Path, start: str) -> str:
    text = path.read_text(encoding="utf-8")
    assert start in text, f"{path.name} no longer has {start!r}"
    return text[text.index(start) :]


def test_the_architecture_page_lists_exactly_the_error_kinds() -> None:
    section = _section(ROOT / "docs" / "architecture.md", "## Error kinds")
    rows = re.findall(r"^\| `([a-z_]+)` \|", section.split("\n## ", 1)[0], flags=re.MULTILINE)
    assert rows == KINDS


def test_the_readme_host_statuses_are_the_enum() -> None:
    sentence = _section(ROOT / "README.md", "Host statuses:").split("(", 1)[0]
    assert re.findall(r"`([a-z_]+)`", sentence) == [s.value for s in HostStatus]


def test_the_api_page_lists_every_error_kind() -> None:
    paragraph = _section(ROOT / "docs" / "api.md", "each host gets a classified error kind").split("\n\n", 1)[
        0
    ]
    assert re.findall(r"`([a-z_]+)`", paragraph) == KINDS


@pytest.mark.parametrize(
    ("doc", "schema", "status"),
    [("README.md", "psfleet.audit/1", HostStatus), ("docs/api.md", "psfleet.run/1", RunStatus)],
    ids=["audit", "run"],
)
def test_the_documented_json_summary_has_every_status(doc: str, schema: str, status: type[StrEnum]) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    blocks = [
        b for b in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL) if f'"schema": "{schema}"' in b
    ]
    assert blocks, f"no {schema} example in {doc}"
    summary = json.loads(blocks[0])["summary"]
    assert list(summary) == [s.value for s in status] + ["total"]


@pytest.mark.parametrize(
    ("doc", "row"),
    [
        ("docs/runbooks.md", "| 8 | some host not assessed ("),
        ("docs/remediation.md", "| 8 | some hosts not reached ("),
    ],
    ids=["runbooks", "remediation"],
)
def test_the_exit_code_8_rows_name_every_error_kind(doc: str, row: str) -> None:
    line = _section(ROOT / doc, row).split("\n", 1)[0]
    words = set(re.findall(r"[a-z_]+", line))
    assert [k for k in KINDS if k not in words] == []


#: The enums whose members code names as ``Enum.MEMBER``. The ErrorStatus subclasses get their
#: error-kind members at run time, so mypy accepts any name there: this test checks the names.
NAMED_ENUMS: dict[str, type] = {
    "HostStatus": HostStatus,
    "RunStatus": RunStatus,
    "RemediateStatus": RemediateStatus,
    "ErrorKind": ErrorKind,
    "CheckStatus": CheckStatus,
}


def _enum_attributes() -> list[tuple[str, int, str, str]]:
    found = []
    for folder in ("toolkit", "tests", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if not any(name in text for name in NAMED_ENUMS):
                continue
            tree = ast.parse(text)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Attribute):
                    continue
                owner = node.value
                name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
                if name in NAMED_ENUMS:
                    found.append((str(path.relative_to(ROOT)), node.lineno, name, node.attr))
    return found


def test_every_status_member_named_in_the_code_exists() -> None:
    uses = _enum_attributes()
    assert len(uses) > 100  # the scan sees the code (HostStatus.COMPLIANT and friends)
    wrong = [
        f"{path}:{line}: {enum}.{attr}"
        for path, line, enum, attr in uses
        if not hasattr(NAMED_ENUMS[enum], attr)
    ]
    assert wrong == [], "no such member:\n" + "\n".join(wrong)


def test_the_probe_statuses_are_error_kinds_of_the_same_name() -> None:
    # The unauthenticated SMB probe can only meet some kinds (no logon, no lockout guard), so
    # ProbeStatus lists its own subset (psfleet.probe/2 summary keys); each must still be a kind.
    from toolkit.smb.fleet import ProbeStatus

    errors = [s for s in ProbeStatus if s is not ProbeStatus.PROBED]
    assert [s.value for s in errors] == ["unreachable", "timeout", "protocol_error", "error"]
    assert all(ErrorKind[s.name].value == s.value for s in errors)
    assert ProbeStatus.from_error(ErrorKind.AUTH_FAILED) is ProbeStatus.ERROR
