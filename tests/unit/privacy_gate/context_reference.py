"""The context rules as they were written in Python, kept as the reference the crate's port is
compared with (test_native_context.py).

The rules themselves run in the crate (services/privacy_gate/native/src/context.rs); the module
docstring of services/privacy_gate/domain/context.py describes them. A rule changed on purpose in the
crate is changed here too, so the comparison keeps covering every rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from services.privacy_gate.domain.detectors import EntityType, Found, Span, to_spans
from services.privacy_gate.domain.people import _AMBIGUOUS

_PERSON = EntityType.PERSON
_WORD = r"[^\W\d_][\w'\u2019\-]*"

# Everyday English words that never continue a name after a cue ("ask ana to", "hi there").
_STOP_WORDS = frozenset(
    """
    a about after again all also am an and any are as at back be because been before but by can
    could did do does done down each else every everyone everybody for from get go going good had has
    have he her here him his how i if in into is it its just know later let like me more most my need
    no not now of off on once only or our out over please re see she should so some soon team that
    the their them then there these they this those through to today tomorrow too up us very was we
    were what when where which while who why will with would yes yet you your yours guys folks all
    everyone thanks thank team asap again tonight morning afternoon evening meeting call sync
    """.split()  # noqa: SIM905
)
# Before a lower-case name: verbs of addressing, greetings, and nouns for a person in a record. Each is
# looked for with str.find, and the words after it are read with _AFTER_CUE at its end: one scan of
# the text per cue in C, where one regular expression with all of them would try every position.
_CUES = (
    *("remind", "ask", "tell", "ping", "cc", "bcc", "thank", "thanks", "thank you", "thx", "invite"),
    *("message", "loop in", "hi", "hey", "hello", "dear", "talked to", "spoke to", "spoke with"),
    *("meet with", "met with", "call", "email", "text", "dm", "customer", "client", "patient", "tenant"),
    *("applicant", "employee", "colleague", "user"),
)
_GREETINGS = frozenset(("thank you", "thanks", "thank", "thx", "hi", "hey", "hello", "dear"))
_AFTER_CUE = re.compile(rf"[ ]+({_WORD})(?:[ ]({_WORD}))?")
# After a greeting, one word then a comma or "!": the word is the name of who is greeted ("hey rose,").
_GREETING_END = re.compile(r"[ ]?[,!]|[ ]*$", re.MULTILINE)
# The speaker of a timestamped chat line ("[14:10] mark: ..."), unless a role.
_SPEAKER = re.compile(rf"(?m)^[ ]*\[[0-9]{{1,2}}:[0-9]{{2}}(?::[0-9]{{2}})?\][ ]+({_WORD}(?:[ ]{_WORD})?):")
_ROLES = frozenset("assistant user system bot me you agent support moderator admin ai model human".split())  # noqa: SIM905
# A mention: read after each '@' that starts a word, up to a space or punctuation (not a line break or
# a '(', which end a decorator).
_MENTION = re.compile(r"([A-Za-z][\w.\-]{0,38}[A-Za-z0-9])(?=[ ,:;!?)]|$)")
_CLOSING_HINTS = (
    *("regards", "thanks", "thank you", "cheers", "sincerely", "yours", "best", "grüß", "grüße"),
    *("cordialement", "bien à vous", "saludos", "atentamente", "pozdrawiam", "groet", "saluti"),
)
_CLOSING = re.compile(
    r"(?im)^[ ]*(?:best regards|kind regards|warm regards|regards|best|thanks|thank you|many thanks|cheers"
    r"|sincerely|yours|mit freundlichen grüßen|viele grüße|beste grüße|cordialement|bien à vous|saludos"
    r"|atentamente|pozdrawiam|groetjes|met vriendelijke groet|distinti saluti)[ ]*[,!.]?[ ]*\r?\n[ ]*"
    rf"({_WORD}(?:[ ]{_WORD}){{0,3}})[ ]*$"
)
_DASH_SIGNATURE = re.compile(rf"(?m)^[ ]*(?:\u2014|\u2013|--)[ ]?({_WORD}(?:[ ]{_WORD})?)[ ]*$")
# Fields whose value is a person's name: found from these words, then the label before them decides.
_FIELD_WORDS = (
    "name",
    "holder",
    "beneficiary",
    "recipient",
    "patient",
    "passenger",
    "applicant",
    "guarantor",
)
_STRONG_NAME_LABEL = re.compile(
    r"(?i)(?:^|[^a-z])(?:customer|client|account|contact|patient|employee|card|full|first|last|given|family|sur"
    r"|sender|recipient|holder|owner|passenger|guest|applicant)[_ \-]?$"
)
_FIELD_VALUE = re.compile(rf"[\"']?[ ]*[:=][ ]*[\"']?({_WORD}(?:[ ]{_WORD}){{0,3}})")
# Records whose "name" field is a person's: {"customer": {"name": ...}}.
_PERSON_OBJECTS = (
    *("customer", "client", "user", "contact", "patient", "employee", "author", "owner", "sender"),
    *("recipient", "passenger", "guest", "member", "person", "holder", "applicant", "student"),
)
_CSV_NAME_COLUMNS = frozenset(
    """
    name full_name fullname customer customer_name client contact contact_name first_name last_name
    account_holder holder cardholder employee patient recipient sender owner
    """.split()  # noqa: SIM905
)

# Street, house number, postcode and town: found from each ", <digit>" (the comma after the house
# number), then the street words before the number are read.
_STREET_KEYWORDS = (
    *("str", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer", "rue", "avenue", "boulevard"),
    *("impasse", "chemin", "allée", "place", "quai", "calle", "via ", "rua ", "ul.", "street", "road"),
    *(" st", " ave", "lane", "gracht", "gatan", "vej", "katu"),
)
_POSTCODE = (
    r"(?:[0-9]{5}|[0-9]{2}-[0-9]{3}|[0-9]{4}-[0-9]{3}|[0-9]{4}[ ]?[A-Z]{2}|[0-9]{3}[ ][0-9]{2}|[0-9]{4})"
)
_NUMBER_POSTCODE_TOWN = re.compile(
    rf"[0-9]{{1,4}}[a-zA-Z]?(?:/[0-9]{{1,3}})?,?[ ]+{_POSTCODE}[ ]+{_WORD}"
    rf"(?:[ ](?:im|am|an der|sur|upon|de)[ ]{_WORD})?"
)
_STREET_BEFORE = re.compile(rf"(?<![\w.])((?:ul\.[ ])?{_WORD}(?:[ ]{_WORD}){{0,3}}\.?)[ ]+$")
# Street forms read around a street word: (words that find the form, the form).
_GERMAN_STREET = re.compile(
    r"(?i)(?<![\w])(?:[^\W\d_][\w\-]{2,}(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|chaussee"
    r"|steig|pfad|markt)|(?:am|an der|auf dem|im|in der|zum|zur)[ ][^\W\d_][\w\-]+)[ ]+[0-9]{1,3}[a-z]?\b"
)
# The two patterns read in a window (French and lower-case streets) start with the house number's
# first digit and check the character before it after that digit, not before: the same match, but
# re's search then skips straight from digit to digit instead of trying the pattern at every position.
_FRENCH_STREET = re.compile(
    r"(?i)[0-9](?<![\w.][0-9])[0-9]{0,3}(?:[ ]?(?:bis|ter))?,?[ ]+"
    r"(?:rue|avenue|av\.|boulevard|bd|impasse|chemin|allée|allee|place|quai|route|cours|passage|square)"
    r"[ ]+(?:(?:de la|de l'|du|des|de|d')[ ]?)?"
    rf"{_WORD}(?:[ ](?!et\b|à\b|and\b){_WORD}){{0,2}}(?:,?[ ]+[0-9]{{5}}[ ]+{_WORD}|,[ ]+{_WORD})?"
)
_CONTINENTAL_STREET = re.compile(
    r"(?i)(?<![\w])(?:calle|via|viale|rua|avenida|ul\.|ulica|piazza|plaza|travessa)[ ]+"
    rf"{_WORD}(?:[ ]{_WORD}){{0,2}}[ ]+[0-9]{{1,4}}[a-z]?\b"
)
_LOWER_STREET = re.compile(
    r"[0-9](?<![\w.,][0-9])[0-9]{0,4}[a-z]?[ ]+(?:[a-z][a-z'\-]+[ ]+){1,2}"
    r"(?:street|st|avenue|ave|road|rd|lane|boulevard|blvd|terrace|crescent)\b"
    r"(?:\.?,?[ ]+(?:apt|suite|unit|flat)\.?[ ]*\w+)?"
)
# Where each street form is read from its word: "suffix" from the start of the word the suffix ends
# (Lindenallee 65), "prefix" at the word (Am Mühlbach 5), "number" in a window from a little before
# the word (12 rue des Lilas), "lower" the same, for lower-case words only (221 baker street).
_GERMAN_SUFFIXES = ("straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer")
_STREET_READS: dict[str, tuple[tuple[str, ...], re.Pattern[str]]] = {
    "suffix": ((*_GERMAN_SUFFIXES, "chaussee", "steig", "pfad", "markt"), _GERMAN_STREET),
    "prefix": (("Am ", "An der ", "Auf dem ", "Im ", "In der ", "Zum ", "Zur "), _GERMAN_STREET),
    "number": (
        ("rue", "avenue", "av.", "boulevard", "bd ", "impasse", "chemin", "allée", "allee", "place", "quai"),
        _FRENCH_STREET,
    ),
    "number2": (("route", "cours", "passage", "square"), _FRENCH_STREET),
    "continental": (
        ("calle", "via ", "viale", "rua ", "avenida", "ul.", "ulica", "piazza", "plaza", "travessa"),
        _CONTINENTAL_STREET,
    ),
    "lower": (
        (
            *("street", "avenue", "road", "lane", "boulevard", "blvd", "terrace", "crescent"),
            *(f" {w}{end}" for w in ("st", "ave", "rd") for end in (" ", ",", ".", "\n")),
        ),
        _LOWER_STREET,
    ),
}

_DIGIT = re.compile(r"[0-9]")
# Read from each '/' back over the digits before it.
_SLASH_PHONE = re.compile(r"0[1-9][0-9]{1,4}/[0-9]{4,9}(?![\w/\-]|\.\w)")

_BASIC_AUTH = re.compile(r"(?i)\bauthorization[\"']?[ ]*[:=][ ]*[\"']?basic[ ]+([A-Za-z0-9+/]{6,}={0,2})")
# Starts with its '-' (the check of the character before it comes after): re's search skips to dashes.
_CURL_USER = re.compile(r"-(?<![\w\-]-)(?:u|-user)[ =]+[\"']?[^\s:\"']+:([^\s\"']{3,})")
_URL_EMPTY_USER = re.compile(r"[a-z][a-z0-9+.\-]*://:([^\s@/]{3,})@")
# Environment lines: found from the secret word and '=', then the name is read back to its start.
_ENV_SECRET_WORDS = ("PASSWORD=", "PASSWD=", "PASS=", "PWD=", "SECRET=", "TOKEN=", "_KEY=")
_ENV_VALUE = re.compile(r"[^\s\"'$;`][^\s;`]*|\"[^\"$\n]{3,}\"|'[^'\n]{3,}'")
_AWS_SECRET = re.compile(r"\"SecretAccessKey\"[ ]*:[ ]*\"([A-Za-z0-9/+=]{40})\"")


class _Needles:
    """The occurrences of some words, left to right, not overlapping; the longest where several
    start at one place; ASCII letters matched in any case (as the crate's Aho-Corasick pass)."""

    def __init__(self, words: list[str]) -> None:
        longest_first = sorted(words, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first)), re.IGNORECASE | re.ASCII)
        self._index = {w: i for i, w in enumerate(words)}

    def find(self, text: str) -> list[tuple[int, int]]:
        return [(m.start(), self._index[_ascii_lower(m.group())]) for m in self._pattern.finditer(text)]


