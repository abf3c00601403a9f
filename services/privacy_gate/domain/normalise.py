"""Normalisation before detection: undo what hides an identifier from the detectors, keeping a map back.

People and copy-paste hide identifiers in ways no detector pattern should have to know:

- invisible characters inside a token: zero-width spaces and joiners, word joiners, byte-order
  marks, soft hyphens, and the bidi controls (LRM, RLM, embeddings, isolates) that right-to-left
  text and some chat clients insert: they are removed;
- full-width forms (U+FF01-U+FF5E: digits, ``@``, letters), typed on East Asian keyboards: they
  become their ASCII twins;
- spelled-out and bracketed ``at``/``dot`` in e-mail addresses (``ana dot silva at gmail dot com``,
  ``m.park[at]wp[dot]pl``, ``X AT outlook DOT com``): they become ``@`` and ``.``;
- line breaks inside a token: a break between two digits inside a quoted CSV field (a spreadsheet
  wrapped the phone number), and a break inside an e-mail address (a mail client wrapped it) are
  removed.

The detectors then run on the normalised text, and every span is mapped back to the original
text: a span covers, in the original, everything from the first character its first normalised
character came from to the last character its last one came from, so an invisible character or a
spelled ``dot`` inside an entity is redacted with it. Text with none of these (almost all of it)
is returned as it is, after a few substring checks.

What is deliberately not undone: ``at`` as a plain word before a domain written with plain dots is
an address only when its local part is shaped like a mailbox (``ana.silva at gmail.com``), not after
any word (``look at docs.python.org``); line breaks between two digits outside a quoted field (a
table's rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import flagstream_pii

# Zero-width characters, soft hyphen, and bidi controls (Unicode's Bidi_Control property).
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
# Full-width ASCII variants (U+FF01-U+FF5E) and the ideographic space: one character for one.
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}


# Spelled and bracketed separators of an e-mail address.
_BRACKETED_AT = r"[ ]?(?:\[at\]|\(at\)|\{at\}|<at>|\[@\]|\(@\))[ ]?"
_WORD_AT = r"[ ]+(?:at|AT)[ ]+"
_SPELLED_DOT = r"[ ]?(?:\[dot\]|\(dot\)|\{dot\}|<dot>|\[\.\])[ ]?|[ ]+(?:dot|DOT)[ ]+"
_DOT = rf"(?:{_SPELLED_DOT}|\.)"
_LABEL = r"[^\W_](?:[\w%+\-]*[^\W_])?"
_TLD = r"[^\W\d_]{2,24}"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.@])(?P<local>{_LABEL}(?:{_DOT}{_LABEL})*)(?P<at>{_BRACKETED_AT}|{_WORD_AT})"
    rf"(?P<domain>(?:{_LABEL}{_DOT})+{_TLD})(?![\w@]|\.\w)",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(rf"{_BRACKETED_AT}|{_WORD_AT}|{_SPELLED_DOT}", re.IGNORECASE)
# Where an obfuscated address can have its '@': the pattern runs only in a window around each.
_AT_HINTS = ("at]", "at)", "at}", "at>", "AT]", "AT)", "AT}", "@]", "@)", " at ", " AT ", " At ")
# After a plain-word "at": a domain-like word, then a dot (plain, spelled or bracketed).
_DOMAIN_AHEAD = re.compile(r"[ ]*[^\W_][\w\-]*(?:\.[^\W\d_]|[ ]?[\[({<]dot|[ ]+dot[ ]+)", re.IGNORECASE)
_MAILBOX_LOCAL = re.compile(r"[\w%+\-]+[._0-9][\w.%+\-]*")
# The part of a local part before a line break inside it: a letter first, a separator or digit inside, a
# word character last.
_WRAPPED_LOCAL = re.compile(r"(?=[^\W\d_])[\w%+\-]+[._0-9%+\-][\w.%+\-]*(?<=[^\W_])")

_EMAIL = re.compile(r"[\w.%+\-]+@(?:[\w\-]+\.)+[^\W\d_]{2,}")
# The '@' hints, found in one pass (the crate's Aho-Corasick).
_HINTS = flagstream_pii.Needles(list(_AT_HINTS), False)
# Whether each hint is the plain word "at", which counts only before a domain.
_WORD_HINT = tuple(hint.strip().lower() == "at" for hint in _AT_HINTS)
# Whether a non-ASCII text holds anything to remove or to make ASCII (one pass).
_UNICODE_NEEDLES = flagstream_pii.Needles([*_INVISIBLE, *map(chr, _FULL_WIDTH)], False)
_TOKEN_CHARS = frozenset("._%+-@")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text and, for each of its characters, the original characters it came from."""

    text: str
    starts: list[int]
    ends: list[int]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` came from."""
        return self.starts[start], self.ends[end - 1]


def _token_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in _TOKEN_CHARS):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] in _TOKEN_CHARS):
        end += 1
    return start, end


def _break_edits(text: str, breaks: list[int]) -> list[tuple[int, int, str]]:
    """Line breaks to remove: inside an e-mail address, and between digits inside a quoted field."""
    edits: list[tuple[int, int, str]] = []
    email = "@" in text
    for at in breaks:
        start = at - 1 if at > 0 and text[at - 1] == "\r" else at
        if start == 0 or at + 1 >= len(text):
            continue
        before, after = text[start - 1], text[at + 1]
        if "0" <= before <= "9" and "0" <= after <= "9":
            # Inside a quoted field: an odd number of quotes before it, counted from the start of
            # the field of an interaction (the redactor joins fields with a NUL between breaks).
            if text.count('"', text.rfind("\x00", 0, start) + 1, start) % 2 == 1:
                edits.append((start, at + 1, ""))
            continue
        if not (
            email
            and (before.isalnum() or before in _TOKEN_CHARS)
            and (after.isalnum() or after in _TOKEN_CHARS)
        ):
            continue
        left_start, _ = _token_bounds(text, start, start)
        _, right_end = _token_bounds(text, at + 1, at + 1)
        left, right = text[left_start:start], text[at + 1 : right_end]
        if "@" not in left + right or _EMAIL.fullmatch(left):
            continue
        if _EMAIL.fullmatch(right) and not _WRAPPED_LOCAL.fullmatch(left):
            # "write to\nana@example.com" is an address on its own line; "ana.sil\nva@example.com"
            # is one wrapped inside its local part: the word before the break has a separator or
            # digit inside it, as local parts do and sentence words do not.
            continue
        if _EMAIL.fullmatch(left + right):
            edits.append((start, at + 1, ""))
    return edits


def _email_edits(text: str, hints: list[int]) -> list[tuple[int, int, str]]:
    """The spelled and bracketed separators of obfuscated e-mail addresses, to become '@' and '.'."""
    edits: list[tuple[int, int, str]] = []
    seen = -1
    for i in hints:
        if i < seen:
            continue
        for m in _OBFUSCATED_EMAIL.finditer(text, max(0, i - 64), min(len(text), i + 128)):
            if m.start() <= i < m.end():
                seen = m.end()
                edits.extend(_separators(text, m))
                break
    return edits


def _separators(text: str, m: re.Match[str]) -> list[tuple[int, int, str]]:
    """The edits of one obfuscated address, or none when it is a plain "at" before a plain domain."""
    at, domain = m.group("at"), m.group("domain")
    spelled = _SEPARATOR.search(m.group("local")) or _SEPARATOR.search(domain)
    if at.strip().lower() == "at" and not spelled and not _MAILBOX_LOCAL.fullmatch(m.group("local")):
        return []  # "look at docs.python.org": a plain word before a plainly written domain
    edits: list[tuple[int, int, str]] = []
    for sep in _SEPARATOR.finditer(text, m.start(), m.end()):
        inner = sep.group().strip().strip("[](){}<>").lower()
        edits.append((sep.start(), sep.end(), "@" if inner in ("at", "@") else "."))
    return edits


def _apply(
    text: str, starts: list[int] | None, ends: list[int] | None, edits: list[tuple[int, int, str]]
) -> tuple[str, list[int], list[int]]:
    """Apply non-overlapping (start, end, replacement) edits; a replacement maps to all it replaced.

    ``starts`` and ``ends`` map ``text`` to the original (None: ``text`` is the original).
    """
    if starts is None or ends is None:
        starts = list(range(len(text)))
        ends = list(range(1, len(text) + 1))
    parts: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for start, end, replacement in sorted(edits):
        if start < pos:
            continue
        parts.append(text[pos:start])
        new_starts.extend(starts[pos:start])
        new_ends.extend(ends[pos:start])
        if replacement:
            parts.append(replacement)
            new_starts.extend([starts[start]] * len(replacement))
            new_ends.extend([ends[end - 1]] * len(replacement))
        pos = end
    parts.append(text[pos:])
    new_starts.extend(starts[pos:])
    new_ends.extend(ends[pos:])
    return "".join(parts), new_starts, new_ends


def normalise(text: str) -> Normalised | None:
    """``text`` with obfuscations undone and the map back, or None when there is nothing to undo."""
    current = text
    starts: list[int] | None = None
    ends: list[int] | None = None
    if not text.isascii() and _UNICODE_NEEDLES.find(text):
        current = text.translate(_FULL_WIDTH)
        removals = [(m.start(), m.end(), "") for m in _INVISIBLE_RE.finditer(current)]
        if removals:
            current, starts, ends = _apply(current, None, None, removals)
    ats: list[int] = []
    if "at" in current or "AT" in current or "@" in current:
        for at, index in _HINTS.find(current):
            if not _WORD_HINT[index] or _DOMAIN_AHEAD.match(current, at + len(_AT_HINTS[index])):
                ats.append(at)
    edits = _email_edits(current, ats) if ats else []
    if "\n" in current and ("@" in current or '"' in current):
        newlines = []
        at = current.find("\n")
        while at >= 0:
            newlines.append(at)
            at = current.find("\n", at + 1)
        edits += _break_edits(current, newlines)
    if edits:
        current, starts, ends = _apply(current, starts, ends, edits)
    if current is text or (starts is None and current == text):
        return None
    if starts is None or ends is None:  # one character for one (full-width forms only)
        starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
    return Normalised(current, starts, ends)
