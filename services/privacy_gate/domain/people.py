"""PERSON and LOCATION (street address) detectors without a language model.

People: capitalised words where one is a known given name (the ~40,000 international first names
the ``gender-guesser`` package ships, minus common English words), extended over a middle initial
and the following capitalised words (surnames); or capitalised words after a title or a cue such as
"my name is", "Dear", "Hi". Addresses: a house number, capitalised street words and a street
suffix, extended over a unit, a city, a state and a postcode; and P.O. boxes.

The list ships inside a registry package and is read from the installed files: nothing is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

from services.privacy_gate.domain.detectors import EntityType, Span

# Given names that are also everyday English words: they start a PERSON only after a cue or title.
_AMBIGUOUS_WORDS = """
    A About After Age Air All Also Am An And Angel Any April Are Art As Ask At August Autumn Baby Bay
    Be Bear Bell Belle Best Big Bill Black Blue Bo Bob Bond Brand Brook Brown Bud But By Ca Call Can
    Cash Chance Charity Chase Cherry Chris Christian Church Clay Cliff Co Cole Colt Cook Coral Crystal
    Dale Dash Dawn Day Dean Deal Dear Del Di Do Dot Dove Down Drew Duke Early East Easter Echo Eden
    Ever Faith Fall Fay Fern Field First Fletcher Flower For Ford Forest Fox Frank Free From Gay Gem
    Gene Gil Glen Gold Golden Good Grace Grant Gray Green Guy Hale Hall Happy Harmony Has Have He
    Heather Her Hero Hill His Holly Honey Hope Hunter I If In Iris Is It Ivy Jack Jade Jan Jazz Jean
    Jewel Job Joy June Just Justice King Kitty Lake Lane Last Le Lee Liberty Light Lily Long Love Lu
    Lucky Mac Major Man March Mark Marshall Mason Max May Me Mercy Merry Mid Miles Miss Mo Monday My
    Nan New Nick No North Not Now Oak Of Ok On One Or Our Over Page Paris Park Pat Patience Peace
    Pearl Penny Pepper Pier Pierce Pink Pip Please Poppy Prince Queen Rain Ray Red Reed Rich River
    Robin Rock Rose Ruby Rule Rush Sage Sale Sam Sandy Say See September Shell She Sky So Some
    Son Spring Star Stone Storm Summer Sun Sunny Sunday Sweet Tan Tea That The Then There They This
    Tiny To Today Tom Top Town True Tu Under Unity Up Us Van Via Victor Vine Violet Wade Walker Ward
    Was We Well West White Will Win Winter With Wolf Wood Yes You Young Your Hi Hey Hello Dear Ave Apt
    Via Ste Rue Sir Lady Lord Mister Madam Santa San Saint Mount Fort Port Cape Lord God Jesus Allah
    Oh Carry France Princess Royal Al El Na Des Ok Okay Yeah Sorry Thanks
"""
_AMBIGUOUS = frozenset(_AMBIGUOUS_WORDS.split())
# Capitalised words that never continue a name (a sentence's next word, a weekday, a month...).
_NEVER_SURNAME_WORDS = """
    Street St Avenue Ave Road Rd Inc Ltd LLC Corp Company University Hospital Bank School College
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February July October November
    December Mr Mrs Ms Dr Prof Thanks Thank Hello Hi Hey Dear Regards Best Sincerely