def _ascii_lower(s: str) -> str:
    return "".join(c.lower() if c < "\x80" else c for c in s)


# Every word the rules start from, in one automaton (one pass over the text, in the crate, case-blind,
# leftmost-longest); the capitalised German street prefixes and the secret words of environment
# lines must also match in case.
_RULE_WORDS: list[tuple[str, str]] = [
    *(("cue", f"{w} ") for w in _CUES),  # a name follows a cue after a space: "this" holds no "hi "
    *(("field", w) for w in _FIELD_WORDS),
    *(("closing", w) for w in _CLOSING_HINTS),
    *(("dash", w) for w in ("\u2014", "\u2013", "--")),
    *(("speaker", "] "), ("mention", "@"), ("slash", "/"), ("basic", "basic")),
    *(("curl", w) for w in ("-u", "--user")),
    *(("url", "://:"), ("aws", "secretaccesskey")),
    *(("postcode", f", {d}") for d in "0123456789"),
    *((read, w) for read, (words, _) in _STREET_READS.items() for w in words),
    *(("env", w) for w in _ENV_SECRET_WORDS),
]
_NEEDLE_WORDS = list(dict.fromkeys(w.lower() for _, w in _RULE_WORDS))
# Rules of each needle: (rule, the word as the rule spells it, whether its case must match too).
_CASED_RULES = frozenset(("prefix", "env"))
_NEEDLE_RULES: list[list[tuple[str, str, bool]]] = [[] for _ in _NEEDLE_WORDS]
for _rule, _word in _RULE_WORDS:
    _NEEDLE_RULES[_NEEDLE_WORDS.index(_word.lower())].append((_rule, _word, _rule in _CASED_RULES))
