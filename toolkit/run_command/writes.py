"""Does an ad-hoc command change state? Decided by the verb of every command name in it.

A command reads only when every command name in it is known to read: a cmdlet whose verb is
one of :data:`READ_VERBS` (``Get-ItemProperty``, ``Test-Path``, ``Select-Object``...) or a
read-only alias (``gp``, ``gci``, ``select``, ``%``...). Everything else counts as a write and
needs confirmation: write verbs (``Set``, ``New``, ``Remove``, ``Rename``, ``Clear``, ``Add``,
``Disable``, ``Enable``, ``Install``, ``Uninstall``, ``Stop``, ``Restart``, ``Start``,
``Invoke``, ``Copy``, ``Move``, ``Reset``, ``Update``...), their aliases (``sp``, ``rm``...),
and names psfleet cannot classify (``reg``, ``sc.exe``, a function). In script text this also
covers method calls whose name starts with a write verb (``[Registry]::SetValue(...)``,
``.DeleteValue(...)``), output redirection to a file (``> out.txt``), member invocation
through ForEach-Object (``Get-Process | % Kill``, ``ForEach-Object -MemberName DeleteValue``:
any member name counts, a method cannot be told from a property), and the call and
dot-source operators on anything but a literal command name (``& $c``, ``& (Get-X)``,
``. $script``; ``& 'Remove-Item'`` is classified by the name it calls).

This is a safety net for a person typing a command line, not a sandbox: PowerShell can
always hide a write from a scanner (``iex`` of a computed string counts as a write, but a
string passed to a method cannot be followed). It errs towards asking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Verbs whose cmdlets only read (or only shape output in the pipeline).
READ_VERBS = frozenset(
    {"get", "test", "find", "search", "measure", "select", "where", "sort", "group", "compare",
     "resolve", "convertto", "convertfrom", "convert", "join", "split", "wait", "read", "foreach"}
)  # fmt: skip
#: Verbs that read for some nouns only (``Format-Volume`` writes, ``Format-Table`` does not).
READ_ONLY_NOUNS = {
    "format": frozenset({"table", "list", "wide", "custom", "hex"}),
    "out": frozenset({"string", "null", "default", "host"}),
    "write": frozenset({"output", "host", "verbose", "warning", "error", "information", "debug", "progress"}),
}
#: Aliases of read-only cmdlets (Windows PowerShell 5.1 defaults).
READ_ALIASES = frozenset(
    {"gp", "gpv", "gi", "gci", "ls", "dir", "cat", "gc", "type", "select", "where", "?", "%", "foreach",
     "sort", "measure", "ft", "fl", "fw", "fc", "fhx", "gsv", "gps", "ps", "gcm", "gwmi", "gcim", "echo",
     "write", "group", "compare", "diff", "gm", "gl", "pwd", "gdr", "gal", "gv", "gjb", "gu", "gh", "h",
     "history", "oh"}
)  # fmt: skip
#: Write aliases, named in messages by the cmdlet they stand for.
WRITE_ALIASES = {
    "sp": "Set-ItemProperty", "si": "Set-Item", "ni": "New-Item", "ri": "Remove-Item", "rm": "Remove-Item",
    "del": "Remove-Item", "erase": "Remove-Item", "rd": "Remove-Item", "rmdir": "Remove-Item",
    "rp": "Remove-ItemProperty", "mi": "Move-Item", "mv": "Move-Item", "move": "Move-Item",
    "mp": "Move-ItemProperty", "cpi": "Copy-Item", "cp": "Copy-Item", "copy": "Copy-Item",
    "cpp": "Copy-ItemProperty", "rni": "Rename-Item", "ren": "Rename-Item", "rnp": "Rename-ItemProperty",
    "clc": "Clear-Content", "cli": "Clear-Item", "clp": "Clear-ItemProperty", "sv": "Set-Variable",
    "set": "Set-Variable", "kill": "Stop-Process", "spps": "Stop-Process", "saps": "Start-Process",
    "start": "Start-Process", "sasv": "Start-Service", "spsv": "Stop-Service", "iex": "Invoke-Expression",
    "icm": "Invoke-Command", "ii": "Invoke-Item", "ihy": "Invoke-History", "r": "Invoke-History",
    "tee": "Tee-Object", "ipmo": "Import-Module", "sc": "Set-Content", "ac": "Add-Content",
}  # fmt: skip
_METHOD_WRITE = re.compile(
    r"^(set|delete|remove|create|add|write|clear|move|copy|rename|kill|stop|start|invoke|install|"
    r"uninstall|reset|update|flush|save|put|append|replace|restart|enable|disable|terminate|"
    r"shutdown|reboot|format|execute|exec|run|send|register|unregister|change|commit|grant|revoke|"
    r"truncate|purge|erase|drop|import|load|unload|suspend|resume|lock|unlock|mount|dismount)",
    re.IGNORECASE,
)
#: ForEach-Object and its aliases: a bare word after them is a member to get or invoke.
_FOREACH = frozenset({"%", "foreach", "foreach-object"})
_VERB_NOUN = re.compile(r"^([A-Za-z]+)-([A-Za-z][\w.]*)$")
_KEYWORDS = frozenset(
    {"if", "elseif", "else", "foreach", "for", "while", "do", "until", "switch", "try", "catch", "finally",
     "return", "throw", "break", "continue", "exit", "trap", "begin", "process", "end", "in", "param",
     "dynamicparam", "data"}
)  # fmt: skip
_NAMING_KEYWORDS = frozenset({"function", "filter", "workflow", "class", "enum", "configuration"})
_WORD_STOP = set(" \t\r\n;|&(){}[],=<>\"'`#")


@dataclass(frozen=True)
class WriteCheck:
    """``write`` is True when the command may change state; ``names`` says why (command
    names, aliases with what they stand for, method calls, redirections)."""

    write: bool
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        return ", ".join(self.names)


def classify_name(name: str) -> str | None:
    """None when ``name`` reads; otherwise why it counts as a write."""
    lowered = name.lower()
    if lowered in READ_ALIASES:
        return None
    if lowered in WRITE_ALIASES:
        return f"{name} ({WRITE_ALIASES[lowered]})"
    match = _VERB_NOUN.match(name)
    if match is None:
        return f"{name} (not a known read-only command)"
    verb, noun = match.group(1).lower(), match.group(2).lower()
    if verb in READ_VERBS:
        return None
    if verb in READ_ONLY_NOUNS and noun in READ_ONLY_NOUNS[verb]:
        return None
    return name


def classify_cmdlet(name: str) -> WriteCheck:
    reason = classify_name(name)
    return WriteCheck(reason is not None, (reason,) if reason else ())


def classify_script(text: str) -> WriteCheck:
    """Every command name, write-named method call and file redirection in ``text``."""
    reasons: list[str] = []
    for reason in _Scanner(text).reasons():
        if reason not in reasons:
            reasons.append(reason)
    return WriteCheck(bool(reasons), tuple(reasons))


class _Scanner:
    """A forgiving PowerShell tokenizer: enough to find command names, never an error."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.found: list[str] = []

    def reasons(self) -> list[str]:
        command_position = True
        skip_name = False
        braces: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t":
                self.pos += 1
            elif ch == "#":
                self._comment()
            elif text.startswith("<#", self.pos):
                end = text.find("#>", self.pos + 2)
                self.pos = len(text) if end < 0 else end + 2
            elif ch == "'":
                self._single_quoted()
                command_position = False
            elif ch == '"':
                self._double_quoted()
                command_position = False
            elif ch in "\r\n;":
                self.pos += 1
                command_position = not braces or braces[-1] != "hash"
            elif ch == "&" and text[self.pos + 1 : self.pos + 2] != "&":
                self.pos += 1
                command_position = not self._invoked("&")
            elif ch in "|&":
                self.pos += 1
                command_position = True
            elif ch == "{":
                braces.append("hash" if text[self.pos - 1 : self.pos] == "@" else "block")
                self.pos += 1
                command_position = braces[-1] == "block"
            elif ch == "}":
                if braces:
                    braces.pop()
                self.pos += 1
                command_position = False
            elif ch == "(":
                self.pos += 1
                command_position = True
            elif ch == ">":
                self._redirection()
            elif ch == "." and self.pos + 1 < len(text) and text[self.pos + 1] in " \t" and command_position:
                self.pos += 1  # dot-sourcing: the next word is still a command
                command_position = not self._invoked(".")
            elif ch == "." or text.startswith("::", self.pos):
                self._member()
            elif ch in "%?" and command_position:
                self.pos += 1
                command_position = False
                if ch == "%":
                    self._foreach_member()
            elif (
                ch == "-"
                and self.pos + 1 < len(text)
                and text[self.pos + 1].isalpha()
                and not command_position
            ):
                self._word()  # a parameter or an operator (-Path, -eq)
            elif ch == "$" or ch == "@" or ch == "[" or ch.isdigit():
                self._expression_start(ch)
                command_position = False
            else:
                word = self._word()
                if not word:
                    self.pos += 1
                    continue
                lowered = word.lower()
                if skip_name:
                    skip_name = False
                elif command_position and lowered in _KEYWORDS:
                    continue
                elif command_position and lowered in _NAMING_KEYWORDS:
                    skip_name = True
                    continue
                elif command_position or _VERB_NOUN.match(word):
                    reason = classify_name(word)
                    if reason is not None:
                        self.found.append(reason)
                    if command_position and lowered in _FOREACH:
                        command_position = False
                        self._foreach_member()
                        continue
                command_position = False
        return self.found

    def _skip_blanks(self) -> None:
        while self.text[self.pos : self.pos + 1] in (" ", "\t"):
            self.pos += 1

    def _invoked(self, operator: str) -> bool:
        """After ``&`` or ``. ``: a quoted literal is the command name; anything computed
        (a variable, a subexpression, an expanding string) cannot be followed: a write.
        True when it consumed the command (what follows are arguments)."""
        self._skip_blanks()
        rest = self.text[self.pos :]
        literal = re.match(r"'((?:[^']|'')*)'|\"([^\"`$]*)\"", rest)
        if literal is not None:
            self.pos += literal.end()
            name = (literal.group(1) if literal.group(1) is not None else literal.group(2)).replace("''", "'")
            reason = classify_name(name.strip())
            if reason is not None:
                self.found.append(reason)
            return True
        if rest[:1] in ("$", "(", "@", "'", '"'):
            shown = re.match(r"[^\s;|]*", rest)
            self.found.append(
                f"call operator on a computed command ('{operator} {shown.group(0) if shown else ''}')"
            )
        return False

    def _foreach_member(self) -> None:
        """``% Kill`` / ``ForEach-Object -MemberName Kill``: the member may be a method."""
        self._skip_blanks()
        match = re.match(
            r"(?i)-m(?:e(?:m(?:b(?:e(?:r(?:n(?:a(?:m(?:e)?)?)?)?)?)?)?)?)?[ \t:]+", self.text[self.pos :]
        )
        if match is not None:
            self.pos += match.end()
        name = re.match(r"[A-Za-z_][\w]*|'[^']*'|\"[^\"]*\"|\$\w+", self.text[self.pos :])
        if name is None:
            return
        self.pos += name.end()
        self.found.append(f"ForEach-Object member {name.group(0)} (may invoke a method)")

    def _word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _WORD_STOP:
            if (
                self.text[self.pos] == "."
                and self.pos > start
                and self.text[self.pos + 1 : self.pos + 2] == "("
            ):
                break
            self.pos += 1
        return self.text[start : self.pos]

    def _comment(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def _single_quoted(self) -> None:
        self.pos += 1
        while self.pos < len(self.text):
            if self.text[self.pos] == "'":
                if self.text[self.pos + 1 : self.pos + 2] == "'":
                    self.pos += 2
                    continue
                self.pos += 1
                return
            self.pos += 1

    def _double_quoted(self) -> None:
        start = self.pos + 1
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "`":
                self.pos += 2
                continue
            if ch == '"':
                if self.text[self.pos + 1 : self.pos + 2] == '"':
                    self.pos += 2
                    continue
                break
            self.pos += 1
        body = self.text[start : self.pos]
        self.pos += 1
        if "$(" in body:  # a subexpression runs commands: scan it as script
            self.found += _Scanner(body).reasons()

    def _redirection(self) -> None:
        self.pos += 1
        if self.text[self.pos : self.pos + 1] == ">":
            self.pos += 1
        rest = self.text[self.pos :].lstrip(" \t")
        if rest.startswith("&") or rest.lower().startswith("$null"):
            return
        target = re.match(r"[^\s;|]*", rest)
        self.found.append(f"redirection to a file ('> {target.group(0) if target else ''}')")

    def _member(self) -> None:
        self.pos += 2 if self.text.startswith("::", self.pos) else 1
        name = re.match(r"[A-Za-z_]\w*", self.text[self.pos :])
        if name is None:
            return
        self.pos += name.end()
        if self.text[self.pos : self.pos + 1] == "(" and _METHOD_WRITE.match(name.group(0)):
            self.found.append(f"method call {name.group(0)}()")

    def _expression_start(self, ch: str) -> None:
        if ch == "[":
            depth = 0
            while self.pos < len(self.text):
                c = self.text[self.pos]
                depth += c == "["
                depth -= c == "]"
                self.pos += 1
                if depth == 0:
                    return
            return
        if ch in "$@":
            self.pos += 1
            if self.text[self.pos : self.pos + 1] in "({":
                return  # $( @( @{ : handled by the bracket branches next
            match = re.match(r"\{[^}]*\}|[\w:?^$]+", self.text[self.pos :])
            if match:
                self.pos += match.end()
            return
        match = re.match(r"[\w.]+", self.text[self.pos :])
        self.pos += match.end() if match else 1
