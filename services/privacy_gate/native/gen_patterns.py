"""Generate src/gen.rs: the crate's regexes, and the structured detectors' constants, from Python.

The patterns, word lists and constants are read by their module-level names from
services.privacy_gate.domain.detectors, .identifiers, .credentials and .people, so nothing the
native detectors depend on is copied by hand (people.py's word lists reach the crate at run time,
through ``_word_lists``). Each pattern is walked with ``re._parser`` and emitted as a syntax tree for
src/engine.rs, the crate's one regex engine; each of its character classes (and each
case-insensitive literal) is evaluated by Python's ``re`` itself over all code points, so
membership is exactly CPython's (Unicode version, IGNORECASE folds, ``\\w``/``\\d``/``\\s``). The
str predicates and ``str.lower`` come from src/pytables.rs (gen_tables.py), not from here.

Run after editing a pattern or a list, with the project venv:
    .venv/bin/python services/privacy_gate/native/gen_patterns.py
tests/unit/privacy_gate/test_native_scanners.py fails while the file is out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from types import ModuleType
from typing import Any

NATIVE = Path(__file__).resolve().parent
REPO = NATIVE.parents[2]
TARGET = NATIVE / "src" / "gen.rs"

# Rust name -> (module, Python name[, index in a tuple]) of each compiled pattern the native code runs.
PATTERNS: dict[str, tuple[str, str] | tuple[str, str, int]] = {
    "DOMAIN": ("detectors", "_EMAIL_DOMAIN"),
    "CC_CANDIDATES": ("detectors", "_CARD_CANDIDATES"),
    "CC_RUN": ("detectors", "_CARD_RUN"),
    "CC_GROUP": ("detectors", "_CARD_GROUP"),
    "PHONE": ("detectors", "_PHONE"),
    "PHONE_CANDIDATES": ("detectors", "_PHONE_CANDIDATES"),
    "LOOSE_PHONE": ("detectors", "_LOOSE_PHONE"),
    "GROUPS": ("detectors", "_GROUPS"),
    "NOT_PHONE_MARKS": ("detectors", "_NOT_PHONE_MARKS"),
    "LETTERS": ("detectors", "_LETTERS"),
    "PHONE_AFTER": ("detectors", "_PHONE_AFTER"),
    "NOT_PHONE_AFTER": ("detectors", "_NOT_PHONE_AFTER"),
    "DATE_LIKE": ("detectors", "_DATE_LIKE"),
    "SSN": ("identifiers", "_SSN"),
    "SSN_CONTEXT": ("identifiers", "_SSN_CONTEXT"),
    "IBAN": ("identifiers", "_IBAN"),
    "IBAN_CANDIDATES": ("identifiers", "_IBAN_CANDIDATES"),
    "IPV4": ("identifiers", "_IPV4"),
    "IPV6_CANDIDATES": ("identifiers", "_IPV6_CANDIDATES"),
    "VERSION_CONTEXT": ("identifiers", "_VERSION_CONTEXT"),
    "TWELVE": ("identifiers", "_TWELVE"),
    "CARD_CONTEXT": ("identifiers", "_CARD_CONTEXT"),
    "TOKENS": ("credentials", "_TOKENS"),
    "JWT": ("credentials", "_JWT"),
    "PRIVATE_KEY": ("credentials", "_PRIVATE_KEY"),
    "ASSIGNMENT": ("credentials", "_ASSIGNMENT"),
    "BEARER": ("credentials", "_BEARER"),
    "URL_PASSWORD": ("credentials", "_URL_PASSWORD"),
    "BLOCK_PART": ("people", "_BLOCK_PART"),
    "SAME_LINE_UNIT": ("people", "_SAME_LINE_UNIT"),
    "CITY_STATE_ZIP": ("people", "_CITY_STATE_ZIP"),
    "SECONDARY": ("people", "_SECONDARY"),
    "PO_BOX": ("people", "_PO_BOX"),
    "MILITARY_BOX": ("people", "_MILITARY", 0),
    "MILITARY_SHIP": ("people", "_MILITARY", 1),
    "NUMBER_TOKEN": ("people", "_NUMBER_TOKEN"),
    "STREET_CUE": ("people", "_STREET_CUE"),
}

_CAT = {
    C.CATEGORY_DIGIT: r"\d",
    C.CATEGORY_NOT_DIGIT: r"\D",
    C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S",
    C.CATEGORY_WORD: r"\w",
    C.CATEGORY_NOT_WORD: r"\W",
}


def modules() -> dict[str, ModuleType]:
    """The domain modules the constants are read from (the repository's, whatever the cwd)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from services.privacy_gate.domain import credentials, detectors, identifiers, people

    return {"detectors": detectors, "identifiers": identifiers, "credentials": credentials, "people": people}


class _Classes:
    """The distinct character classes of all patterns, as code point ranges."""

    def __init__(self) -> None:
        self.all = "".join(map(chr, range(0x110000)))
        self.cache: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self.ranges: list[tuple[tuple[int, int], ...]] = []
        self.ids: dict[tuple[tuple[int, int], ...], int] = {}

    def ranges_of(self, src: str, flags: int) -> list[tuple[int, int]]:
        key = (src, flags)
        if key not in self.cache:
            pattern = re.compile(f"(?:{src})+", flags)
            self.cache[key] = [(m.start(), m.end() - 1) for m in pattern.finditer(self.all)]
        return self.cache[key]

    def of_items(self, items: list[tuple[Any, Any]], flags: int) -> list[tuple[int, int]]:
        """The ranges of a class ``[...]`` (parsed items): built from its items when case-sensitive
        (only its categories are evaluated by ``re``), evaluated by ``re`` whole when not."""
        if flags & re.IGNORECASE:
            return self.ranges_of(_class_src(items), flags)
        negate = False
        parts: list[tuple[int, int]] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                parts.append((av, av))
            elif op is C.RANGE:
                parts.append(av)
            elif op is C.CATEGORY:
                parts.extend(self.ranges_of(_CAT[av], 0))
            else:
                raise ValueError(op)
        merged: list[tuple[int, int]] = []
        for a, b in sorted(parts):
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        if not negate:
            return merged
        out, nxt = [], 0
        for a, b in merged:
            if a > nxt:
                out.append((nxt, a - 1))
            nxt = b + 1
        if nxt <= 0x10FFFF:
            out.append((nxt, 0x10FFFF))
        return out

    def id(self, ranges: list[tuple[int, int]]) -> int:
        key = tuple(ranges)
        if key not in self.ids:
            self.ids[key] = len(self.ranges)
            self.ranges.append(key)
        return self.ids[key]


def _esc(c: int) -> str:
    return f"\\U{c:08x}"


def _class_src(items: list[tuple[Any, Any]]) -> str:
    out: list[str] = []
    for op, av in items:
        if op is C.NEGATE:
            out.insert(0, "^")
        elif op is C.LITERAL:
            out.append(_esc(av))
        elif op is C.RANGE:
            out.append(_esc(av[0]) + "-" + _esc(av[1]))
        elif op is C.CATEGORY:
            out.append(_CAT[av])
        else:
            raise ValueError(op)
    return "[" + "".join(out) + "]"


def _emit_regex(name: str, pattern: re.Pattern[str], classes: _Classes) -> str:
    parsed = P.parse(pattern.pattern, pattern.flags)
    nodes: list[str] = []

    def add(s: str) -> int:
        nodes.append(s)
        return len(nodes) - 1

    def single(op: Any, av: Any, flags: int) -> int:
        f = flags & (re.IGNORECASE | re.DOTALL)
        if op is C.LITERAL:
            if not flags & re.IGNORECASE:
                return add(f"N::Char({av})")
            rs = classes.ranges_of(_esc(av), f)
            return add(f"N::Char({av})" if rs == [(av, av)] else f"N::Class({classes.id(rs)})")
        if op is C.NOT_LITERAL:
            if not flags & re.IGNORECASE:
                return add(f"N::NotChar({av})")
            return add(f"N::Class({classes.id(classes.ranges_of('[^' + _esc(av) + ']', f))})")
        if op is C.IN:
            return add(f"N::Class({classes.id(classes.of_items(av, f))})")
        if op is C.ANY:
            return add(f"N::Class({classes.id(classes.ranges_of('.', f))})")
        raise ValueError(op)

    def seq(sub: list[tuple[Any, Any]], flags: int) -> int:
        kids = [node(op, av, flags) for op, av in sub]
        return kids[0] if len(kids) == 1 else add(f"N::Seq(vec!{kids})")

    def node(op: Any, av: Any, flags: int) -> int:
        if op in (C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY):
            return single(op, av, flags)
        if op is C.BRANCH:
            return add(f"N::Branch(vec!{[seq(s, flags) for s in av[1]]})")
        if op is C.SUBPATTERN:
            group, add_flags, del_flags, sub = av
            kid = seq(sub, (flags | add_flags) & ~del_flags)
            return kid if group is None else add(f"N::Group({group}, {kid})")
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            kid = seq(sub, flags)
            high = "usize::MAX" if hi is C.MAXREPEAT else hi
            return add(f"N::Repeat({kid}, {lo}, {high}, {'true' if op is C.MAX_REPEAT else 'false'})")
        if op in (C.ASSERT, C.ASSERT_NOT):
            direction, sub = av
            kid = seq(sub, flags)
            negative = "true" if op is C.ASSERT_NOT else "false"
            if direction == 1:
                return add(f"N::Ahead({kid}, {negative})")
            lo, hi = sub.getwidth()
            if lo != hi:
                raise ValueError(f"{name}: lookbehind of variable width")
            return add(f"N::Behind({kid}, {lo}, {negative})")
        if op is C.AT:
            kind = {
                C.AT_BOUNDARY: "Boundary",
                C.AT_NON_BOUNDARY: "NonBoundary",
                C.AT_END: "End",
                C.AT_END_STRING: "EndString",
                C.AT_BEGINNING: "Begin",
                C.AT_BEGINNING_STRING: "Begin",
            }[av]
            return add(f"N::At(At::{kind})")
        if op is C.GROUPREF:
            if flags & re.IGNORECASE:
                raise ValueError(f"{name}: case-insensitive group reference")
            return add(f"N::GroupRef({av})")
        raise ValueError((name, op, av))

    root = seq(parsed, parsed.state.flags)
    body = ",\n        ".join(nodes)
    consts = "".join(
        f"pub const {name}_G_{group.upper()}: usize = {index};\n"
        for group, index in sorted(parsed.state.groupdict.items(), key=lambda item: item[1])
    )
    return (
        f"pub fn re_{name.lower()}() -> Regex {{\n    Regex::new(vec![\n        {body}\n    ], {root}, "
        f"{parsed.state.groups})\n}}\n{consts}"
    )


def _rust_str(s: str) -> str:
    return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\u{{{ord(c):x}}}" for c in s) + '"'


def _strs(name: str, values: list[str]) -> str:
    return f"pub const {name}: &[&str] = &[{', '.join(map(_rust_str, values))}];\n"


def _str(name: str, value: str) -> str:
    return f"pub const {name}: &str = {_rust_str(value)};\n"


def _words(name: str, values: Iterable[str]) -> str:
    """A list of lower-case ASCII words (compared with the native Word type: at most 24 long)."""
    words = sorted(values)
    for word in words:
        for part in word.split(" "):
            if not (0 < len(part) <= 24 and part.isascii() and part == part.lower()):
                raise ValueError(f"{name}: {word!r} is not a short lower-case ASCII word")
    return _strs(name, words)


def constants(mods: dict[str, ModuleType]) -> str:
    """The word lists and constants of the detectors, as Rust constants."""
    d, i, c = mods["detectors"], mods["identifiers"], mods["credentials"]
    token_prefixes = list(c._TOKEN_PREFIXES) + [p for _, group in c._MARKED_TOKEN_PREFIXES for p in group]
    ibans = sorted(i.IBAN_LENGTHS.items())
    return "".join(
        (
            _str("EMAIL_LOCAL_PUNCTUATION", "".join(sorted(d._EMAIL_LOCAL_PUNCTUATION))),
            f"pub const CARD_MIN_DIGITS: usize = {int(d._CARD_MIN_DIGITS)};\n",
            f"pub const CARD_MAX_DIGITS: usize = {int(d._CARD_MAX_DIGITS)};\n",
            # Luhn: digit -> digit sum of twice the digit (str.translate table of ASCII digits).
            "pub const DOUBLED: [u32; 10] = ["
            + ", ".join(chr(d._DOUBLED[ord(str(k))]) for k in range(10))
            + "];\n",
            _str("CARD_FIRST_DIGITS", "".join(sorted(d._CARD_FIRST_DIGITS))),
            _strs("STRONG_PHONE_PREFIXES", list(d._STRONG_PHONE_PREFIXES)),
            _words("STRONG_PHONE_WORDS", d._STRONG_PHONE_WORDS),
            _words("WEAK_PHONE_WORDS", d._WEAK_PHONE_WORDS),
            _words("NOT_PHONE_WORDS", d._NOT_PHONE_WORDS),
            _strs("SSN_VOID", sorted(i._SSN_VOID)),
            "pub const IBAN_LENGTHS: &[(&str, usize)] = &["
            + ", ".join(f"({_rust_str(k)}, {v})" for k, v in ibans)
            + "];\n",
            _str("MAESTRO_0604", i._MAESTRO_0604),
            _strs("CARD_HINTS", list(i._CARD_HINTS)),
            _strs("TOKEN_PREFIXES", token_prefixes),
            _strs("SECRET_HINTS", list(c._SECRET_HINTS)),
            _strs("NOT_SECRETS", sorted(c._NOT_SECRETS)),
        )
    )


def source() -> str:
    """The text of src/gen.rs for the current Python modules."""
    mods = modules()
    classes = _Classes()
    parts = [
        "// Generated by gen_patterns.py from the patterns and lists of services/privacy_gate/domain."
        " Do not edit.\n",
        "use crate::engine::{At, Node as N, Regex};\n\n",
    ]
    for name, (module, attr, *index) in PATTERNS.items():
        pattern = getattr(mods[module], attr)
        for i in index:
            pattern = pattern[i]
        parts.append(_emit_regex(name, pattern, classes))
    parts.append(constants(mods))
    parts.append("pub static CLASSES: &[&[(u32, u32)]] = &[\n")
    parts.extend("    &[" + ",".join(f"({a},{b})" for a, b in rs) + "],\n" for rs in classes.ranges)
    parts.append("];\n")
    return "".join(parts)


if __name__ == "__main__":
    TARGET.write_text(source())
    print(f"wrote {TARGET}")
