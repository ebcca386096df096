"""Read baseline YAML files into :class:`~toolkit.baselines.model.Baseline` objects.

Files go through :func:`toolkit.yamlsrc.loads` (bounded aliases and depth, line numbers); every
problem raises :class:`BaselineError` naming ``file:line: field``. Shipped baselines live in
this package's ``data/`` folder (``NAME.yaml``); :func:`resolve` takes a shipped name or a
path. Parsed baselines are cached by (path, size, mtime): a run parses each file once, not
per host.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from toolkit.baselines.model import (
    KINDS,
    OS_KINDS,
    Baseline,
    BuildRange,
    Check,
    CmdletWrite,
    Enforced,
    Guardrail,
    NotApplicable,
    Reading,
    State,
    When,
    WrongKind,
)
from toolkit.baselines.rules import rule_id
from toolkit.errors import InputError
from toolkit.yamlsrc import SrcDict, SrcList, loads

#: Where the shipped baselines are.
DATA_DIR = Path(__file__).parent / "data"
#: The baseline used when none is selected.
DEFAULT_BASELINE = "smb-validate-negotiate"
#: Largest baseline file read.
MAX_BYTES = 1024 * 1024

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ANCHOR = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_RANGE = re.compile(r"^\s*(?:(>=|<=|>|<)\s*(\d+)|(\d+)\s*-\s*(\d+)|(\d+))\s*$")
_SMB_CMDLETS = ("Set-SmbClientConfiguration", "Set-SmbServerConfiguration")
#: Where an ``smb:`` check reads its property (one statement per cmdlet, whatever the checks).
SMB_GETTERS = ("Get-SmbServerConfiguration", "Get-SmbClientConfiguration")
_HIVES = ("HKLM:\\",)


_BOOL_HINT = " (YAML reads on, off, yes and no as true/false: quote them or use other words)"


class BaselineError(InputError):
    """A baseline file is not valid (exit code 2)."""


_cache: dict[tuple[str, int, int], Baseline] = {}
_cache_lock = threading.Lock()


def shipped_names() -> tuple[str, ...]:
    """Names of the baselines shipped with psfleet, sorted."""
    return tuple(sorted(p.stem for p in DATA_DIR.glob("*.yaml")))


def resolve(spec: str) -> Baseline:
    """A shipped baseline by name, or a baseline file by path."""
    if _NAME.match(spec) and (DATA_DIR / f"{spec}.yaml").is_file():
        return load_file(DATA_DIR / f"{spec}.yaml", shipped=True)
    path = Path(spec).expanduser()
    if not path.exists() and "/" not in spec and not spec.endswith((".yaml", ".yml")):
        raise BaselineError(
            f"no shipped baseline {spec!r} and no such file; shipped: {', '.join(shipped_names())}",
            field="--baseline",
        )
    return load_file(path)


def resolve_all(specs: list[str] | tuple[str, ...]) -> tuple[Baseline, ...]:
    """Each of ``specs`` (default: :data:`DEFAULT_BASELINE`); a check id twice is an error."""
    baselines = tuple(resolve(s) for s in (specs or [DEFAULT_BASELINE]))
    seen: dict[str, tuple[str, Check]] = {}
    unique: list[Baseline] = []
    for baseline in baselines:
        if any(b.digest == baseline.digest and b.name == baseline.name for b in unique):
            continue
        kept: list[Check] = []
        for check in baseline.checks:
            if check.id in seen:
                first_name, first = seen[check.id]
                if _same_value(first, check):
                    continue  # the same check in two baselines (signing): judged once, by the first
                raise BaselineError(
                    f"check {check.id!r} is in both {first_name} and {baseline.name}, for other values",
                    file=baseline.source,
                    line=check.line,
                    field="checks.id",
                )
            seen[check.id] = (baseline.name, check)
            kept.append(check)
        if kept:
            unique.append(
                baseline if len(kept) == len(baseline.checks) else replace(baseline, checks=tuple(kept))
            )
    return tuple(unique)


def _same_value(a: Check, b: Check) -> bool:
    return (a.path.lower(), a.name.lower(), a.kind) == (b.path.lower(), b.name.lower(), b.kind)


def load_file(path: str | Path, *, shipped: bool = False) -> Baseline:
    """Parse and validate one baseline file (cached by path, size and mtime)."""
    p = Path(path)
    try:
        stat = p.stat()
        if stat.st_size > MAX_BYTES:
            raise BaselineError(f"larger than {MAX_BYTES} bytes", file=str(p))
        cache_key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
        with _cache_lock:
            cached = _cache.get(cache_key)
        if cached is not None:
            return cached
        raw = p.read_bytes()[: MAX_BYTES + 1]
    except FileNotFoundError:
        raise BaselineError("file not found", file=str(p)) from None
    except OSError as exc:
        raise BaselineError(f"cannot read: {exc.strerror}", file=str(p)) from None
    baseline = load_text(raw, str(p), shipped=shipped)
    with _cache_lock:
        _cache[cache_key] = baseline
    return baseline


def load_text(raw: bytes, file: str, *, shipped: bool = False) -> Baseline:
    """Parse and validate baseline bytes; ``file`` names them in errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BaselineError(f"not UTF-8 text (byte {exc.start})", file=file) from None
    try:
        data = loads(text, file)
    except BaselineError:
        raise
    except InputError as exc:
        raise BaselineError(exc.message, file=file, line=exc.line, field=exc.field) from None
    reader = _Reader(file)
    return reader.baseline(data, hashlib.sha256(raw).hexdigest(), shipped)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, message: str, line: int | None, field: str) -> BaselineError:
        return BaselineError(message, file=self.file, line=line, field=field)

    def mapping(self, value: Any, line: int | None, field: str, allowed: tuple[str, ...]) -> SrcDict:
        if not isinstance(value, SrcDict):
            raise self.fail(f"expected a mapping, got {_describe(value)}", line, field)
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r}; allowed: {', '.join(allowed)}",
                    value.line_of(key),
                    f"{field}.{key}" if field else str(key),
                )
        return value

    def get(self, data: SrcDict, key: str, field: str, *, required: bool = True) -> Any:
        if key not in data:
            if required:
                raise self.fail(f"missing {key!r}", data.line, f"{field}.{key}" if field else key)
            return None
        return data[key]

    def text(self, data: SrcDict, key: str, field: str, *, required: bool = True, default: str = "") -> str:
        value = self.get(data, key, field, required=required)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                f"expected non-empty text, got {_describe(value)}", data.line_of(key), _f(field, key)
            )
        if "\n" in value.strip():
            raise self.fail("expected one line of text", data.line_of(key), _f(field, key))
        return value.strip()

    def cmdlet_name(self, data: SrcDict, field: str, choices: Sequence[str]) -> str:
        """``cmdlet``: one of ``choices``, named in the error when it is not."""
        cmdlet = self.text(data, "cmdlet", field)
        if cmdlet not in choices:
            raise self.fail(
                f"unknown cmdlet {cmdlet!r}; choose from {', '.join(choices)}",
                data.line_of("cmdlet"),
                f"{field}.cmdlet",
            )
        return cmdlet

    def identifier(self, data: SrcDict, key: str, field: str, what: str) -> str:
        """A PowerShell property or parameter name (letters and digits)."""
        name = self.text(data, key, field)
        if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", name):
            raise self.fail(f"expected a {what} name", data.line_of(key), f"{field}.{key}")
        return name

    def boolean(self, data: SrcDict, key: str, field: str, default: bool) -> bool:
        value = self.get(data, key, field, required=False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(
                f"expected true or false, got {_describe(value)}", data.line_of(key), _f(field, key)
            )
        return value

    def listing(self, data: SrcDict, key: str, field: str, *, required: bool = False) -> SrcList:
        value = self.get(data, key, field, required=required)
        if value is None:
            empty = SrcList()
            empty.line, empty.item_lines = data.line, []
            return empty
        if not isinstance(value, SrcList):
            raise self.fail(f"expected a list, got {_describe(value)}", data.line_of(key), _f(field, key))
        return value

    def rule(self, data: SrcDict, key: str, field: str) -> str:
        anchor = self.text(data, key, field)
        if not _ANCHOR.match(anchor):
            raise self.fail(
                f"expected an anchor of docs/windows-facts.md (lowercase words and dashes), got {anchor!r}",
                data.line_of(key),
                _f(field, key),
            )
        return rule_id(anchor)

    # --- document ---------------------------------------------------------------

    def baseline(self, data: Any, digest: str, shipped: bool) -> Baseline:
        top = self.mapping(data, 1, "", ("name", "description", "checks"))
        name = self.text(top, "name", "")
        if not _NAME.match(name):
            raise self.fail(
                f"{name!r} is not a baseline name (lowercase letters, digits, dashes)",
                top.line_of("name"),
                "name",
            )
        description = self.text(top, "description", "", required=False)
        items = self.listing(top, "checks", "", required=True)
        if not items:
            raise self.fail("a baseline needs at least one check", top.line_of("checks"), "checks")
        checks: list[Check] = []
        for index, item in enumerate(items):
            check = self.check(item, items.line_of(index), f"checks[{index}]")
            if any(c.id == check.id for c in checks):
                raise self.fail(f"duplicate check id {check.id!r}", check.line, f"checks[{index}].id")
            checks.append(check)
        return Baseline(name, description, tuple(checks), self.file, digest, shipped)

    def check(self, item: Any, line: int, field: str) -> Check:
        data = self.mapping(item, line, field, _CHECK_KEYS)
        check_id = self.text(data, "id", field)
        if not _ID.match(check_id):
            raise self.fail(
                f"{check_id!r} is not a check id (lowercase letters, digits, underscores)",
                data.line_of("id"),
                f"{field}.id",
            )
        if "smb" in data and "registry" in data:
            raise self.fail(
                "a check reads either 'registry' or 'smb', not both", data.line_of("smb"), f"{field}.smb"
            )
        path, name, kind, prior = self.smb(data, field) if "smb" in data else self.registry(data, field)
        kind, _, smb_type = kind.partition(":")
        meanings = self.meanings(data, field)
        states, default_state = self.states(data, field, meanings, kind)
        values = tuple(
            self.reading(v, lst.line_of(i), f"{field}.values[{i}]", meanings, kind, value=True)
            for lst in [self.listing(data, "values", field)]
            for i, v in enumerate(lst)
        )
        absent_list = self.listing(data, "absent", field, required=True)
        absent = tuple(
            self.reading(v, absent_list.line_of(i), f"{field}.absent[{i}]", meanings, kind, value=False)
            for i, v in enumerate(absent_list)
        )
        if not absent or absent[-1].when != When():
            raise self.fail(
                "the last 'absent' entry must have no 'when' (what Windows does everywhere else)",
                absent_list.line,
                f"{field}.absent",
            )
        wrong = self.wrong_kind(data, field, meanings)
        refs = self.mapping(
            self.get(data, "references", field),
            data.line_of("references"),
            f"{field}.references",
            ("facts", "urls"),
        )
        facts = self.rule(refs, "facts", f"{field}.references")
        urls_list = self.listing(refs, "urls", f"{field}.references", required=True)
        urls: list[str] = []
        for i, url in enumerate(urls_list):
            if not isinstance(url, str) or not url.startswith("https://"):
                raise self.fail(
                    "expected an https:// URL", urls_list.line_of(i), f"{field}.references.urls[{i}]"
                )
            urls.append(url)
        if not urls:
            raise self.fail("at least one public source URL", urls_list.line, f"{field}.references.urls")
        remediate = self.get(data, "remediate", field, required=False)
        cmdlets: tuple[CmdletWrite, ...] = ()
        reconnect, reboot, manual = True, False, ""
        if remediate is not None:
            rem = self.mapping(
                remediate,
                data.line_of("remediate"),
                f"{field}.remediate",
                ("cmdlets", "reconnect", "reboot", "manual"),
            )
            manual = self.text(rem, "manual", f"{field}.remediate", required=False)
            reconnect = self.boolean(rem, "reconnect", f"{field}.remediate", True)
            reboot = self.boolean(rem, "reboot", f"{field}.remediate", False)
            lst = self.listing(rem, "cmdlets", f"{field}.remediate")
            cmdlets = tuple(
                self.cmdlet(v, lst.line_of(i), f"{field}.remediate.cmdlets[{i}]", kind)
                for i, v in enumerate(lst)
            )
        guardrail = self.guardrail(data, field)
        if any(s.weakens for s in states.values()) and guardrail is None:
            raise self.fail(
                "a state that weakens security needs a 'guardrail'", data.line, f"{field}.guardrail"
            )
        also = self.listing(data, "also_report", field)
        also_report: list[tuple[str, str]] = []
        for i, entry in enumerate(also):
            e = self.mapping(entry, also.line_of(i), f"{field}.also_report[{i}]", ("name", "note"))
            also_report.append(
                (
                    self.text(e, "name", f"{field}.also_report[{i}]"),
                    self.text(e, "note", f"{field}.also_report[{i}]", required=False),
                )
            )
        return Check(
            id=check_id,
            title=self.text(data, "title", field),
            path=path,
            name=name,
            kind=kind,
            states=states,
            default_state=default_state,
            meanings=meanings,
            values=values,
            absent=absent,
            wrong_kind=wrong,
            facts=facts,
            urls=tuple(urls),
            prior_kinds=prior,
            not_applicable=tuple(
                NotApplicable(
                    self.when(e, f"{field}.not_applicable[{i}]", required=True),
                    self.text(e, "reason", f"{field}.not_applicable[{i}]"),
                    self.rule(e, "rule", f"{field}.not_applicable[{i}]"),
                )
                for lst in [self.listing(data, "not_applicable", field)]
                for i, v in enumerate(lst)
                for e in [
                    self.mapping(
                        v, lst.line_of(i), f"{field}.not_applicable[{i}]", ("when", "reason", "rule")
                    )
                ]
            ),
            enforced=tuple(
                self.enforced(v, lst.line_of(i), f"{field}.enforced[{i}]", meanings)
                for lst in [self.listing(data, "enforced", field)]
                for i, v in enumerate(lst)
            ),
            unknown_build=self.text(data, "unknown_build", field, required=False),
            absent_text=self.text(data, "absent_text", field, required=False, default="{text}"),
            also_report=tuple(also_report),
            cmdlets=cmdlets,
            guardrail=guardrail,
            reconnect=reconnect,
            reboot=reboot,
            manual=manual,
            smb_type=smb_type,
            line=line,
        )

    def smb(self, data: SrcDict, field: str) -> tuple[str, str, str, tuple[str, ...]]:
        """``smb: {cmdlet: Get-SmbServerConfiguration, property: EncryptData}``: a Boolean or
        UInt32 property, judged as a DWORD (true = 1)."""
        where = f"{field}.smb"
        smb = self.mapping(
            self.get(data, "smb", field), data.line_of("smb"), where, ("cmdlet", "property", "type")
        )
        cmdlet = self.cmdlet_name(smb, where, SMB_GETTERS)
        prop = self.identifier(smb, "property", where, "property")
        kind = self.text(smb, "type", where)
        if kind not in ("bool", "uint32"):
            raise self.fail(f"type {kind!r}: choose bool or uint32", smb.line_of("type"), f"{where}.type")
        return cmdlet, prop, f"DWord:{kind}", ("DWord",)

    def registry(self, data: SrcDict, field: str) -> tuple[str, str, str, tuple[str, ...]]:
        where = f"{field}.registry"
        reg = self.mapping(
            self.get(data, "registry", field),
            data.line_of("registry"),
            where,
            ("path", "name", "kind", "prior_kinds"),
        )
        path = self.text(reg, "path", where)
        if not path.upper().startswith(_HIVES) or ".." in path or path.rstrip("\\") != path:
            raise self.fail(
                "expected a key under HKLM:\\ (no trailing backslash, no '..')",
                reg.line_of("path"),
                f"{where}.path",
            )
        name = self.text(reg, "name", where)
        kind = self.text(reg, "kind", where)
        if kind not in ("DWord", "QWord", "String"):
            raise self.fail(
                f"kind {kind!r}: checks manage DWord, QWord or String values",
                reg.line_of("kind"),
                f"{where}.kind",
            )
        prior_list = self.listing(reg, "prior_kinds", where)
        prior: list[str] = [kind]
        for i, k in enumerate(prior_list):
            if k not in KINDS:
                raise self.fail(
                    f"unknown kind {k!r}; choose from {', '.join(KINDS)}",
                    prior_list.line_of(i),
                    f"{where}.prior_kinds[{i}]",
                )
            if k not in prior:
                prior.append(k)
        return path, name, kind, tuple(prior)

    def meanings(self, data: SrcDict, field: str) -> dict[str, str]:
        where = f"{field}.meanings"
        raw = self.get(data, "meanings", field)
        if not isinstance(raw, SrcDict) or not raw:
            raise self.fail(
                "expected a mapping of effect name -> what Windows then does", data.line_of("meanings"), where
            )
        out: dict[str, str] = {}
        for key in raw:
            if not isinstance(key, str) or not _ID.match(key):
                raise self.fail(f"{key!r} is not a name{_BOOL_HINT}", raw.line_of(key), where)
            out[key] = self.text(raw, key, where)
        return out

    def states(
        self, data: SrcDict, field: str, meanings: dict[str, str], kind: str
    ) -> tuple[dict[str, State], str]:
        where = f"{field}.states"
        raw = self.get(data, "states", field)
        if not isinstance(raw, SrcDict) or not raw:
            raise self.fail(
                "expected a mapping of desired state -> its meaning", data.line_of("states"), where
            )
        states: dict[str, State] = {}
        for key in raw:
            at = f"{where}.{key}"
            if not isinstance(key, str) or not _ID.match(key):
                raise self.fail(f"{key!r} is not a state name{_BOOL_HINT}", raw.line_of(key), where)
            s = self.mapping(raw[key], raw.line_of(key), at, ("expected", "means", "value", "weakens"))
            means = self.get(s, "means", at, required=False)
            if means is not None and means not in meanings:
                raise self.fail(
                    f"unknown meaning {means!r}; choose from {', '.join(meanings)}",
                    s.line_of("means"),
                    f"{at}.means",
                )
            value = self.get(s, "value", at, required=False)
            if means is not None and value is None:
                raise self.fail(
                    "a state that enforces something needs the 'value' remediation writes",
                    s.line,
                    f"{at}.value",
                )
            if value is not None:
                self.check_value(value, kind, s.line_of("value"), f"{at}.value")
            states[key] = State(
                key, self.text(s, "expected", at), means, value, self.boolean(s, "weakens", at, False)
            )
        default = self.text(data, "default_state", field)
        if default not in states:
            raise self.fail(
                f"{default!r} is not one of the states ({', '.join(states)})",
                data.line_of("default_state"),
                f"{field}.default_state",
            )
        if states[default].weakens:
            raise self.fail(
                "the default state cannot weaken security",
                data.line_of("default_state"),
                f"{field}.default_state",
            )
        return states, default

    def check_value(self, value: Any, kind: str, line: int, field: str) -> None:
        if kind in ("DWord", "QWord"):
            top = 0xFFFF_FFFF if kind == "DWord" else 0xFFFF_FFFF_FFFF_FFFF
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise self.fail(f"expected a {kind} number (0..{top})", line, field)
        elif not isinstance(value, str):
            raise self.fail("expected text", line, field)

    def reading(
        self, item: Any, line: int, field: str, meanings: dict[str, str], kind: str, *, value: bool
    ) -> Reading:
        allowed = (
            ("equals", "means", "text", "rule") if value else ("when", "means", "text", "default", "rule")
        )
        data = self.mapping(item, line, field, allowed)
        means = self.text(data, "means", field)
        if means not in meanings:
            raise self.fail(
                f"unknown meaning {means!r}; choose from {', '.join(meanings)}",
                data.line_of("means"),
                f"{field}.means",
            )
        equals = self.get(data, "equals", field, required=False) if value else None
        if equals is not None:
            self.check_value(equals, kind, data.line_of("equals"), f"{field}.equals")
        return Reading(
            means=means,
            text=self.text(data, "text", field),
            rule=self.rule(data, "rule", field),
            when=self.when(data, field) if not value else When(),
            equals=equals,
            default=self.text(data, "default", field, required=False),
        )

    def wrong_kind(self, data: SrcDict, field: str, meanings: dict[str, str]) -> WrongKind:
        where = f"{field}.wrong_kind"
        w = self.mapping(
            self.get(data, "wrong_kind", field), data.line_of("wrong_kind"), where, ("means", "text", "rule")
        )
        means = self.get(w, "means", where, required=False)
        if means is not None and means not in meanings:
            raise self.fail(f"unknown meaning {means!r}", w.line_of("means"), f"{where}.means")
        return WrongKind(self.text(w, "text", where), self.rule(w, "rule", where), means)

    def when(self, data: SrcDict, field: str, *, required: bool = False) -> When:
        raw = self.get(data, "when", field, required=required)
        if raw is None:
            return When()
        where = f"{field}.when"
        w = self.mapping(raw, data.line_of("when"), where, ("builds", "os", "editions"))
        builds = (
            self.builds(w.get("builds"), w.line_of("builds"), f"{where}.builds")
            if "builds" in w
            else BuildRange()
        )
        os = self.get(w, "os", where, required=False)
        if os is not None and os not in OS_KINDS:
            raise self.fail(
                f"unknown os {os!r}; choose from {', '.join(OS_KINDS)}", w.line_of("os"), f"{where}.os"
            )
        editions: list[str] = []
        for i, edition in enumerate(self.listing(w, "editions", where)):
            if not isinstance(edition, str) or not re.match(r"^[A-Za-z][A-Za-z0-9]*$", edition):
                raise self.fail(
                    "expected an EditionID (letters, digits)", w.line_of("editions"), f"{where}.editions[{i}]"
                )
            editions.append(edition.lower())
        return When(builds, os, tuple(editions))

    def builds(self, raw: Any, line: int, field: str) -> BuildRange:
        if raw == "unknown":
            return BuildRange(unknown=True)
        if isinstance(raw, SrcList):
            if not raw or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in raw):
                raise self.fail("expected a list of build numbers", line, field)
            return BuildRange(exact=tuple(raw))
        if isinstance(raw, int) and not isinstance(raw, bool):
            return BuildRange(exact=(raw,))
        match = _RANGE.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise self.fail(
                f"expected a build range ('>=10240', '<9200', '9200-9600', [9200, 9600], unknown), got {_describe(raw)}",
                line,
                field,
            )
        op, number, low, high, exact = match.groups()
        if exact is not None:
            return BuildRange(exact=(int(exact),))
        if low is not None:
            if int(low) > int(high):
                raise self.fail("empty build range", line, field)
            return BuildRange(low=int(low), high=int(high))
        n = int(number)
        return {
            ">=": BuildRange(low=n),
            ">": BuildRange(low=n + 1),
            "<=": BuildRange(high=n),
            "<": BuildRange(high=n - 1),
        }[op]

    def enforced(self, item: Any, line: int, field: str, meanings: dict[str, str]) -> Enforced:
        data = self.mapping(item, line, field, ("when", "means", "rule", "reason", "refuse", "relaxed"))
        means = self.text(data, "means", field)
        if means not in meanings:
            raise self.fail(f"unknown meaning {means!r}", data.line_of("means"), f"{field}.means")
        return Enforced(
            self.when(data, field, required=True),
            means,
            self.rule(data, "rule", field),
            self.text(data, "reason", field),
            self.text(data, "refuse", field),
            self.text(data, "relaxed", field),
        )

    def cmdlet(self, item: Any, line: int, field: str, kind: str) -> CmdletWrite:
        data = self.mapping(item, line, field, ("when", "cmdlet", "parameter", "value", "argument"))
        cmdlet = self.cmdlet_name(data, field, _SMB_CMDLETS)
        parameter = self.identifier(data, "parameter", field, "parameter")
        value = self.get(data, "value", field)
        self.check_value(value, kind, data.line_of("value"), f"{field}.value")
        argument = self.get(data, "argument", field)
        if not isinstance(argument, bool | int | str):
            raise self.fail(
                "expected true, false, a number or text", data.line_of("argument"), f"{field}.argument"
            )
        return CmdletWrite(self.when(data, field), cmdlet, parameter, value, argument)

    def guardrail(self, data: SrcDict, field: str) -> Guardrail | None:
        raw = self.get(data, "guardrail", field, required=False)
        if raw is None:
            return None
        where = f"{field}.guardrail"
        g = self.mapping(
            raw,
            data.line_of("guardrail"),
            where,
            ("builds", "elsewhere", "elsewhere_rule", "blocked", "rule"),
        )
        builds = self.builds(self.get(g, "builds", where), g.line_of("builds"), f"{where}.builds")
        return Guardrail(
            builds,
            self.text(g, "elsewhere", where),
            self.rule(g, "elsewhere_rule", where),
            self.text(g, "blocked", where),
            self.rule(g, "rule", where),
        )


_CHECK_KEYS = (
    "id",
    "title",
    "registry",
    "smb",
    "meanings",
    "states",
    "default_state",
    "values",
    "absent",
    "absent_text",
    "wrong_kind",
    "not_applicable",
    "enforced",
    "unknown_build",
    "also_report",
    "remediate",
    "guardrail",
    "references",
)


def _f(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:60]
