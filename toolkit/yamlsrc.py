"""YAML loading that remembers where things came from, for one-line errors with a line number.

``load(path)`` returns plain Python data in which every mapping is a :class:`SrcDict` and every
list a :class:`SrcList`; both know the line they start on and the line of each key or item.
Duplicate keys and YAML syntax errors raise :class:`toolkit.errors.InputError` with the line.

Aliases are bounded: a few hundred bytes of nested aliases (``b: [*a, *a, ...]``, each level
multiplying the last) would otherwise expand into hundreds of millions of nodes. Every use of
an alias adds the size of the node it names; past :data:`MAX_ALIAS_NODES` the file is refused
at once, naming the line of that alias. Recursive aliases and nesting past
:data:`MAX_DEPTH` are refused too.

Where PyYAML was built with libyaml, libyaml's C parser reads the text into events (most of
the time of a load) and the bounded composer above builds the nodes from them in Python, so
the bounds hold on both paths.

Most files (every inventory a lab or a script writes) have no anchor, alias, tag or merge key:
for them :func:`loads` builds the data straight from the parser's events in one loop, without
nodes (about 3x faster, and the cyclic garbage collector is paused meanwhile: at 10,000 hosts
its passes over the growing data cost as much again). At the first thing that loop does not
handle (an anchor, an alias, a tag, a merge key, a duplicate or non-plain key, nesting past
:data:`MAX_DEPTH`, any error) the text is read again by the full composer above, so results,
bounds and error messages are the same on both ways.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from toolkit.errors import InputError

CParser: Any = None  # libyaml's parser (events); PyYAML without libyaml parses in Python
if getattr(yaml, "__with_libyaml__", False):
    import yaml.cyaml

    CParser = getattr(yaml.cyaml, "CParser", None)  # not re-exported for type checkers

#: Nodes that aliases may add to a document in all (a merge key ``<<: *defaults`` on each of
#: 10,000 hosts stays well below it; an alias bomb passes it within a few levels).
MAX_ALIAS_NODES = 200_000
#: Nested collections deeper than this are refused (the composer and the constructor recurse).
MAX_DEPTH = 200
#: Input files (inventories, lab specs, config) larger than this are refused before parsing:
#: 16 MiB holds far more than 10,000 hosts, and a wrong path (a log, /dev/zero) costs no memory.
MAX_FILE_BYTES = 16 * 1024 * 1024


def read_bounded(path: Path, error: type[InputError] = InputError) -> str:
    """A UTF-8 text file read with :data:`MAX_FILE_BYTES` as the bound; problems raise ``error``
    naming the file (missing, a directory, unreadable, too large, not UTF-8)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise error("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise error("is a directory, not a file", file=str(path)) from None
    except PermissionError:
        raise error("cannot read: permission denied", file=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", file=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


class SrcDict(dict[Any, Any]):
    """A dict that knows its own line and each key's line (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class SrcList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class _Bounds:
    """Mixed into the loader class: counts what aliases expand to and how deep collections
    nest, raising :class:`InputError` with the line (see the module docstring)."""

    file = ""
    anchors: dict[Any, yaml.Node]

    def __init__(self, text: str) -> None:
        self.sizes: dict[int, int] = {}  # id(node) -> nodes in its expansion, once composed
        self.expanded = 0
        self.depth = 0
        super().__init__(text)  # type: ignore[call-arg]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        compose = super().compose_node  # type: ignore[misc]
        event = self.peek_event()  # type: ignore[attr-defined]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self.sizes.get(id(target))
                if size is None:
                    raise InputError(
                        f"alias *{event.anchor} is inside the node it names (recursive)",
                        file=self.file,
                        line=line,
                    )
                self.expanded += size
                if self.expanded > MAX_ALIAS_NODES:
                    raise InputError(
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (at *{event.anchor}); "
                        "write the values out instead",
                        file=self.file,
                        line=line,
                    )
            return compose(parent, index)  # type: ignore[no-any-return]
        if self.depth >= MAX_DEPTH:
            raise InputError(f"collections nested more than {MAX_DEPTH} deep", file=self.file, line=line)
        self.depth += 1
        try:
            node: yaml.Node = compose(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.SequenceNode):
            self.sizes[id(node)] = 1 + sum(self.sizes.get(id(n), 1) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            self.sizes[id(node)] = 1 + sum(
                self.sizes.get(id(k), 1) + self.sizes.get(id(v), 1) for k, v in node.value
            )
        else:
            self.sizes[id(node)] = 1
        return node


_BOUNDED: dict[type[yaml.SafeLoader], type[yaml.SafeLoader]] = {}


def _c_init(self: Any, stream: str) -> None:
    """A loader whose events come from libyaml and whose nodes come from :class:`_Bounds`."""
    CParser.__init__(self, stream)
    SafeConstructor.__init__(self)
    Resolver.__init__(self)
    Composer.__init__(self)


#: The composer's methods on a class of their own, placed ahead of libyaml's parser (which
#: composes in C, without the bounds) in a loader's method order.
_PyComposer: type = type(
    "_PyComposer",
    (),
    {"__init__": _c_init} | {k: v for k, v in vars(Composer).items() if not k.startswith("__")},
)


def _bounded(loader_class: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """``loader_class`` with :class:`_Bounds` mixed in (one class per loader class); its
    reader, scanner and parser are libyaml's where PyYAML has it."""
    if loader_class not in _BOUNDED:
        name = f"Bounded{loader_class.__name__}"
        if CParser is None:
            _BOUNDED[loader_class] = type(name, (_Bounds, loader_class), {})
        else:
            _BOUNDED[loader_class] = type(name, (_Bounds, _PyComposer, CParser, loader_class), {})
    return _BOUNDED[loader_class]


def _construct(node: yaml.Node, loader: yaml.SafeLoader, file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out = SrcDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, loader, file)
            if isinstance(key, dict | list):
                raise InputError(
                    "a mapping key must be a plain value", file=file, line=key_node.start_mark.line + 1
                )
            if key in out:
                raise InputError(
                    f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1, field=str(key)
                )
            out[key] = _construct(value_node, loader, file)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        lst = SrcList(_construct(n, loader, file) for n in node.value)
        lst.line = node.start_mark.line + 1
        lst.item_lines = [n.start_mark.line + 1 for n in node.value]
        return lst
    return loader.construct_object(node, deep=True)


class _Unusual(Exception):
    """Raised inside :func:`_build` for anything only the full composer handles."""


_STR_TAG = "tag:yaml.org,2002:str"
#: Scalar tags whose constructors return immutable values (one object per distinct text).
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)


def _build(loader: Any) -> Any:
    """The document's data straight from ``loader``'s events (see the module docstring);
    raises :class:`_Unusual` (or the parser's error) where the full composer must decide."""
    get_event = loader.get_event
    resolve = loader.resolve
    constructors = loader.yaml_constructors
    plain_str = constructors.get(_STR_TAG) is SafeConstructor.construct_yaml_str
    scalars: dict[tuple[Any, str], Any] = {}  # (implicit, text) -> value
    get_event()  # StreamStartEvent
    event = get_event()
    if isinstance(event, yaml.StreamEndEvent):
        return None
    # Each open collection: [the SrcDict or SrcList, is a mapping, the pending key, its line].
    stack: list[list[Any]] = []
    root: Any = None
    no_key = stack  # a sentinel no key can equal
    while True:
        event = get_event()
        kind = event.__class__
        if kind is yaml.ScalarEvent:
            if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                raise _Unusual
            implicit = event.implicit
            cache_key = (implicit, event.value)
            if cache_key in scalars:
                value = scalars[cache_key]
            else:
                text = event.value
                tag = resolve(yaml.ScalarNode, text, implicit)
                if tag not in _PLAIN_TAGS:  # merge keys (<<), value keys (=)
                    raise _Unusual
                if tag == _STR_TAG and plain_str:
                    value = text
                else:
                    mark = event.start_mark
                    node = yaml.ScalarNode(tag, text, mark, event.end_mark, event.style)
                    value = constructors[tag](loader, node)
                scalars[cache_key] = value
            new: Any = None
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                raise _Unusual
            if kind is yaml.MappingStartEvent:
                value = new = SrcDict()
                new.key_lines = {}
            else:
                value = new = SrcList()
                new.item_lines = []
            new.line = event.start_mark.line + 1
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            stack.pop()
            if stack:
                continue
            break
        else:  # aliases; document ends come after the root's end event
            raise _Unusual
        line = event.start_mark.line + 1
        if stack:
            top = stack[-1]
            if top[1]:  # a mapping: a key, or the value of the pending key
                if top[2] is no_key:
                    if new is not None or value in top[0]:  # a collection as a key, a duplicate
                        raise _Unusual
                    top[2] = value
                    top[3] = line
                else:
                    top[0][top[2]] = value
                    top[0].key_lines[top[2]] = top[3]
                    top[2] = no_key
            else:
                top[0].append(value)
                top[0].item_lines.append(line)
        else:
            root = value
        if new is not None:
            stack.append([new, kind is yaml.MappingStartEvent, no_key, 0])
        elif not stack:
            break
    if not isinstance(get_event(), yaml.DocumentEndEvent) or not isinstance(get_event(), yaml.StreamEndEvent):
        raise _Unusual  # a second document: the full composer says so
    return root


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while building large acyclic data (it would walk
    everything allocated so far again and again); thread-safe, nests, restores its state."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


#: PyYAML's parser words -> what a person reads (first match wins; checked in this order).
_PROBLEMS: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed",
        "a ':' where no 'key: value' can start (check the indentation, or quote a value that holds ': ')",
    ),
    ("could not find expected ':'", "expected 'key: value', but the ':' is missing"),
    (
        "cannot start any token",
        "a character that cannot begin a value (a tab? YAML indents with spaces; quote values starting with @ or `)",
    ),
    ("did not find expected key", "this line's indentation does not match the lines above"),
    ("expected <block end>", "this line's indentation does not match the lines above"),
    ("did not find expected '-' indicator", "expected a list item ('- ...') at this indentation"),
    ("found unexpected end of stream", "a quote or bracket is never closed before the end of the file"),
    ("found undefined alias", "an alias (*name) names no anchor (&name)"),
    ("expected ',' or ']'", "a [list] is not closed (expected ',' or ']')"),
    ("expected ',' or '}'", "a {mapping} is not closed (expected ',' or '}')"),
    ("found duplicate anchor", "the same anchor (&name) is defined twice"),
)


