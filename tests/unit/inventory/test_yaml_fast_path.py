"""The YAML reader's fast way (data built straight from the parser's events) gives what the full
composer gives: the same values, lines and errors, for every input; and plain inventories take it."""

from __future__ import annotations

import gc
import math
import textwrap
import threading
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit import yamlsrc
from toolkit.errors import InputError
from toolkit.inventory.vault_yaml import VaultLoader
from toolkit.yamlsrc import MAX_DEPTH, SrcDict, SrcList, loads


def shape(data: Any) -> Any:
    """Everything a reader of the data can see: values, their types, and each line."""
    if isinstance(data, SrcDict):
        return (
            "map",
            data.line,
            [(shape(k), data.key_lines[k], data.line_of(k), shape(v)) for k, v in data.items()],
        )
    if isinstance(data, SrcList):
        return ("list", data.line, data.item_lines, [shape(v) for v in data])
    if isinstance(data, float) and math.isnan(data):
        return ("nan",)
    return (type(data).__name__, data)


def full(text: str, loader_class: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """What the full composer makes of ``text``: its data, or its one-line error."""
    try:
        return shape(yamlsrc._compose_and_construct(text, "f.yml", loader_class))
    except InputError as exc:
        return ("error", str(exc))


def both(text: str, loader_class: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    try:
        got = shape(loads(text, "f.yml", loader_class=loader_class))
    except InputError as exc:
        got = ("error", str(exc))
    assert got == full(text, loader_class)
    return got


def takes_fast_way(text: str) -> bool:
    loader = yamlsrc._bounded(yaml.SafeLoader)(text)
    try:
        yamlsrc._build(loader)
    except yamlsrc._Unusual:
        return False
    finally:
        loader.dispose()
    return True


CASES = {
    "empty": "",
    "comment only": "# nothing\n",
    "explicit empty document": "---\n",
    "document end marker": "a: 1\n...\n",
    "root scalar": "just text\n",
    "root list": "- a\n- 1\n-\n- [x, {y: z}]\n",
    "every implicit type": """\
        s: text
        i: 42
        neg: -7
        octal: 0o17
        old_octal: 017
        hex: 0x1F
        sexagesimal: 1:30
        f: 1.5
        exp: 1e3
        inf: .inf
        nan: .nan
        t: true
        y: yes
        off: off
        n: ~
        null_word: null
        empty:
        date: 2024-01-02
        stamp: 2024-01-02 03:04:05
        q1: '42'
        q2: "true"
        q3: "tab\\tnewline\\n"
        """,
    "block scalars": "a: |\n  line 1\n  line 2\nb: >\n  folded\n  text\nc: end\n",
    "flow collections": "a: {b: 1, c: [2, 3, {d: e}]}\nf: []\ng: {}\n",
    "nested lines": "hosts:\n  h1:\n    address: 10.0.0.1\n    groups: [a,\n      b]\n  h2: {}\n",
    "non-string keys": "1: one\nfalse: no\n~: none\n2024-01-02: day\n1.5: x\n",
    "anchor and alias": "d: &d {auth: ntlm}\nh: *d\n",
    "merge key": "d: &d {auth: ntlm, port: 1}\nh:\n  <<: *d\n  port: 2\n",
    "merge key list": "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n",
    "quoted merge key": "'<<': not a merge\n",
    "value key": "=: x\n",
    "value as value": "a: =\n",
    "tag": "a: !!str 42\n",
    "custom tag": "a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
    "non-specific tag": "a: ! 42\n",
    "set": "s: !!set {a, b}\n",
    "omap": "o: !!omap [a: 1, b: 2]\n",
    "binary": "b: !!binary aGVsbG8=\n",
    "duplicate key": "hosts:\n  a: 1\n  a: 2\n",
    "duplicate key, then a syntax error": "a: 1\na: 2\nb: [\n",
    "duplicate merged key": "d: &d {a: 1}\nh: {<<: *d, a: 2}\n",
    "duplicate nan keys": ".nan: 1\n.nan: 2\n",
    "equal int and bool keys": "1: a\ntrue: b\n",
    "mapping as key": "? {a: 1}\n: x\n",
    "list as key": "? [a]\n: x\n",
    "complex plain key": "? a\n: b\n",
    "syntax error": "a: b: c\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "unclosed quote": "a: 'open\n",
    "unclosed flow": "a: [1, 2\n",
    "tab": "a:\n\tb: 1\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "two documents, second empty": "a: 1\n---\n",
    "undefined alias": "a: *nowhere\n",
    "recursive alias": "a: &a [*a]\n",
    "alias bomb": 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)),
    "directive": "%YAML 1.1\n---\na: 1\n",
    "tag directive": "%TAG !e! tag:example.com,2000:\n---\na: 1\n",
    "control character": "a: \x07\n",
    "byte order mark": "\ufeffa: 1\n",
    "unicode": "name: Zoë\n'ключ': 值\n",
    "long line numbers": "\n" * 5000 + "a:\n" + "\n" * 300 + "  b: [1,\n\n 2]\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=list(CASES))
def test_the_fast_way_gives_what_the_full_composer_gives(text: str) -> None:
    both(textwrap.dedent(text))


@pytest.mark.parametrize("text", CASES.values(), ids=list(CASES))
def test_ansibles_loader_too(text: str) -> None:
    both(textwrap.dedent(text), VaultLoader)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 5])
