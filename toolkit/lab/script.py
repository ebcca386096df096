"""Parser for the one-line scripts the lab accepts (``PowerShell.AddScript`` text).

Supported: cmdlet statements with literal arguments only: 'single' and "double" quoted
strings (without ``$`` expansion), barewords, numbers (Int32, then Int64, then Double; hex
``0xFFFFFFFF`` is Int32 -1 as in Windows PowerShell 5.1), ``$true``/``$false``/``$null``,
comma arrays, ``@(...)`` arrays, ``@{k=v; ...}`` hashtables, ``-Param``, ``-Param:value``,
statements separated by ``;`` or newlines, ``|`` pipelines, ``#`` comments.

Anything else (variables, subexpressions, script blocks, parentheses, casts, redirection,
keywords) raises :class:`ScriptParseError`; the host reports it as a terminating parse error,
so nothing from that script runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psrpcore.types import PSDouble, PSInt, PSInt64

SUPPORTED = (
    "The psfleet lab runs only cmdlet statements with literal arguments: quoted strings, "
    "barewords, numbers, $true/$false/$null, comma or @() arrays, @{} hashtables, "
    "-Param value, -Param:value and -Switch, separated by ';' or '|'."
)

_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_DOUBLE_QUOTES = '"\u201c\u201d\u201e'
_DASHES = "-\u2013\u2014\u2015"
_BAREWORD_STOP = set(" \t\r\n;|,(){}")
_KEYWORDS = {
    "if", "else", "elseif", "foreach", "for", "while", "do", "switch", "function", "filter",
    "try", "catch", "finally", "trap", "return", "throw", "break", "continue", "exit", "param",
    "begin", "process", "end", "class", "enum", "using", "workflow", "data",
}  # fmt: skip
_COMMAND_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
_PARAM_NAME = re.compile(r"[A-Za-z_?][\w]*")
_INT = re.compile(r"^[+-]?\d+$")
_HEX = re.compile(r"^([+-]?)0x([0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ScriptParseError(Exception):
    """A script the lab cannot (or PowerShell would not) parse.

    ``error_id`` is the FullyQualifiedErrorId: a PowerShell parser id for real syntax errors
    (``TerminatorExpectedAtEndOfString``), ``LabUnsupportedSyntax`` for valid PowerShell the lab
    does not run. ``column`` is 1-based.
    """

    def __init__(self, message: str, *, error_id: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.column = column


@dataclass(frozen=True)
class ParamToken:
    """``-Name`` (``value`` is ``NO_VALUE``) or ``-Name:value``."""

    name: str
    value: Any
    column: int


@dataclass(frozen=True)
class ArgToken:
    value: Any
    column: int


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class ScriptCommand:
    name: str
    elements: tuple[ParamToken | ArgToken, ...]
    column: int


@dataclass(frozen=True)
class Statement:
    commands: tuple[ScriptCommand, ...]


@dataclass(frozen=True)
class Script:
    text: str
    statements: tuple[Statement, ...]


def parse(text: str) -> Script:
    """Parse ``text``; raises :class:`ScriptParseError` on anything outside the subset."""
    return Script(text, _Parser(text).script())


def number_value(token: str) -> Any:
    """The typed value of a numeric literal, or None when ``token`` is not a number."""
    hex_match = _HEX.match(token)
    if hex_match:
        value = int(hex_match.group(2), 16)
        # Windows PowerShell 5.1: a hex literal that fits 32 bits is an Int32 (0xFFFFFFFF = -1).
        if value <= 0xFFFFFFFF:
            value = value - 2**32 if value > _INT32_MAX else value
            return PSInt(-value if hex_match.group(1) == "-" else value)
        if value <= 0xFFFFFFFFFFFFFFFF:
            value = value - 2**64 if value > _INT64_MAX else value
            return PSInt64(-value if hex_match.group(1) == "-" else value)
        return None
    if _INT.match(token):
        value = int(token)
        if _INT32_MIN <= value <= _INT32_MAX:
            return PSInt(value)
        if _INT64_MIN <= value <= _INT64_MAX:
            return PSInt64(value)
        return PSDouble(float(value))
    if _FLOAT.match(token):
        return PSDouble(float(token))
    return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- helpers ---------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def column(self) -> int:
        return self.pos + 1

    def unsupported(self, what: str, column: int | None = None) -> ScriptParseError:
        return ScriptParseError(
            f"{what} is not supported by the lab. {SUPPORTED}",
            error_id="LabUnsupportedSyntax",
            column=column if column is not None else self.column(),
        )

    def skip_spaces(self, *, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t" or (newlines and ch in "\r\n"):
                self.pos += 1
            elif ch == "`" and self.peek(1) in ("\n", "\r"):
                self.pos += 2  # line continuation
            elif ch == "#":
                while self.pos < len(self.text) and self.text[self.pos] not in "\r\n":
                    self.pos += 1
            else:
                break

    # -- grammar ---------------------------------------------------------------------------
    def script(self) -> tuple[Statement, ...]:
        statements: list[Statement] = []
        while True:
            self.skip_spaces(newlines=True)
            if self.pos >= len(self.text):
                break
            if self.peek() == ";":
                self.pos += 1
                continue
            statements.append(self.statement())
            self.skip_spaces()
            ch = self.peek()
            if ch in (";", "\n", "\r"):
                self.pos += 1
            elif ch:
                raise self.unexpected(ch)
        return tuple(statements)

    def unexpected(self, ch: str) -> ScriptParseError:
        if ch in "()":
            return self.unsupported("A parenthesised expression")
        if ch in "{}":
            return self.unsupported("A script block")
        if ch == ",":
            return ScriptParseError(
                "Missing argument in parameter list.", error_id="MissingArgument", column=self.column()
            )
        return ScriptParseError(
            f"Unexpected token '{ch}' in expression or statement.",
            error_id="UnexpectedToken",
            column=self.column(),
        )

    def statement(self) -> Statement:
        commands = [self.command()]
        while True:
            self.skip_spaces()
            if self.peek() != "|":
                break
            self.pos += 1
            if self.peek() == "|":
                raise self.unsupported("The '||' operator", self.column() - 1)
            self.skip_spaces(newlines=True)
            if self.pos >= len(self.text) or self.peek() in ";|":
                raise ScriptParseError(
                    "An empty pipe element is not allowed.", error_id="EmptyPipeElement", column=self.column()
                )
            commands.append(self.command())
        return Statement(tuple(commands))

    def command(self) -> ScriptCommand:
        column = self.column()
        ch = self.peek()
        if ch == "$":
            raise self.unsupported("A variable or expression statement")
        if ch in _SINGLE_QUOTES or ch in _DOUBLE_QUOTES:
            raise self.unsupported("A string expression statement")
        if ch == "&":
            raise self.unsupported("The call operator '&'")
        if ch == "." and self.peek(1) in (" ", "\t"):
            raise self.unsupported("Dot-sourcing")
        if ch in "({[@":
            raise self.unsupported("An expression statement")
        word = self.bareword()
        if word.lower() in _KEYWORDS:
            raise self.unsupported(f"The '{word}' keyword", column)
        if not _COMMAND_NAME.match(word) or number_value(word) is not None:
            raise self.unsupported(f"The expression '{word}'", column)
        elements: list[ParamToken | ArgToken] = []
        while True:
            self.skip_spaces()
            ch = self.peek()
            if not ch or ch in ";|\r\n":
                break
            if ch in _DASHES and (self.peek(1).isalpha() or self.peek(1) in "_?"):
                elements.append(self.parameter())
            else:
                arg_column = self.column()
                elements.append(ArgToken(self.value(), arg_column))
        return ScriptCommand(word, tuple(elements), column)

    def parameter(self) -> ParamToken:
        column = self.column()
        self.pos += 1  # the dash
        match = _PARAM_NAME.match(self.text, self.pos)
        assert match is not None
        name = match.group(0)
        self.pos = match.end()
        if self.peek() == ":":
            self.pos += 1
            self.skip_spaces()
            if not self.peek() or self.peek() in ";|\r\n":
                raise ScriptParseError(
                    f"Missing an argument for parameter '{name}'.", error_id="MissingArgument", column=column
                )
            return ParamToken(name, self.value(), column)
        nxt = self.peek()
        if nxt and nxt not in _BAREWORD_STOP:
            # "-Name.x" or "-Name'x'": PowerShell would read an argument; the lab keeps it simple.
            raise self.unsupported(f"The token '-{name}{nxt}'", column)
        return ParamToken(name, NO_VALUE, column)

    def value(self) -> Any:
        first = self.primary()
        self.skip_spaces()
        if self.peek() != ",":
            return first
        items = [first]
        while self.peek() == ",":
            self.pos += 1
            self.skip_spaces(newlines=True)
            if not self.peek() or self.peek() in ";|)}":
                raise ScriptParseError(
                    "Missing expression after ','.",
                    error_id="MissingExpressionAfterToken",
                    column=self.column(),
                )
            items.append(self.primary())
            self.skip_spaces()
        return items

    def primary(self) -> Any:
        ch = self.peek()
        if ch in _SINGLE_QUOTES:
            return self.single_quoted()
        if ch in _DOUBLE_QUOTES:
            return self.double_quoted()
        if ch == "$":
            return self.dollar()
        if ch == "@":
            nxt = self.peek(1)
            if nxt == "(":
                return self.array()
            if nxt == "{":
                return self.hashtable()
            if nxt in _SINGLE_QUOTES or nxt in _DOUBLE_QUOTES:
                raise self.unsupported("A here-string")
            raise self.unsupported("Splatting")
        if ch == "(":
            raise self.unsupported("A parenthesised expression")
        if ch == "{":
            raise self.unsupported("A script block")
        if ch == "[":
            raise self.unsupported("A type literal or cast")
        if ch in ")}":
            raise self.unexpected(ch)
        column = self.column()
        word = self.bareword()
        number = number_value(word)
        if number is not None:
            return number
        if "$" in word:
            raise self.unsupported("Variable expansion in a bareword", column)
        if word.startswith(("<", ">")) or re.match(r"^\d?>", word) or ">" in word:
            raise self.unsupported("Redirection", column)
        if word.startswith("&"):
            raise self.unsupported("The '&' operator", column)
        return word

    def bareword(self) -> str:
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in _BAREWORD_STOP:
                break
            if ch in _SINGLE_QUOTES or ch in _DOUBLE_QUOTES:
                raise self.unsupported("A bareword joined to a quoted string")
            if ch == "`":
                raise self.unsupported("An escape character in a bareword")
            self.pos += 1
        return self.text[start : self.pos]

    def dollar(self) -> Any:
        column = self.column()
        match = re.compile(r"\$(\w+)").match(self.text, self.pos)
        if match:
            name = match.group(1).lower()
            end = match.end()
            if end >= len(self.text) or self.text[end] in _BAREWORD_STOP:
                constants: dict[str, Any] = {"true": True, "false": False, "null": None}
                if name in constants:
                    self.pos = end
                    return constants[name]
            raise self.unsupported(f"The variable '${match.group(1)}'", column)
        if self.peek(1) == "(":
            raise self.unsupported("A subexpression '$(...)'", column)
        raise self.unsupported("A variable", column)

    def single_quoted(self) -> str:
        column = self.column()
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in _SINGLE_QUOTES:
                if self.peek(1) in _SINGLE_QUOTES and self.peek(1) != "":
                    out.append("'")
                    self.pos += 2
                    continue
                self.pos += 1
                self.after_string()
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise ScriptParseError(
            "The string is missing the terminator: '.",
            error_id="TerminatorExpectedAtEndOfString",
            column=column,
        )

    def double_quoted(self) -> str:
        column = self.column()
        self.pos += 1
        out: list[str] = []
        escapes = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "`" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append(escapes.get(nxt, nxt))
                self.pos += 2
                continue
            if ch in _DOUBLE_QUOTES:
                if self.peek(1) in _DOUBLE_QUOTES and self.peek(1) != "":
                    out.append('"')
                    self.pos += 2
                    continue
                self.pos += 1
                self.after_string()
                return "".join(out)
            if ch == "$":
                nxt = self.peek(1)
                if nxt == "(":
                    raise self.unsupported("A subexpression '$(...)' inside a string")
                if nxt.isalnum() or nxt in "_{:?^":
                    raise self.unsupported("Variable expansion inside a double-quoted string")
            out.append(ch)
            self.pos += 1
        raise ScriptParseError(
            'The string is missing the terminator: ".',
            error_id="TerminatorExpectedAtEndOfString",
            column=column,
        )

    def after_string(self) -> None:
        nxt = self.peek()
        if nxt and nxt not in _BAREWORD_STOP and nxt != "=":  # "=" ends a quoted hashtable key
            raise self.unsupported("A string joined to other text")

    def array(self) -> list[Any]:
        start = self.column()
        self.pos += 2
        items: list[Any] = []
        while True:
            self.skip_spaces(newlines=True)
            ch = self.peek()
            if not ch:
                raise ScriptParseError(
                    "Missing closing ')' in subexpression.",
                    error_id="MissingEndParenthesisInSubexpression",
                    column=start,
                )
            if ch == ")":
                self.pos += 1
                return items
            if ch in ",;":
                if ch == "," and not items:
                    raise self.unexpected(ch)
                self.pos += 1
                continue
            if ch in _DASHES and self.peek(1).isalpha():
                raise self.unsupported("A command inside @()")
            items.append(self.primary())

    def hashtable(self) -> dict[str, Any]:
        start = self.column()
        self.pos += 2
        table: dict[str, Any] = {}
        while True:
            self.skip_spaces(newlines=True)
            ch = self.peek()
            if not ch:
                raise ScriptParseError(
                    "Missing closing '}' in statement block or type definition.",
                    error_id="MissingEndCurlyBrace",
                    column=start,
                )
            if ch == "}":
                self.pos += 1
                return table
            if ch == ";":
                self.pos += 1
                continue
            key = self.hash_key()
            self.skip_spaces()
            if self.peek() != "=":
                raise ScriptParseError(
                    "Missing '=' operator after key in hash literal.",
                    error_id="MissingEqualsInHashLiteral",
                    column=self.column(),
                )
            self.pos += 1
            self.skip_spaces()
            if not self.peek() or self.peek() in ";}":
                raise ScriptParseError(
                    "Missing statement after '=' in hash literal.",
                    error_id="MissingStatementInHashLiteral",
                    column=self.column(),
                )
            table[key] = self.value()

    def hash_key(self) -> str:
        ch = self.peek()
        if ch in _SINGLE_QUOTES:
            return self.single_quoted()
        if ch in _DOUBLE_QUOTES:
            return self.double_quoted()
        match = re.compile(r"[A-Za-z_][\w-]*|\d+").match(self.text, self.pos)
        if not match:
            raise self.unsupported("This hashtable key")
        self.pos = match.end()
        return match.group(0)