_NEEDLES = _Needles(_NEEDLE_WORDS)
# The rules each group of rules reads, to skip the groups no word of the text starts.
_PEOPLE_RULES = frozenset(("cue", "speaker", "mention", "closing", "dash", "field"))
_ADDRESS_RULES = frozenset(("postcode", *_STREET_READS))
_SECRET_RULES = frozenset(("basic", "curl", "url", "aws", "env"))


def _anchors(text: str) -> dict[str, list[tuple[int, str]]]:
    """Where each rule's words occur in ``text``: rule -> [(position, word)]."""
    found: dict[str, list[tuple[int, str]]] = {}
    for at, index in _NEEDLES.find(text):
        for rule, word, cased in _NEEDLE_RULES[index]:
            if cased and not text.startswith(word, at):
                continue
            if rule in found:
                found[rule].append((at, word))
            else:
                found[rule] = [(at, word)]
    return found


# Look-alikes.
_PLACEHOLDER = re.compile(
    r"\$\{|\$\(|\$[A-Z_][A-Z0-9_]*$|<[^>]*>?$|\{\{|%\(|[A-Za-z_][\w.]*[(\[]|process\.env\.|os\.environ|ENV\[|\*{3,}$|x{4,}$",
    re.IGNORECASE,
)
# What can follow a name before the noun of an eponym ("Maxwell's equations", "Planck constant").
_EPONYM_GAP = frozenset(("'", "\u2019", " "))
_EPONYM_AFTER = re.compile(
    r"(?:['\u2019]s)?[ ](?:constant|equations?|laws?|theorem|principle|uncertainty|exclusion|model|effect"
    r"|diagrams?|estimates?|distribution|number|limit|paradox|radiation|statistics|transform|series"
    r"|condensate|cycle|engine|scale|sphere|function|operator|notation|entropy|force|field|ratio|theory"
    r"|relativity)\b"
)
_PLACES = frozenset(
    place.strip()
    for place in """
    São Paulo|Sao Paulo|San Jose|San Diego|San Francisco|Santa Clara|Santa Monica|Santa Cruz|Santiago
    Los Angeles|Las Vegas|St Louis|St. Louis|Saint Paul|Berlin|Lisbon|Warsaw|Kraków|Lagos|Nairobi|Hanoi
    Istanbul|Reykjavík|Montréal|Zürich|Osaka|Bengaluru|Toronto|Vienna|Rio de Janeiro|Buenos Aires
    """.replace("\n", "|").split("|")
    if place.strip()
)