"""
_NOT_SURNAMES = _AMBIGUOUS | frozenset(_NEVER_SURNAME_WORDS.split())
_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir madam dame lord lady rev fr capt sgt judge".split()  # noqa: SIM905
)
# Words after which a capitalised unknown word is a name: "my name is X", "Dear X", "Hi X,".
_CUES = ("my name is", "my name's", "name is", "call me", "named", "called", "signed", "i'm", "i am")
_GREETINGS = ("dear", "hi", "hello", "hey", "thanks", "thank you", "cheers", "regards", "sincerely")
_CUE_ENDINGS = frozenset(phrase.rsplit(None, 1)[-1] for phrase in _CUES + _GREETINGS)
_TAIL = r"[^\W\d_'\u2019\-]*(?:['\u2019\-][^\W\d_]+)*"
_WORD = rf"[^\W\d_]{_TAIL}"
# Capitalised words only: a character set first, so the regex engine skips lower-case text fast.
_CAPITALISED = re.compile(rf"[A-ZÀ-ÖØ-Þ]{_TAIL}")
_INITIAL = re.compile(r" [A-Z]\.(?= [A-Z])")
_NEXT_WORD = re.compile(rf" (?:(?:van|von|de|del|da|di|le|la|bin|al)[ \-])?({_WORD})")


@cache
def given_names() -> frozenset[str]:
    """The first-name lexicon, capitalised; read once from the installed gender-guesser data."""
    data = resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_bytes()
    names = set()
    for line in data.decode("iso-8859-1").splitlines():
        if line.startswith("#") or len(line) < 30:
            continue
        name = line[3:29].strip()
        # '+' marks spelling variants with a space or a dash; '<' an escaped non-Latin-1 letter.
        if len(name) >= 2 and name.isalpha() and name[0].isupper():
            names.add(name)
    return frozenset(names - _NOT_SURNAMES)


def _glued(char: str) -> bool:
    return char.isalnum() or char == "_"


def _is_name_word(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and not word.isupper() and word not in _NOT_SURNAMES


class PersonDetector:
    """Names of people: known given names with their surnames, and capitalised words after titles or cues."""

    __slots__ = ("_given",)

    def __init__(self, given: frozenset[str] | None = None) -> None:
        self._given = given_names() if given is None else given

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only PERSON."""
        return frozenset((EntityType.PERSON,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of person names."""
        given = self._given
        cursor = 0
        for match in _CAPITALISED.finditer(text):
            start, word = match.start(), match.group()
            if start < cursor or (start > 0 and (_glued(text[start - 1]) or text[start - 1] in "@.'-")):
                continue
            if word in given:
                score = 0.6
            elif _is_name_word(word) and (score := self._cued(text, start)) > 0:
                pass
            else:
                continue
            cursor = self._extend(text, match.end())
            yield Span(EntityType.PERSON, start, cursor, score)

    @staticmethod
    def _cued(text: str, start: int) -> float:
        """Confidence that the unknown capitalised word at ``start`` is a name, from the words before it."""
        before = text[max(0, start - 16) : start].lower().rstrip()
        last = before.rsplit(None, 1)[-1].rstrip(".,:") if before else ""
        if last in _TITLES:
            return 0.8
        if last not in _CUE_ENDINGS:
            return 0.0  # the common case, settled by one set lookup
        before = before.rstrip(",:")
        for cue in _CUES:
            if before.endswith(cue) and (len(before) == len(cue) or not before[-len(cue) - 1].isalnum()):
                return 0.7
        for greeting in _GREETINGS:
            if before.endswith(greeting) and (
                len(before) == len(greeting) or not before[-len(greeting) - 1].isalnum()
            ):
                # "Hi Team" is no one: after a greeting only a word that ends the phrase counts.
                tail = text[start : start + 40]
                after = tail.split(None, 1)[0] if tail.strip() else ""
                if after[-1:] in ",!" or start + len(after) == len(text):
                    return 0.6
        return 0.0

    @staticmethod
    def _extend(text: str, end: int) -> int:
        """Extend a name over a middle initial and up to two more capitalised words."""
        taken = 0
        while taken < 3:
            initial = _INITIAL.match(text, end)
            if initial is not None:
                end = initial.end()
                continue
            word = _NEXT_WORD.match(text, end)
            if word is None or not _is_name_word(word.group(1)):
                break
            end = word.end()
            taken += 1
        return end

    def __repr__(self) -> str:
        return "PersonDetector()"


_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|Terrace|Way"
    "|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Crescent|Close|Row|Alley|Walk|Plaza|Loop|Path|Pike"
    "|Crossing|Xing|Expressway|Freeway|Turnpike|Run|Mews|Grove|Gardens|Hill|Hills|Heights|Park|Ridge|View"
    "|Villages?|Vista|Point|Port|Pass|Mall|Landing|Junction|Harbor|Glen|Fields?|Estates?|Creek|Cove"
    "|Center|Centre|Causeway|Bypass|Brooks?|Bridge|Branch|Bend|Bay|Spur|Springs?|Station|Summit|Track"
    "|Union|Valley|Wells?|Green|Gateway|Forge|Ford|Falls|Extension|Divide|Dale|Commons?|Club|Cliffs?"
    "|Camp|Canyon|Cape|Burgs?|Mill|Meadows?|Manor|Lakes?|Knolls?|Islands?|Inlet|Haven|Orchard|Oval"
    "|Shores?|Squares?|Stream|Throughway|Tunnel|Via|Viaduct|Ville|Wall|Ways"
)
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Floor|Fl\.?|Room|Rm\.?|#)\s*[A-Za-z0-9\-]{1,6})"
_CITY_STATE_ZIP = (
    r"(?:,?[ \n]+[A-Z][\w'\u2019\-]+(?:[ ][A-Z][\w'\u2019\-]+){0,2}"  # city
    r"(?:,?[ ]+(?:[A-Z]{2}|[A-Z][a-z]+(?:[ ][A-Z][a-z]+)?))?"  # state
    # US ZIP code or UK postcode
    r"(?:,?[ ]+[0-9]{5}(?:-[0-9]{4})?|,?[ ]+[A-Z]{1,2}[0-9][A-Z0-9]?[ ][0-9][A-Z]{2}))?"
)
_STREET = re.compile(
    rf"[0-9]{{1,6}}[A-Za-z]?(?:-[0-9]{{1,4}})?[ ]+(?:[NSEW]\.?[ ]+)?"
    # Street words: capitalised, or an ordinal (5th Avenue); never bare digits, so tables stay fast.
    rf"(?:(?:[A-Z][\w'\u2019\-]*|[0-9]{{1,3}}(?:st|nd|rd|th))[ ]+){{1,4}}?"
    rf"(?:{_SUFFIXES})\b\.?(?:[ ]+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}?{_CITY_STATE_ZIP}"
)
# Continental style: the street word first (Via Roma 12) or a compound suffix (Hauptstraße 5).
# Continental style: the street word first (Via Roma 12) or a compound suffix (Hauptstraße 5). Found
# from each house number back: numbers are few, so this is cheaper than a regex over every word.
_STREET_FIRST_WORDS = frozenset(
    (
        *("Via", "Viale", "Piazza", "Corso", "Largo", "Rua", "Rue", "Avenue", "Avenida", "Av.", "Calle"),
        *("Carrer", "Plaza", "Praça", "Strada", "Ulica", "Ul."),
    )
)
_STREET_PARTICLES = frozenset("de da do dos das del della di du des la le".split())  # noqa: SIM905
_COMPOUND_SUFFIXES = (
    *("straße", "strasse", "str.", "gasse", "weg", "platz", "allee", "ring", "damm", "vej", "gade"),
    *("veien", "gatan", "vägen", "laan", "straat", "plein", "utca", "ulica", "braut", "gata", "katu", "tie"),
)
_HOUSE_NUMBER = re.compile(r" [0-9]{1,5}[a-zA-Z]?\b")
_PO_BOX = re.compile(r"\bP\.?\s?O\.?\s?Box\s+[0-9]{1,6}\b")


class StreetAddressDetector:
    """Street addresses (number, street, suffix, then unit, city, state, postcode) and P.O. boxes."""

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only LOCATION."""
        return frozenset((EntityType.LOCATION,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of addresses."""
        for match in _STREET.finditer(text):
            if match.start() > 0 and _glued(text[match.start() - 1]):
                continue
            end = match.end()
            while text[end - 1] in ", ":
                end -= 1
            yield Span(EntityType.LOCATION, match.start(), end, 0.7)
        yield from self._continental(text)
        if "Box" in text:
            for match in _PO_BOX.finditer(text):
                yield Span(EntityType.LOCATION, match.start(), match.end(), 0.8)

    @staticmethod
    def _continental(text: str) -> Iterator[Span]:
        for number in _HOUSE_NUMBER.finditer(text):
            words = text[max(0, number.start() - 60) : number.start()].rstrip(",").split(" ")
            if len(words) < 1 or not words[-1]:
                continue
            last = words[-1]
            if last[:1].isupper() and last.lower().endswith(_COMPOUND_SUFFIXES):
                yield Span(EntityType.LOCATION, number.start() - len(last), number.end(), 0.6)
                continue
            # Walk back over capitalised words and particles to a street word: "Via della Scala 3".
            length = 0
            for word in reversed(words[-6:]):
                if word in _STREET_FIRST_WORDS:
                    start = number.start() - length - len(word)
                    if length > 0:
                        yield Span(EntityType.LOCATION, start, number.end(), 0.6)
                    break
                if not (word[:1].isupper() or word in _STREET_PARTICLES):
                    break
                length += len(word) + 1

    def __repr__(self) -> str:
        return "StreetAddressDetector()"
