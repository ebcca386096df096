"""toolkit.report.jsontext writes the standard library's indented JSON, character for
character: on the renderers' documents (an audit, a probe with every section) and on the
values where encoders differ."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.report.sample import sample_run
from tests.unit.report.test_probe_render import host
from toolkit.report.jsontext import dumps_indented
from toolkit.smb.fleet import ProbeRun
from toolkit.smb.probe import DialectSigning, Smb1Support


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def _stdlib(data: Any, **kw: Any) -> str:
    return json.dumps(data, separators=(",", ": "), **{"indent": 2, "ensure_ascii": False, **kw})


def _probe_document() -> dict[str, Any]:
    hosts = (
        host("fs01", "10.0.0.1", 445, security_mode=0x03, per_dialect=(DialectSigning("3.0", True, 0x01),)),
        host("ws02", "fe80::1", 4450, security_mode=0x01, smb1=Smb1Support(True, signing_required=False)),
    )
    return ProbeRun(
        hosts, "2026-11-30T10:00:00+00:00", "2026-11-30T10:00:01+00:00", "/f.yml", "0.1"
    ).to_dict()


EDGES: dict[str, Any] = {
    "non-ASCII and escapes": {"naïve": 'Zürich \u2028 \x00 \x1f "q" \\ /', "日本": ["é", "\ud800"]},
    "numbers": [
        0,
        -1,
        2**70,
        1.5,
        -0.0,
        1e16,
        1e-7,
        3.141592653589793,
        float("nan"),
        float("inf"),
        -float("inf"),
    ],
    "enums": {Colour.RED: Colour.RED, "level": Level.HIGH, "flags": [True, False, None]},
    "non-string keys": {7: "a", 2.5: "b", True: "c", False: "f", None: "d", -3: "e"},
    "empty containers": {"d": {}, "l": [], "t": (), "nested": [[], [{}], {"x": []}]},
    "tuples and nesting": ("a", ("b", ("c", {"d": (1, 2)}))),
    "scalar at the top": "just a string",
    "empty at the top": [],
}


@pytest.mark.parametrize("data", list(EDGES.values()), ids=list(EDGES))
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_the_same_text_as_the_standard_library(data: Any, ensure_ascii: bool) -> None:
    assert dumps_indented(data, ensure_ascii=ensure_ascii) == _stdlib(data, ensure_ascii=ensure_ascii)


def test_the_renderers_documents_come_out_identical() -> None:
    for document in (sample_run().to_dict(), _probe_document()):
        assert dumps_indented(document) == _stdlib(document)
        assert dumps_indented(document, indent=4) == _stdlib(document, indent=4)
    assert '"identity": {' in dumps_indented(_probe_document())  # every probe section was compared


def test_default_turns_unknown_values_into_text_as_json_does() -> None:
    data = {"when": datetime(2026, 11, 30, tzinfo=UTC), "set": {1}}
    assert dumps_indented(data, default=str) == _stdlib(data, default=str)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indented(data)
    with pytest.raises(TypeError, match="keys must be"):
        dumps_indented({(1, 2): "tuple key"})