_STREET_PARTICLES = frozenset("ul. de la del der den van von des du am an im auf dem zum zur di da".split())  # noqa: SIM905


def _slash_phones(text: str, slashes: list[tuple[int, str]]) -> Iterator[Found]:
    """German phone numbers with the area code before a slash (``089/73984500``)."""
    for slash, _ in slashes:
        start = slash
        while start > 0 and "0" <= text[start - 1] <= "9":
            start -= 1
        if slash - start >= 3 and (start == 0 or not _glued(text[start - 1])):
            m = _SLASH_PHONE.match(text, start)
            if m:
                yield (EntityType.PHONE_NUMBER, m.start(), m.end(), 0.6)


def _street_begin(text: str, start: int, end: int) -> int | None:
    """Where the street named by the words ``text[start:end]`` before a house number begins.

    The capitalised words (and particles) nearest the number; lower-case words only when every word
    is lower case and one of them is a street word (``lindenallee 65, 69163 heidelberg``).
    """
    words = text[start:end].split(" ")
    keep = len(words)
    while keep > 0 and (words[keep - 1][:1].isupper() or words[keep - 1].lower() in _STREET_PARTICLES):
        keep -= 1
    if keep < len(words) and any(w[:1].isupper() for w in words[keep:]):
        return start + sum(len(w) + 1 for w in words[:keep])
    lowered = text[start:end].lower()
    if any(k in lowered for k in _STREET_KEYWORDS):
        return start + sum(len(w) + 1 for w in words[: max(0, len(words) - 2)])
    return None