@pytest.mark.parametrize("style", ["flow list", "flow map", "block map"])
def test_nesting_at_the_bound(depth: int, style: str) -> None:
    if style == "flow list":
        text = "[" * depth + "x" + "]" * depth
    elif style == "flow map":
        text = "{a: " * depth + "x" + "}" * depth
    else:
        text = "".join(" " * i + "a:\n" for i in range(depth)) + " " * depth + "x\n"
    got = both(text)
    assert (got[0] == "error") == (depth >= MAX_DEPTH)  # the innermost value sits at level ``depth``


def test_a_plain_inventory_takes_the_fast_way() -> None:
    lines = ["psfleet: 1", "defaults:", "  username: admin", "hosts:"]
    for i in range(50):
        lines += [
            f'  "h{i:03d}":',
            f'    address: "127.10.0.{i + 1}"',
            "    port: 5985",
            "    auth: negotiate",
        ]
    text = "\n".join(lines) + "\n"
    assert takes_fast_way(text)
    data = both(text)
    hosts = data[2][2][3]  # the value of the third top key
    assert hosts[2][7] == (("str", "h007"), 33, 33, ("map", 34, [
        (("str", "address"), 34, 34, ("str", "127.10.0.8")),
        (("str", "port"), 35, 35, ("int", 5985)),
        (("str", "auth"), 36, 36, ("str", "negotiate")),
    ]))  # fmt: skip


@pytest.mark.parametrize("name", ["anchor and alias", "merge key", "tag", "duplicate key", "two documents"])
def test_what_the_fast_way_leaves_to_the_full_composer(name: str) -> None:
    assert not takes_fast_way(textwrap.dedent(CASES[name]))


def test_errors_name_the_line_on_both_ways() -> None:
    text = "hosts:\n  a:\n    port: 1\n    port: 2\n"
    with pytest.raises(InputError) as caught:
        loads(text, "inv.yml")
    assert str(caught.value) == "inv.yml:4: port: duplicate key 'port'"


def test_the_garbage_collector_is_paused_while_loading_and_restored() -> None:
    seen: list[bool] = []
    real = yamlsrc._build

    def spy(loader: Any) -> Any:
        seen.append(gc.isenabled())
        return real(loader)

    yamlsrc._build = spy
    try:
        assert gc.isenabled()
        loads("a: 1\n", "f.yml")
        assert seen == [False]
        assert gc.isenabled()
        gc.disable()
        try:
            loads("a: 1\n", "f.yml")
            assert not gc.isenabled()  # a caller's choice is kept
        finally:
            gc.enable()
    finally:
        yamlsrc._build = real


def test_pauses_nest_across_threads() -> None:
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with yamlsrc.gc_paused():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    inside.wait(10)
    with yamlsrc.gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread still holds its pause
    leave.set()
    worker.join(10)
    assert gc.isenabled()


keys = st.one_of(
    st.text(alphabet="abcxyz_-<=&*!:#'\" 01.", min_size=1, max_size=6),
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.sampled_from(
            ["yes", "no", "~", "0o7", "0x1f", "1:20", "2024-05-06", ".NaN", "=", "<<", "*a", "&a x"]
        ),
    ),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=values, flow=st.sampled_from([None, True, False]), width=st.sampled_from([20, 80]))
def test_any_dumped_data_reads_the_same_both_ways(data: Any, flow: bool | None, width: int) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, width=width, allow_unicode=True)
    both(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet="ab1: -[]{},&*!<=?'\"#\n\t.~|>", max_size=40))
def test_any_text_reads_the_same_both_ways(text: str) -> None:
    both(text)