def readable_problem(problem: str, context: str = "") -> str:
    """PyYAML's problem text in words a person reads (the original when none fits)."""
    for words, readable in _PROBLEMS:
        if words in problem or (not problem and words in context):
            return readable
    return problem or context or "not valid YAML"


def loads(text: str, file: str, *, loader_class: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """Parse YAML text; errors name ``file`` and the line. ``loader_class`` (a SafeLoader
    subclass) may add constructors for more tags (Ansible's ``!vault``)."""
    with gc_paused():
        try:
            fast = _bounded(loader_class)(text)
        except yaml.YAMLError:
            pass  # the full path below reports it
        else:
            try:
                return _build(fast)
            except Exception:  # the full path below decides, errors included
                pass
            finally:
                fast.dispose()
        return _compose_and_construct(text, file, loader_class)


def _compose_and_construct(text: str, file: str, loader_class: type[yaml.SafeLoader]) -> Any:
    try:
        loader = _bounded(loader_class)(text)
        loader.file = file  # type: ignore[attr-defined]
    except yaml.YAMLError as exc:  # the reader rejects control characters up front
        raise InputError(f"invalid YAML: {' '.join(str(exc).split())}", file=file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _construct(node, loader, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        where = f" at column {mark.column + 1}" if mark is not None else ""
        problem = readable_problem(exc.problem or exc.context or "", exc.context or "")
        raise InputError(f"invalid YAML{where}: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()


def load(path: str | Path) -> Any:
    """Read and parse a YAML file; unreadable or non-UTF-8 files raise InputError."""
    p = Path(path)
    return loads(read_bounded(p), str(p))