def _glued(ch: str) -> bool:
    return ch.isalnum() or ch in "/.:-_"


def _titled(word: str) -> bool:
    """A capitalised word that is not all capitals ("Émilie", not "API")."""
    return word[:1].isupper() and not word.isupper() and word.lower() not in _STOP_WORDS


def _is_name_word(word: str, given: frozenset[str], known: frozenset[str]) -> bool:
    if word.lower() in _STOP_WORDS:
        return False
    capitalised = word[:1].upper() + word[1:].lower()
    return capitalised in given or capitalised in known


class ContextDetector:
    """Personal data found by its context: see the module docstring for every rule."""

    __slots__ = ("_given", "_known")

    def __init__(self, given: frozenset[str] | None = None, known: frozenset[str] | None = None) -> None:
        from services.privacy_gate.domain.people import given_names, surnames

        self._given = given_names() if given is None else given
        self._known = surnames() if known is None else known

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """PERSON, LOCATION, PHONE_NUMBER and CREDENTIAL."""
        return frozenset((_PERSON, EntityType.LOCATION, EntityType.PHONE_NUMBER, EntityType.CREDENTIAL))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans found by the context rules."""
        return iter(to_spans(self.find(text)))

    def find(self, text: str) -> list[Found]:
        """Spans found by the context rules, as tuples."""
        anchors = _anchors(text)
        if not anchors:
            return []
        # Most text holds a few rule words at most: only the groups of rules they start are read.
        rules = anchors.keys()
        found: list[Found] = []
        if not rules.isdisjoint(_PEOPLE_RULES):
            found.extend(self._people(text, anchors))
        if not rules.isdisjoint(_ADDRESS_RULES):
            found.extend(self._addresses(text, anchors))
        if "slash" in anchors:
            found.extend(_slash_phones(text, anchors["slash"]))
        if not rules.isdisjoint(_SECRET_RULES):
            found.extend(self._secrets(text, anchors))
        return found

    def _people(self, text: str, anchors: dict[str, list[tuple[int, str]]]) -> Iterator[Found]:
        given, known = self._given, self._known
        for at, cue in anchors.get("cue", ()):
            if (at == 0 or not (text[at - 1].isalnum() or text[at - 1] == "@")) and (
                span := self._addressed(text, at + len(cue) - 1, cue[:-1] in _GREETINGS)
            ):
                yield span
        for at, _ in anchors.get("speaker", ()):
            m = _SPEAKER.match(text, text.rfind("\n", 0, at) + 1)
            if m and m.group(1).lower() not in _ROLES:
                yield (_PERSON, m.start(1), m.end(1), 0.6)
        for at, _ in anchors.get("mention", ()):
            if at == 0 or text[at - 1].isspace() or text[at - 1] == "(":
                handle = _MENTION.match(text, at + 1)
                if handle:
                    parts = re.split(r"[._\-]", handle.group(1))
                    first_last = len(parts) == 2 and all(len(p) >= 2 and p.isalpha() for p in parts)
                    if first_last or (
                        len(parts) <= 3 and any(_is_name_word(p, given, known) for p in parts if p)
                    ):
                        yield (_PERSON, handle.start(1), handle.end(1), 0.6)
        if "\n" in text:
            # Each read from the start of the line holding its word.
            for rule, pattern in (("closing", _CLOSING), ("dash", _DASH_SIGNATURE)):
                for at, _ in anchors.get(rule, ()):
                    m = pattern.match(text, text.rfind("\n", 0, at) + 1)
                    if m is None:
                        continue
                    word = m.group(1).split()[0]
                    if word.lower() not in _STOP_WORDS or word.capitalize() in _AMBIGUOUS:
                        yield (_PERSON, m.start(1), m.end(1), 0.6)
        fields = anchors.get("field", ())
        for at, field in fields:
            span = self._field(text, at, field)
            if span:
                yield span
        names = [at for at, field in fields if field == "name"]
        if names:
            yield from self._csv_names(text, names)

    def _addressed(self, text: str, end: int, greeting: bool) -> Found | None:
        """The name after a cue ending at ``end``, if the words there are one (module docstring)."""
        m = _AFTER_CUE.match(text, end)
        if m is None:
            return None
        given, known = self._given, self._known
        first, second = m.group(1), m.group(2)
        if first.lower() in _STOP_WORDS:
            return None
        second_is_name = bool(second) and _is_name_word(second, given, known)
        titled = bool(second) and _titled(first) and _titled(second)
        greeted = greeting and _GREETING_END.match(text, m.end(1)) is not None
        if not (
            _is_name_word(first, given, known)
            or (second_is_name and first.capitalize() in _AMBIGUOUS)
            or greeted
            or titled
        ):
            return None
        return (_PERSON, m.start(1), m.end(2) if second_is_name or titled else m.end(1), 0.6)

    def _field(self, text: str, at: int, field: str) -> Found | None:
        """The name in a field labelled by ``field`` at ``at``, if the label names a person."""
        m = _FIELD_VALUE.match(text, at + len(field))
        if m is None:
            return None
        glued = at > 0 and (text[at - 1].isalnum() or text[at - 1] in "_-")
        strong = field != "name" or _STRONG_NAME_LABEL.search(text, max(0, at - 14), at) is not None
        if glued and not strong:
            return None  # "hostname", "username"
        words = m.group(1).split()
        if words[0].lower() in _STOP_WORDS:
            return None
        if not strong and not any(_is_name_word(w, self._given, self._known) for w in words):
            record = text[max(0, at - 40) : at].lower()
            if not any(w in record for w in _PERSON_OBJECTS):
                return None  # a bare "name" (a job, a package): a known name or a person's record needed
        return (_PERSON, m.start(1), m.end(1), 0.6)

    def _csv_names(self, text: str, name_fields: list[int]) -> Iterator[Found]:
        """The cells of CSV columns whose header names a person.

        A header is a line holding a comma and a ``name`` word; its table runs until a line without
        a comma (outside quotes), a field boundary (NUL) or the end of the text.
        """
        parsed = -1
        for at in name_fields:
            if at < parsed:
                continue
            header_start = text.rfind("\n", 0, at) + 1
            header_end = text.find("\n", at)
            if header_end < 0 or "," not in text[header_start:header_end]:
                continue
            header = [h.strip().strip("\"'").lower() for h in text[header_start:header_end].split(",")]
            columns = {i for i, h in enumerate(header) if h in _CSV_NAME_COLUMNS}
            if not columns:
                continue
            parsed = header_end
            yield from self._csv_column_cells(text, header_end + 1, columns)

    def _csv_column_cells(self, text: str, pos: int, columns: set[int]) -> Iterator[Found]:
        size = len(text)
        field, start, quoted = 0, pos, False
        row: list[tuple[int, int]] = []
        while pos <= size:
            ch = text[pos] if pos < size else "\n"
            if quoted:
                if ch == '"':
                    quoted = False
            elif ch == '"':
                quoted = True
            elif ch in ",\n\x00":
                if field in columns:
                    a, b = start, pos
                    while a < b and text[a] in " \"'":
                        a += 1
                    while b > a and text[b - 1] in " \"'\r":
                        b -= 1
                    cell = text[a:b]
                    if cell and all(w[:1].isalpha() for w in cell.split()) and len(cell.split()) <= 5:
                        row.append((a, b))
                if ch == ",":
                    field += 1
                else:
                    if field == 0:
                        return  # a line without a comma: the table ended
                    for a, b in row:
                        yield (_PERSON, a, b, 0.6)
                    if ch == "\x00":
                        return
                    field, row = 0, []
                start = pos + 1
            pos += 1

    def _addresses(self, text: str, anchors: dict[str, list[tuple[int, str]]]) -> Iterator[Found]:
        location = EntityType.LOCATION
        for comma, _ in anchors.get("postcode", ()):
            start = comma
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "/"):
                start -= 1
            if start == 0 or start == comma or text[start - 1] != " " or not text[start].isdigit():
                continue
            m = _NUMBER_POSTCODE_TOWN.match(text, start)
            if m is None:
                continue
            street = _STREET_BEFORE.search(text, max(0, start - 48), start)
            if street is None:
                continue
            begin = _street_begin(text, street.start(1), street.end(1))
            if begin is not None:
                yield (location, begin, m.end(), 0.6)
        size = len(text)
        for read, (_, pattern) in _STREET_READS.items():
            if read not in anchors:
                continue
            last = -1
            for at, word in anchors[read]:
                if at < last:
                    continue
                end = at + len(word)
                # Each form needs its house number: right after the street (suffix), within a few
                # words after it (prefix, continental) or before it (number, lower).
                if read == "suffix":
                    number = end + 1 < size and text[end] == " " and "0" <= text[end + 1] <= "9"
                    if not number:
                        continue
                    start = at
                    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "-"):
                        start -= 1
                    if at - start < 3:
                        continue  # "Spring 2024": a street compound has a stem before its suffix
                    found = [m] if (m := pattern.match(text, start)) else []
                elif read in ("prefix", "continental"):
                    if _DIGIT.search(text, end, end + 40) is None:
                        continue
                    found = [m] if (m := pattern.match(text, at)) else []
                else:
                    if read == "lower" and (text[end - 1].isupper() or (end < size and text[end].isalpha())):
                        continue  # capitalised streets are the native street detector's; "stop" is no "st"
                    if _DIGIT.search(text, max(0, at - 28), at) is None:
                        continue
                    found = list(pattern.finditer(text, max(0, at - 28, last), min(size, end + 48)))
                for m in found:
                    last = m.end()
                    yield (location, m.start(), m.end(), 0.6)

    def _secrets(self, text: str, anchors: dict[str, list[tuple[int, str]]]) -> Iterator[Found]:
        credential = EntityType.CREDENTIAL
        for rule, pattern in (
            ("basic", _BASIC_AUTH),
            ("curl", _CURL_USER),
            ("url", _URL_EMPTY_USER),
            ("aws", _AWS_SECRET),
        ):
            if rule in anchors:
                for m in pattern.finditer(text):
                    if not _PLACEHOLDER.match(m.group(1)):
                        yield (credential, m.start(1), m.end(1), 0.85)
        for at, word in anchors.get("env", ()):
            name = at
            while name > 0 and (
                text[name - 1].isupper() or text[name - 1].isdigit() or text[name - 1] == "_"
            ):
                name -= 1
            if name == 0 or text[name - 1] in " ;\n\t":
                value = _ENV_VALUE.match(text, at + len(word))
                if value and not _PLACEHOLDER.match(value.group().strip("\"'")):
                    yield (credential, value.start(), value.end(), 0.85)

    def __repr__(self) -> str:
        return "ContextDetector()"


def clear_lookalikes(text: str, spans: list[Found]) -> list[Found]:
    """``spans`` without the look-alikes the context shows: placeholder secrets, places, eponyms.

    Each PERSON and CREDENTIAL span is checked where it is, with no pass over the text: a place is
    the whole span, an eponym's noun follows it after a space (or "'s ").
    """
    credential = EntityType.CREDENTIAL
    kept = []
    for span in spans:
        kind, start, end, _ = span
        if kind == credential:
            if _PLACEHOLDER.match(text[start:end]):
                continue
        elif kind == _PERSON:
            if text[start:end] in _PLACES:
                continue
            if text[end : end + 1] in _EPONYM_GAP and _EPONYM_AFTER.match(text, end):
                continue
        kept.append(span)
    return kept
