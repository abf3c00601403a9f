"""PERSON and LOCATION (street address) detectors without a language model.

People: capitalised words where one is a known given name (the ~37,000 international first names
the ``gender-guesser`` package ships, minus common English words), extended over a middle initial
and the following capitalised words (surnames); capitalised words after a title or a cue such as
"my name is", "Dear", "Hi"; and an unknown capitalised word before a surname-shaped one
("Marik Kwiatkowski"). A known surname (the 1990 US Census list the ``names`` package ships, its
50,000 most frequent, less everyday English words) needs evidence: an unknown capitalised word before
it ("Pomeroy Lemelin"), a place mid-sentence ("asked Hernandez to"), a verb of speech or action after
it ("Horton began"), a possessive, another surname in a list. Last, the words of names found repeat
as names ("starring Faber"), and capitalised words listed with a name are names ("Bourgouin and
Short"). Addresses: a house number and a street (words and a suffix, a continental street word or
compound and a number, or words between two numbers), extended over the unit, city, state, postcode
and country parts of an address block; the same streets after cues such as "lives on"; units; P.O.
boxes and US military addresses.

The lists ship inside registry packages and are read from the installed files: nothing is fetched.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from functools import cache
from importlib import resources

from services.privacy_gate.domain.detectors import EntityType, Span, glued_before

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
    Oh Carry France Princess Royal Al El Na Des Ok Okay Yeah Sorry Thanks Here Mine Go General Public
"""
_AMBIGUOUS = frozenset(_AMBIGUOUS_WORDS.split())
# Capitalised words that never continue a name (a sentence's next word, a weekday, a month...).
_NEVER_SURNAME_WORDS = """
    Street St Avenue Ave Road Rd Inc Ltd LLC Corp Company University Hospital Bank School College
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February July October November
    December Mr Mrs Ms Dr Prof Thanks Thank Hello Hi Hey Dear Regards Best Sincerely Apt Apartment
    Suite Unit Floor Room Box
"""
_NEVER_SURNAMES = frozenset(_NEVER_SURNAME_WORDS.split())
_NOT_SURNAMES = _AMBIGUOUS | _NEVER_SURNAMES
_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir madam dame lord lady rev fr capt sgt judge".split()  # noqa: SIM905
)
# Words after which a capitalised unknown word is a name: "my name is X", "Dear X", "Hi X,".
_CUES = ("my name is", "my name's", "name is", "call me", "named", "called", "signed", "i'm", "i am", "name")
_GREETINGS = ("dear", "hi", "hello", "hey", "thanks", "thank you", "cheers", "regards", "sincerely")
_CUE_ENDINGS = frozenset(phrase.rsplit(None, 1)[-1] for phrase in _CUES + _GREETINGS)
# The last three characters a title or cue word (with its punctuation) can leave before the space in
# front of a name, a two-letter one ("Mr", "Hi") with the space or line break before it or alone at
# the start of the text: most capitalised words are settled by this one lookup, without cutting out
# the word before them. (Every title and cue word has two letters or more.)
_CUE_TAILS = frozenset(
    tail
    for word in _TITLES | _CUE_ENDINGS
    for marked in (word + mark for mark in ("", ".", ",", ":", "?"))
    for tail in ((marked[-3:],) if len(marked) >= 3 else (marked, " " + marked, "\n" + marked))
)
_QUOTES = " \"'\u201c\u2018"
_TAIL = r"[^\W\d_'\u2019\-]*(?:['\u2019\-][^\W\d_]+)*"
_WORD = rf"[^\W\d_]{_TAIL}"
# Words that may be capitalised: a character set first, so the regex engine skips lower-case text
# fast. The set also holds the lower-case letters of Latin Extended-A (Ł, Ž, Ś sit among them), so
# the first letter is checked with isupper.
_UPPER = "A-ZÀ-ÖØ-Þ\u0100-\u017f\u0386-\u03ab\u0400-\u042f"
_CAPITALISED = re.compile(rf"[{_UPPER}]{_TAIL}")
# A middle initial, with or without its full stop: "James R. Smith", "Mónika Z Göröncsér".
_INITIAL = re.compile(rf" [A-Z]\.?(?= [{_UPPER}])")
_NEXT_WORD = re.compile(rf" (?:(?:van|von|de|del|da|di|le|la|bin|al)[ \-])?({_WORD})")
_POSSESSIVE = ("'s", "\u2019s")
# Surname shapes: endings that mark a family name in many languages (Kowalski, Petrova, Jónsdóttir,
# Papadopoulos, Ivanenko, Hansen, Gomez ...). A capitalised word that is not a known word, followed by
# one of these, is a name even with no cue: "Marik Kwiatkowski", "Khasanbek Rushisvili".
_SURNAME_ENDINGS = (
    *("ski", "ska", "sky", "skaya", "ova", "eva", "ovich", "evich", "enko", "chuk", "czuk", "czyk"),
    *("wicz", "vić", "vic", "ić", "escu", "eanu", "sson", "ssen", "sen", "son", "dóttir", "dottir"),
    *("poulos", "opoulou", "idis", "akis", "oglu", "oğlu", "yan", "shvili", "svili", "dze", "stein"),
    *("mann", "ez", "ov", "ev"),
)
# English words with those endings that are not surnames, when capitalised in a title or heading.
_NOT_SURNAME_SHAPES = frozenset(
    (
        *("Person", "Lesson", "Season", "Reason", "Poison", "Prison", "Comparison", "Crimson", "Unison"),
        *("Garrison", "Treason", "Liaison", "Venison", "Mason", "Chosen", "Dozen", "Citizen", "Linen"),
        *("Frozen", "Woven", "Even", "Seven", "Eleven", "Heaven", "Oven", "Raven", "Haven", "Wizard"),
        *("Sky", "Whisky", "Husky", "Risky", "Frisky", "Pesky", "Topic", "Relic", "Panic", "Attic"),
    )
)


@cache
def given_names() -> frozenset[str]:
    """The first-name lexicon, capitalised; read once from the installed gender-guesser data.

    The file is UTF-8 (as gender-guesser itself reads it); each entry is a gender code and a name,
    '+' joining the parts of compound names ("Anne+Marie" is also written "Anne-Marie"). Lines that
    start with '=' pair short and long forms and hold no new name.
    """
    data = resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_bytes()
    names = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.startswith(("#", "=")):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            continue
        name = parts[1].replace("+", "-")
        if len(name) >= 2 and name.replace("-", "").isalpha() and name[0].isupper():
            names.add(name)
    return frozenset(names - _NOT_SURNAMES)


# The surnames used: the most frequent of the Census list. Its long tail is mostly names seen a few
# times, and English words ("Storage", "Distance") grow more common in it than names we would miss.
_SURNAME_RANKS = 50_000
# Census surnames that are everyday English words, or places, peoples, days and brands more often than
# people: they are names only after a given name or a title, or listed with other names. Found by
# matching the list against English text written in lower case, then read by hand.
_ENGLISH_SURNAME_WORDS = """
    License Licence Public General Faust Ruff Flake Azure Docker Kafka Python Rust Maven
    Able Agent All Alt Alter Anchors Angle Angles App Apple Arch Areas Arena Back Bad Band Bank Bar
    Bare Barrier Bars Base Bash Beam Been Begin Below Best Bias Big Bigger Billing Bird Black Blank
    Block Blocker Blossom Blue Body Bogus Bold Book Border Borrow Both Bottom Bounds Box Brace Branch
    Bridge Broker Brown Buff Bunch Button Bye Call Canary Cancel Cap Car Card Carrier Carry Case Cast
    Center Centers Certain Chain Chance Channel Char Check Child Choice Circle City Clamp Class Clause
    Clear Click Client Clock Close Cloud Cluster Code Colon Comes Common Comp Constant Cool Core Corner
    Corners Corpus Cost Counter Counts Cover Cross Curl Current Dark Dash Dates Day Days Deal Deep
    Degree Delay Demo Diamond Dice Done Double Down Driver Dry Duck Due During Eager Early East Edge
    Else End Even Every Eye Factor Fail Failing Fails Falcon Fall Falling Falls Fast Favor Fetch Few
    Field Fields Figures File Files Fill Filter Finder Fine First Fish Fitting Fix Flash Flatten Fleet
    Flight Flint Floor Fly Folds Font Foot Footer Force Forest Forget Forward Fox Fraction Frame Frames
    Free Freeze Fresh Friendly From Gain Gate General Given Goes Going Gold Good Goto Gram Grant Gray
    Greek Green Grey Ground Grow Guard Guess Hack Ham Hand Handler Hang Hard Hash Haven Head Heap Height
    Held Helper Hence Hidden High Holder Holding Hole Holiday Hook Hooks Hope Host Hover How Huge Hull
    Human Ice Job Jump Junk Just Keep Key Keys Kid Kill Kind Knows Lack Lake Lang Large Larger Last
    Later Latin Law Layer Leader Leaf Leak Leap Learn Learned Legacy Lemma Less Letters Level Levels
    Lies Life Light Like Likes Line Linear Lines Link Linker Lint List Little Loader Lock Locks Long
    Longest Look Loop Lose Loss Low Lower Magic Main Major Man Manner Manual Many Mark Marker Marking
    Marks Mask Mass Master Matter Matters Max May Mean Means Members Memory Mess Min Minor Minus Miss
    Mix Mock Mode Model Mom More Most Mount Music Near Necessary Needs Neighbor Neighbors Nest Net New
    Nice Null Number Numbers Offer Old Older Orange Over Overall Pack Page Pages Pair Para Parent
    Parrot Pass Patch Payment Peak Peaks Peek Peer Pen People Person Persons Petite Pick Pickle Pin
    Ping Pipes Place Plain Plane Plate Point Pointer Points Pole Poles Poll Pool Pop Port Portal Ports
    Post Power Powers Pretty Price Prime Primes Prior Promise Proper Province Query Quick Quiet Race
    Rand Range Rank Rather Ray Reach Read Reader Reading Ready Real Reason Reasons Record Records Red
    Register Render Rich Ridge Right Ring Risk Roles Roll Rolling Roman Room Root Roots Round Rounds
    Route Row Rule Runner Running Safe Said Salt Sample Samples Save Say Scale Scales Score Screen
    Search See Seed Seeds Self Sell Server Service Session Sessions Setter Setting Shall Shallow Shell
    Shield Short Shorter Show Shown Shows Sides Simpler Sin Sine Sink Sites Six Slack Slice Slider Small
    Smaller Smart Smoke South Space Span Speed Spinner Spring Square Stack Stacks Staff Stage Stamp
    Standard Star Start Startup States Stem Still Stops Straight Strange Stream Stride Strong Style
    Styles Such Suite Sum Sun Super Surface Tables Takes Talk Tall Tan Tell Tenant Test Than Then
    Times Top Touch Tower Toy Trace Trail Trainer Treat Trees Trial Trim True Try Unavailable Union
    Via Vice View Voice Wait Waits Wake Walk Wall Want Warm Warn Warning Watcher Water Way Ways Weeks
    Weight Welcome Well West White Wider Wild Will Wind Wire Wise Won Word Work Worker Works World Worth
    Writer Yellow You Young King Hill Wood Hall Love Street Church House Valley Garden Bell Hunter
    Park Cook Rose Bush Stone Lane Golden Summer Winter Baker
    Houston London Berlin Paris Angeles Vegas Dallas Denver Boston York Kong Rico Jersey Phoenix
    Atlanta Orlando Chicago Dell Mercedes Honda Toyota Nissan Kafka Docker Amazon Jenkins Sterling
    English French German Irish Welsh Dutch Greek Roman Russian Spanish Swiss American Germany Spain
    Canada Denmark Africa Kingdom Portugal Brazil France China Poland Holland England Ireland Scotland
    Wales Norway Finland Israel Chad Georgia Cuba Peru Christmas Easter Labor Wisdom Weekly Monday
    Friday Sunday April June July August January
"""
_ENGLISH_SURNAMES = frozenset(_ENGLISH_SURNAME_WORDS.split())


@cache
def surnames() -> frozenset[str]:
    """The surname lexicon, capitalised ("Mcdonald"); read once from the installed ``names`` data.

    Each line of ``dist.all.last`` holds a surname in capitals, its frequency, the cumulative frequency
    and its rank; the file is sorted by rank.
    """
    data = resources.files("names").joinpath("dist.all.last").read_text(encoding="ascii")
    found = set()
    for line in data.splitlines():
        parts = line.split()
        if len(parts) == 4 and int(parts[3]) <= _SURNAME_RANKS and len(parts[0]) >= 3:
            found.add(parts[0].capitalize())
    return frozenset(found - _ENGLISH_SURNAMES - _NOT_SURNAMES)


_NAME_KINDS = ("last", "first", "full", "sur", "given", "family", "middle", "maiden")
_NAME_AFTER = re.compile(rf"[{_UPPER}]{_TAIL} [{_UPPER}]{_TAIL}(?:$|[^\w\-])")


def _names_a_person(text: str, start: int, before: str) -> bool:
    """After a bare "name" ("Name: X", "the name X"): a person when a kind of name comes before it
    ("last name? Kamińska") or two capitalised words follow ("Name: Giovana Almeida"); a package or
    a file has a name too ("Name: MarkupSafe").
    """
    if before[:-4].rstrip().endswith(_NAME_KINDS):
        return True
    return _NAME_AFTER.match(text, start) is not None


def _is_name_word(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and not word.isupper() and word not in _NOT_SURNAMES


def _surname_shaped(word: str) -> bool:
    return (
        len(word) >= 5
        and word.endswith(_SURNAME_ENDINGS)
        and not word.endswith(("person", "Person"))
        and word not in _NOT_SURNAME_SHAPES
        and _is_name_word(word)
    )


# Given names that are also everyday words (so in _AMBIGUOUS): names before a known surname, "Mark Fanucci".
_GIVEN_WORDS_TEXT = """
    Angel April August Autumn Bill Bob Chris Christian Crystal Dale Dawn Dean Drew Frank Gene Glen
    Grace Grant Guy Heather Holly Hope Iris Ivy Jack Jade Jan Jean June Lily Mark Max May Miles Nick
    Pat Pearl Penny Ray Robin Rose Ruby Sam Sandy Tom Victor Violet Wade Will Joy Faith Cole Lee
"""
_GIVEN_WORDS = frozenset(_GIVEN_WORDS_TEXT.split())
# Lower-case words after which a capitalised surname mid-sentence is more often a place or a thing:
# "flew to Houston", "the Ford plant", "a Lincoln".
_BEFORE_PLACES = frozenset(
    (
        *("in", "at", "to", "from", "near", "into", "onto", "of", "on", "via", "across", "toward"),
        *("towards", "around", "outside", "inside", "through", "the", "a", "an", "visit", "visited"),
        *("visiting", "fly", "flew", "drive", "drove", "moved", "move", "use", "using", "used", "run"),
        *("install", "installed", "deploy", "deployed", "new", "old", "our", "their", "its", "my"),
    )
)
# Verbs of people after a surname that starts a sentence: "Horton began writing", "Beltran shouted".
_PERSON_VERBS = frozenset(
    (
        *("said", "says", "told", "tells", "asked", "asks", "explained", "wrote", "writes", "added"),
        *("noted", "replied", "began", "spent", "lives", "lived", "shouted", "smiled", "laughed"),
        *("died", "thinks", "thought", "believes", "wants", "wanted", "agreed", "admitted", "recalled"),
        *("joined", "studied", "married", "grew", "works", "worked", "called", "emailed", "sent"),
    )
)
# Capitalised words that never join a list of names: "Hernandez and I", "Garcia, But".
_NOT_LISTED = frozenset(
    (
        *("I", "The", "A", "An", "And", "But", "Or", "If", "It", "This", "That", "We", "You", "He"),
        *("She", "They", "My", "Our", "Your", "His", "Her", "Their", "Also", "Then", "So", "Not", "No"),
        *("Yes", "Please", "Thanks", "Thank", "Me", "Us", "Him", "Them", "Co", "Inc", "Ltd", "Sons"),
    )
)
_LIST_JOINS = (", and ", " and ", ", ", " & ")
_JOINS_AFTER = frozenset(join[:2] for join in _LIST_JOINS)
_JOINS_BEFORE = frozenset(join[-2:] for join in _LIST_JOINS)
_INITIAL_NAME = re.compile(rf" [A-Z]\. ({_WORD})")


_CONTRACTION = re.compile(r"['\u2019][a-z]")


def _contracted(word: str) -> bool:
    """True for a word with a contraction: "I'm", "Don't"; not "O'Brien"."""
    return _CONTRACTION.search(word) is not None


def _mid_sentence(text: str, start: int) -> bool:
    """True when a lower-case word that does not lead to a place comes right before ``start``:
    "asked Hernandez", not "flew to Houston".
    """
    if start < 2 or text[start - 1] != " " or not text[start - 2].islower():
        return False
    space = text.rfind(" ", max(0, start - 16), start - 1)
    word = text[space + 1 : start - 1]
    return word.isalpha() and word.islower() and word not in _BEFORE_PLACES


def _before_number_or_street(text: str, end: int) -> bool:
    """True when a number or a street word follows ``end``: "Dunajska 56", "Brandenburgische Straße"."""
    if text[end : end + 1] != " ":
        return False
    following = text[end + 1 : end + 24].split(None, 1)
    return bool(following) and (
        following[0][0].isdigit() or _is_suffix(following[0]) or _compound_street(following[0])
    )


def _word_after(text: str, end: int) -> str:
    """The word right after ``end`` (one space between), lower-cased; "" if none."""
    if text[end : end + 1] != " ":
        return ""
    stop = end + 1
    while stop < len(text) and text[stop].isalpha() and stop - end < 16:
        stop += 1
    return text[end + 1 : stop].lower()


# What the lexicons say of a word, whatever its context, as bit flags. Most capitalised words ("The",
# "Please", "Street") recur from text to text, so each word's kind is worked out once and kept; the
# store is emptied when it holds _KINDS_KEPT words.
_GIVEN = 1  # a known given name: a name wherever it stands
_NAME_WORD = 2  # a name word without a contraction: may lead a name; where it repeats, a name repeats
_GIVEN_WORD = 4  # a given name that is also a word, without a contraction: may lead ("Mark Fanucci")
_LEADS = _NAME_WORD | _GIVEN_WORD
_SURNAME = 8  # a known or surname-shaped surname: a name with evidence around it
# The characters a capitalised word starts with (see _CAPITALISED).
_CAPITALS = frozenset(c for c in map(chr, range(0x500)) if re.fullmatch(f"[{_UPPER}]", c))
_KINDS_KEPT = 50_000
_START = re.Match.start  # where a match starts: the key to look matches up by position


def _match_at(matches: list[re.Match[str]], at: int) -> int | None:
    """The index of the match (of ``matches``, in order) that starts at ``at``, if one does."""
    index = bisect_left(matches, at, key=_START)
    return index if index < len(matches) and matches[index].start() == at else None


def _match_ending_at(matches: list[re.Match[str]], at: int) -> int | None:
    """The index of the match (of ``matches``, in order) that ends at ``at``, if one does: the last
    to start before it.
    """
    index = bisect_left(matches, at, key=_START) - 1
    return index if index >= 0 and matches[index].end() == at else None


class PersonDetector:
    """Names of people: known given names with their surnames, capitalised words after titles or cues,
    an unknown capitalised word followed by a surname-shaped or known one, known surnames with evidence,
    and the words of the names found, where they repeat or are listed with a name.
    """

    __slots__ = ("_given", "_kinds", "_surnames")

    def __init__(self, given: frozenset[str] | None = None, known: frozenset[str] | None = None) -> None:
        self._given = given_names() if given is None else given
        self._surnames = surnames() if known is None else known
        self._kinds: dict[str, int] = {}

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only PERSON."""
        return frozenset((EntityType.PERSON,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of person names."""
        matches = list(_CAPITALISED.finditer(text))
        found = list(self._names(text, matches))
        if found:
            found.extend(self._mentions(text, matches, found))
        return iter(found)

    def _names(self, text: str, matches: list[re.Match[str]]) -> Iterator[Span]:
        """Names found from the lexicons, cues and shapes, each word on its own evidence."""
        kinds = self._kinds
        cursor = 0
        for index, match in enumerate(matches):
            start, word = match.start(), match.group()
            before = text[start - 1] if start else "\n"  # a line break stands for the start of the text
            if start < cursor or before.isalnum() or before in "_@.'-":
                continue
            if word[0] > "\u00ff" and not word[0].isupper():
                continue
            possessive = word.endswith(_POSSESSIVE)
            if possessive:
                word = word[:-2]  # "Hartmann's address": the name without its 's
            kind = kinds.get(word)
            if kind is None:
                kind = self._kind(word)
            end = start + len(word)
            if kind & _GIVEN:
                score = 0.6
            elif (
                # A cue or title ends right before: a space or a quote, and what the cue leaves there.
                before in _QUOTES
                and (
                    start < 3
                    or before != " "
                    or text[start - 2] in _QUOTES
                    or text[start - 4 if start > 3 else 0 : start - 1].lower() in _CUE_TAILS
                )
                and (score := self._cued(text, start, word)) > 0
            ):
                pass
            elif not (
                kind & _SURNAME
                # What may follow a word that leads a name: a capitalised word, a middle initial, or
                # for a given name that is also a word, a verb ("Tom lives"); one space between.
                or (
                    kind & _LEADS
                    and not possessive
                    and text[end : end + 1] == " "
                    and (kind & _GIVEN_WORD or text[end + 1 : end + 2] in _CAPITALS)
                )
            ):
                continue  # the common case: not a surname, nor a word that leads one here
            elif (score := self._evidence(text, matches, index, word, kind)) <= 0:
                continue
            cursor = end if possessive else self._extend(text, end)
            yield Span(EntityType.PERSON, start, cursor, score)

    def _kind(self, word: str) -> int:
        """The kind of ``word`` (see _GIVEN), looked up, or worked out and kept."""
        kind = self._kinds.get(word)
        if kind is not None:
            return kind
        given = self._given
        kind = 0
        if word in given or ("-" in word and all(part in given for part in word.split("-"))):
            kind |= _GIVEN
        if not _contracted(word):
            if _is_name_word(word):
                kind |= _NAME_WORD
            if word in _GIVEN_WORDS:
                kind |= _GIVEN_WORD
        if self._surname(word):
            kind |= _SURNAME
        if len(self._kinds) >= _KINDS_KEPT:
            self._kinds.clear()
        self._kinds[word] = kind
        return kind

    def _evidence(self, text: str, matches: list[re.Match[str]], index: int, word: str, kind: int) -> float:
        """Confidence that a capitalised word neither in the given-name lexicon nor after a cue starts a
        name, from the words around it. ``word`` is the match without a possessive 's, of ``kind``.
        """
        start = matches[index].start()
        end = start + len(word)
        possessive = end < matches[index].end()
        following = ""
        if index + 1 < len(matches) and matches[index + 1].start() == end + 1 and text[end] == " ":
            following = matches[index + 1].group()
        given = word in _GIVEN_WORDS
        if not possessive and kind & _LEADS and (following or given or text[end + 2 : end + 3] == "."):
            if following and self._kind(following) & _SURNAME:
                return 0.5  # "Marik Kwiatkowski", "Pomeroy Lemelin", "Mark Fanucci"
            if following and given and _is_name_word(following) and _mid_sentence(text, start):
                return 0.4  # "written by Frank Freud"
            initial = _INITIAL_NAME.match(text, end) if text[end + 2 : end + 3] == "." else None
            if initial is not None and _is_name_word(initial[1]):
                return 0.5  # "Jan M. Koertig", "Lipót M. Dobos": a middle initial with its full stop
            if given and _word_after(text, end) in _PERSON_VERBS:
                return 0.4  # "Tom lives on"
        if not kind & _SURNAME or _before_number_or_street(text, end):
            return 0.0
        if (
            possessive
            or _word_after(text, end) in _PERSON_VERBS
            or _mid_sentence(text, start)
            or self._listed_surnames(text, matches, index, end)
        ):
            # A known surname alone, with evidence: "Perez's song", "Horton began writing", "asked
            # Hernandez to" (mid-sentence, not after a word that leads to a place), "Petković, Mcdonald".
            return 0.4
        return 0.0

    def _listed_surnames(self, text: str, matches: list[re.Match[str]], index: int, end: int) -> bool:
        """True when the surname ending at ``end`` is listed with another: "Petković, Mcdonald and"."""
        start = matches[index].start()
        for join in _LIST_JOINS:
            if (
                index + 1 < len(matches)
                and matches[index + 1].start() == end + len(join)
                and text.startswith(join, end)
                and self._kind(matches[index + 1].group()) & _SURNAME
            ):
                return True
            if (
                index > 0
                and matches[index - 1].end() == start - len(join)
                and text.endswith(join, 0, start)
                and self._kind(matches[index - 1].group()) & _SURNAME
            ):
                return True
        return False

    def _surname(self, word: str) -> bool:
        """True for a surname-shaped word or a known surname (as a name word)."""
        if word.endswith(_POSSESSIVE):
            word = word[:-2]
        return (word.capitalize() in self._surnames and not word.isupper()) or _surname_shaped(word)

    def _mentions(self, text: str, matches: list[re.Match[str]], found: list[Span]) -> list[Span]:
        """The words of names found where they occur again ("starring Faber"), and capitalised words
        listed with a name ("Bourgouin and Short", "Petković, Mcdonald and Hill").
        """
        words = {
            part
            for span in found
            for part in text[span.start : span.end].split()
            if len(part) >= 3 and self._kind(part) & _NAME_WORD
        }
        spans = sorted((span.start, span.end) for span in found)
        # The candidates, then only those outside the names found.
        open_words = []
        for match in self._candidates(text, matches, words, spans):
            start = match.start()
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_@.'-"):
                continue
            at = bisect_right(spans, (start, len(text) + 1)) - 1
            if at < 0 or spans[at][1] <= start:
                open_words.append(match)
        if not open_words:
            return []
        starts = {start for start, _ in spans}
        ends = {end for _, end in spans}
        added: list[Span] = []
        # A list grows by one name per pass ("A, B and C" from C): a few passes reach its first word.
        for _ in range(3):
            left = []
            for match in open_words:
                start, word = match.start(), match.group()
                bare = word[:-2] if word.endswith(_POSSESSIVE) else word
                if bare in words:
                    end = start + len(bare)
                    end = end if bare != word else self._extend(text, end)
                elif self._listed(text, start, start + len(bare), starts, ends):
                    end = start + len(bare)
                else:
                    left.append(match)
                    continue
                starts.add(start)
                ends.add(end)
                added.append(Span(EntityType.PERSON, start, end, 0.4))
            if len(left) == len(open_words):
                break
            open_words = left
        return added

    def _candidates(
        self, text: str, matches: list[re.Match[str]], words: set[str], names: list[tuple[int, int]]
    ) -> list[re.Match[str]]:
        """The capitalised words (of ``matches``, in order) that may mention the ``names`` found: one of
        their ``words`` (alone or with a possessive 's), or a word joined by a list join to a name or,
        in turn, to such a word. Found with str.find and from the names' ends, so the other capitalised
        words of the text are never looked at.
        """
        found: set[int] = set()
        bounds = list(names)  # where names and the words found start and end: a join may stand beside
        for word in words:
            if text.count(word) < 2:
                continue  # the common case: the word occurs only in its name
            at = text.find(word)
            while at != -1:
                index = _match_at(matches, at)
                if index is not None and index not in found:
                    whole = matches[index].group()
                    if whole in words or whole[:-2] in words:
                        found.add(index)
                        bounds.append((at, self._extend(text, at + len(whole))))
                        bounds.append((at, at + len(whole)))
                at = text.find(word, at + 1)
        while bounds:
            start, end = bounds.pop()
            joined = []
            if text[end : end + 2] in _JOINS_AFTER:
                joined += [
                    _match_at(matches, end + len(join)) for join in _LIST_JOINS if text.startswith(join, end)
                ]
            if start >= 2 and text[start - 2 : start] in _JOINS_BEFORE:
                joined += [
                    _match_ending_at(matches, start - len(join))
                    for join in _LIST_JOINS
                    if text.endswith(join, 0, start)
                ]
            for index in joined:
                if index is not None and index not in found:
                    found.add(index)
                    bounds.append(matches[index].span())
        return [matches[index] for index in sorted(found)]

    @staticmethod
    def _listed(text: str, start: int, end: int, starts: set[int], ends: set[int]) -> bool:
        """True when the capitalised word at ``start:end`` is listed with a name found (one of which
        starts at each of ``starts`` and ends at each of ``ends``): joined to it by a comma, "and" or
        "&", and not a street name ("Oskar and Hindsholmvej 75").
        """
        after = text[end : end + 2]
        before = text[start - 2 : start] if start >= 2 else ""
        if after not in _JOINS_AFTER and before not in _JOINS_BEFORE:
            return False  # the common case, settled by two slices
        joined = any(
            (end + len(join) in starts and text.startswith(join, end))
            or (start - len(join) in ends and text.endswith(join, 0, start))
            for join in _LIST_JOINS
        )
        if not joined:
            return False
        word = text[start:end]
        if len(word) < 2 or word.isupper() or word in _NEVER_SURNAMES or word in _NOT_LISTED:
            return False
        return not (_contracted(word) or _before_number_or_street(text, end))  # "I'm"; "Hindsholmvej 75"

    @staticmethod
    def _cued(text: str, start: int, word: str) -> float:
        """Confidence that the unknown capitalised word at ``start`` is a name, from the words before it."""
        # Runs for most capitalised words, so it cuts out the word before with a few slices.
        before = text[start - 14 if start > 14 else 0 : start]
        trimmed = before.rstrip(" \"'\u201c\u2018")
        if len(trimmed) == len(before) or not trimmed:
            return 0.0  # no space before: the start of the text or of a token
        end = start - len(before) + len(trimmed)
        last = trimmed[max(trimmed.rfind(" "), trimmed.rfind("\n")) + 1 :].lower().rstrip(".,:?")
        if last in _TITLES:
            # "Mr. Grant" too: after a title even a word that is also a common word is a name.
            return 0.8 if len(word) >= 2 and not word.isupper() and word not in _NEVER_SURNAMES else 0.0
        if last not in _CUE_ENDINGS or not _is_name_word(word):
            return 0.0  # the common case, settled by one set lookup
        before = text[max(0, start - 16) : end].lower().rstrip(",:?")
        for cue in _CUES:
            if before.endswith(cue) and (len(before) == len(cue) or not before[-len(cue) - 1].isalnum()):
                if cue == "name" and not _names_a_person(text, start, before):
                    return 0.0
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


# Street suffixes (USPS Publication 28 and their usual abbreviations), matched as whole words with a
# set lookup; a plural form ("Meadows", "Junctions") counts as its singular.
_STREET_SUFFIXES_WORDS = """
    Alley Annex Arcade Avenue Bayou Beach Bend Bluff Bottom Boulevard Branch Bridge Brook Burg Bypass
    Camp Canyon Cape Causeway Center Centre Circle Cliff Close Club Common Corner Course Court Cove
    Creek Crescent Crest Crossing Crossroad Curve Dale Dam Divide Drive Estate Expressway Extension
    Fall Ferry Field Flat Ford Forge Fork Freeway Garden Gateway Glen Green Grove Harbor Harbour Haven
    Heights Highway Hill Hollow Inlet Island Isle Junction Knoll Lake Landing Lane Lock Lodge Loop
    Mall Manor Meadow Mews Mill Motorway Mountain Neck Orchard Oval Overpass Parade Park Parkway Pass
    Passage Path Pike Place Plain Plaza Point Port Prairie Ramp Ranch Rapid Rest Ridge Road Route Row
    Run Shoal Shore Skyway Spring Spur Square Station Stravenue Stream Street Summit Terrace
    Throughway Trace Track Trafficway Trail Tunnel Turnpike Underpass Union Valley Viaduct View
    Village Ville Vista Walk Wall Way Well Wharf Wynd
    St Ave Av Rd Blvd Ln Dr Ct Pl Sq Ter Terr Pkwy Hwy Cir Trl Xing Expy Fwy Tpke Cres Aly Cswy Ctr
    Hts Jct Mnr Mt Pt Rdg Sta Strm Trce Vw Vlg Vis
    """
_STREET_SUFFIXES = frozenset(_STREET_SUFFIXES_WORDS.split())
_DIRECTIONS = frozenset("N S E W NE NW SE SW N. S. E. W.".split())  # noqa: SIM905
# Words that start a street name in continental forms: "Via Roma 12", "ul. Grochowa 80", "Avda. Rio Nalon 58".
_STREET_FIRST_WORDS = frozenset(
    (
        *("Via", "Viale", "Vicolo", "Piazza", "Piazzale", "Corso", "Largo", "Rua", "R.", "Rue", "Avenue"),
        *("Avenida", "Av.", "Avda.", "Calle", "C/", "Carrer", "Camino", "Paseo", "Plaza", "Praça"),
        *("Travessa", "Alameda", "Estrada", "Rodovia", "Strada", "Ulica", "Ul.", "ul.", "al.", "Aleja"),
        *("Boulevard", "Bd", "Bd.", "Chemin", "Impasse", "Allée", "Quai", "Place", "Ruta", "Carretera"),
        *("rue", "via", "calle", "rua", "avenida", "av.", "avda.", "ul."),
    )
)
# Lower-case words inside street names: particles, and street words written in lower case in many
# languages ("Stensås terrasse 38", "Martin Linges veg 149", "46 rue Nationale", "Teréz krt. 56").
_STREET_PARTICLES_WORDS = """
    de da do dos das del della di du des la le las los van von der den ten het y e i
    rue via calle str str. veg vei vegen gate gata gatan gade vej terrasse útja utca út u. krt. tér
    weg straße strasse laan straat plein allé allée katu tie
    """
_STREET_PARTICLES = frozenset(_STREET_PARTICLES_WORDS.split())
_COMPOUND_SUFFIXES = (
    *("straße", "strasse", "str.", "gasse", "weg", "platz", "allee", "ring", "damm", "vej", "gade"),
    *("veien", "vegen", "gatan", "gata", "vägen", "laan", "straat", "plein", "gracht", "kade", "singel"),
    *("utca", "út", "ulica", "braut", "katu", "tie", "polku", "gränd", "stræde", "stig", "sträte"),
)
# A number not glued to what comes before (see glued_before): the lookbehind after the first digit
# lets the regex engine skip to digits fast, and refuses the digits inside a longer number at once.
_HOUSE_NUMBER = re.compile(r"[0-9](?<![\w.,:/\-#$€£][0-9])[0-9]{0,5}[A-Za-z]?(?:-[0-9]{1,4})?(?= )")
# The words after a house number, up to six: street words, particles, ordinals, a closing number.
_STREET_WORDS = re.compile(
    r"(?:[ ](?:[^\W\d_][\w'\u2019\-]*\.?|[0-9]{1,3}(?:st|nd|rd|th)\b|[0-9]{1,5}[A-Za-z]?\b\.?|C/)){1,7}"
)


def _street_words(words: re.Match[str]) -> list[str]:
    """The words a _STREET_WORDS match holds (one space before each); the first starts at its start + 1."""
    return words.group()[1:].split(" ")


# One more line or comma-separated part of an address block: a unit, "City, ST 12345", "Country 12345",
# a UK postcode. Parts are separated by a line break (or an escaped one), a comma or two spaces.
_BREAK = r"(?:,?[ ]*\n[ ]*(?:[^\w\s]{1,3}[ ]*)?|,[ ]*|[ ]{2,})"
_PLACE_WORD = r"[^\W\d_][\w'\u2019\-.]*"
_UNIT = r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Floor|Fl\.?|Room|Rm\.?|#)[ ]*[A-Za-z0-9\-]{1,6}"
_POSTCODE = r"(?:[0-9]{4,6}(?:-[0-9]{4})?|[A-Z]{1,2}[0-9][A-Z0-9]?[ ][0-9][A-Z]{2})"
_BLOCK_PART = re.compile(
    rf"{_BREAK}(?:{_UNIT}|{_PLACE_WORD}(?:[ ]{_PLACE_WORD}){{0,3}}(?:,?[ ]+[A-Z]{{2}})?(?:,?[ ]+{_POSTCODE})?"
    rf"|{_POSTCODE})(?=[ ]*(?:$|\n|[.,;?!)]|[ ]{{2}}))"
)
_SAME_LINE_UNIT = re.compile(rf",?[ ]+{_UNIT}\b")
_CITY_STATE_ZIP = re.compile(
    rf"[ ]+{_PLACE_WORD}(?:[ ]{_PLACE_WORD}){{0,2}},?[ ]+(?:[A-Z]{{2}}[ ]+)?[0-9]{{5}}(?:-[0-9]{{4}})?\b"
)
_SECONDARY = re.compile(r"(?:Apt\.|Apartment|Suite|Ste\.)[ ]?[0-9]{1,5}[A-Za-z]?\b")
# Both start with literals (no \b first), so the regex engine skips to them fast; the word boundary
# before them is checked in Python.
_PO_BOX = re.compile(r"P\.?\s?O\.?\s?Box\s+[0-9]{1,6}\b")
# US military mail: "Unit 8670 Box 8540 DPO AA 07519", "PSC 0943, Box 9335 APO AE 71952".
# Two patterns, by box and by ship, each starting with a plain alternation of literals, so the regex
# engine skips to their first letters fast (one pattern with both would be tried at every position).
# Matches of the two never overlap.
_MILITARY = (
    re.compile(r"(?:Unit|PSC|CMR)[ ][0-9]{3,5},?[ ]Box[ ][0-9]{3,5}\s+[ADF]PO[ ]A[AEP][ ][0-9]{5}\b"),
    re.compile(r"(?:USNS|USNV|USS|USCGC)[ ][^\W\d_][\w\-]*\s+[ADF]PO[ ]A[AEP][ ][0-9]{5}\b"),
)


def _compound_street(word: str) -> bool:
    """True for a capitalised compound street name: "Hauptstraße", "Hindsholmvej"; not "Spring"."""
    if not word[:1].isupper():
        return False
    lowered = word.lower()
    if not lowered.endswith(_COMPOUND_SUFFIXES):
        return False  # the common case, settled by one call
    return any(lowered.endswith(suffix) and len(word) >= len(suffix) + 3 for suffix in _COMPOUND_SUFFIXES)


def _plain_word(word: str) -> bool:
    """True for a word that starts no street: neither capitalised, a number, a street word, nor a
    particle. _street_end returns None for a street that starts with one.
    """
    word = word.rstrip(",")
    return not (
        word[0].isupper() or word[0].isdigit() or word in _STREET_FIRST_WORDS or word in _STREET_PARTICLES
    )


def _is_year(number: str) -> bool:
    return len(number) == 4 and number[:2] in ("19", "20")


# Capitalised words of headlines ("5 Musicians Of The 70s"), never of a street between two numbers.
_HEADLINE_WORDS = frozenset("Of The And For To In On With You Your A An Is Are Top Best Ways Things".split())  # noqa: SIM905
_NUMBER_TOKEN = re.compile(r"[0-9]{1,5}[A-Za-z]?\.?")
# Abbreviations keep their full stop ("Baker St."); a full word's full stop ends the sentence.
_ABBREVIATIONS = frozenset(w for w in _STREET_SUFFIXES if len(w) <= 4 and w not in ("Way", "Lane", "Road"))


def _is_suffix(word: str) -> bool:
    return word in _STREET_SUFFIXES or (word[-1:] == "s" and word[:-1] in _STREET_SUFFIXES)


def _word_end(start: int, word: str) -> int:
    """Where a street word starting at ``start`` ends: without a comma, and without a full stop unless
    it abbreviates.
    """
    end = start + len(word)
    if word.endswith(","):
        end, word = end - 1, word[:-1]
    if word.endswith(".") and word[:-1] not in _ABBREVIATIONS and word not in _STREET_FIRST_WORDS:
        end -= 1
    return end


def _street_end(tokens: list[str], at: int, number: str) -> int | None:
    """Where the street that follows a house number ends, from the words after it (one space before
    each, the first starting at ``at``); None if no street.

    US and UK style: street words then a suffix ("Main Street", "5th Ave", "Baker St."). Continental:
    a street word first, then a number ("Via Roma 12", "ul. Grochowa 80"), or a compound suffix
    ("Hauptstraße 5", "Hindsholmvej 75"). Or capitalised words between two numbers ("9003 Vabaduse 21"),
    when the first is not a year.
    """
    first = tokens[0]
    words = 0
    # "46 rue Nationale, PARIS": after a street word, the capitalised words are the street.
    fallback = None
    for index, token in enumerate(tokens):
        word = token.rstrip(",")
        if word[:1].isdigit() and _NUMBER_TOKEN.fullmatch(word):
            # A closing number: "Via Roma 12", "Hauptstraße 5", "Vabaduse 21"; not "The 70s".
            if words == 0 or word.endswith("0s"):
                return fallback
            before = tokens[index - 1].rstrip(",")
            if not (first in _STREET_FIRST_WORDS or _compound_street(before)) and (
                _is_year(number) or words > 5 or any(t in _HEADLINE_WORDS for t in tokens[:index])
            ):
                return fallback
            # "Otakaari 17 St.": a suffix may follow the number.
            if index + 1 < len(tokens) and _is_suffix(tokens[index + 1].rstrip(".,")):
                return _word_end(at + len(token) + 1, tokens[index + 1])
            return _word_end(at, token)
        bare = word.rstrip(".")
        if bare in _CALENDAR:
            return None  # "27 Nov 2026", "31 March 2009": a date
        if index > 0 and words > 0 and _is_suffix(bare):
            # The suffix ends the street: "Main Street", also with a trailing direction ("Avenue NW").
            if not word.endswith(".") or bare in _ABBREVIATIONS:
                following = tokens[index + 1].rstrip(".,") if index + 1 < len(tokens) else ""
                if following in _DIRECTIONS:
                    return at + len(token) + 1 + len(following)
            return _word_end(at, token)
        if word[0].isupper() or word in _STREET_FIRST_WORDS or word[0].isdigit():
            words += 1
            if word[0].isupper() and words >= 2 and first in _STREET_FIRST_WORDS:
                fallback = _word_end(at, token)
        elif word not in _STREET_PARTICLES:
            return fallback
        if token.endswith(",") or (word.endswith(".") and bare not in _ABBREVIATIONS and index > 0):
            return fallback  # the street would run over a comma or a sentence's end without a suffix
        at += len(token) + 1
    return fallback


class StreetAddressDetector:
    """Street addresses (number, street, suffix or continental form, then the unit, city, state,
    postcode and country parts that follow), secondary units, P.O. boxes and US military addresses.
    """

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only LOCATION."""
        return frozenset((EntityType.LOCATION,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of addresses."""
        cursor = 0
        covered: list[tuple[int, int]] = []  # street spans so far: the continental pass skips them
        for number in _HOUSE_NUMBER.finditer(text):
            start = number.start()
            if start < cursor or glued_before(text, start, ".,:/-#$€£"):
                continue
            words = _STREET_WORDS.match(text, number.end())
            if words is None:
                continue
            tokens = _street_words(words)
            if _plain_word(tokens[0]):
                continue  # "5 year old", "12 million": no street starts with a plain lower-case word
            if tokens[0][0].isdigit() and len(tokens) > 1 and not tokens[0][-1:].isalpha():
                # Two numbers first ("1601 1024 Union Lane"): the street starts at the second.
                end = _street_end(tokens[1:], number.end() + len(tokens[0]) + 2, tokens[0])
            else:
                end = _street_end(tokens, number.end() + 1, number.group())
            if end is None or _after_unit_word(text, start):
                continue
            cursor = self._block_end(text, end)
            covered.append((start, cursor))
            yield Span(EntityType.LOCATION, start, cursor, 0.7)
            yield from _and_street(text, end)
        for cue in _street_cues(text):
            if cue.end() < cursor:
                continue
            words = _STREET_WORDS.match(text, cue.end() - 1)
            if words is None or not text[cue.end()].isupper():
                continue
            tokens = _street_words(words)
            end = _street_end(tokens, cue.end(), "")
            if end is not None and tokens[0] not in _CALENDAR:
                yield Span(EntityType.LOCATION, cue.end(), self._block_end(text, end), 0.6)
                yield from _and_street(text, end)
        yield from self._continental(text, covered)
        if "Apt." in text or "Suite" in text or "Apartment" in text or "Ste." in text:
            for match in _SECONDARY.finditer(text):
                # "Suite 674" on its own line or after a comma is a unit; "Cello Suite 1" is music.
                if not glued_before(text, match.start()) and (
                    match.group()[0] == "A" or _starts_part(text, match.start())
                ):
                    yield Span(EntityType.LOCATION, match.start(), self._block_end(text, match.end()), 0.6)
        if "Box" in text:
            for match in _PO_BOX.finditer(text):
                if not glued_before(text, match.start()):
                    yield Span(EntityType.LOCATION, match.start(), self._block_end(text, match.end()), 0.8)
        if "PO A" in text:
            military = [match for pattern in _MILITARY for match in pattern.finditer(text)]
            for match in sorted(military, key=_START):
                if not glued_before(text, match.start()):
                    yield Span(EntityType.LOCATION, match.start(), match.end(), 0.8)

    @staticmethod
    def _block_end(text: str, end: int) -> int:
        """Extend an address over the unit, city, state, postcode and country parts after it."""
        unit = _SAME_LINE_UNIT.match(text, end)
        if unit is not None:
            end = unit.end()
        city = _CITY_STATE_ZIP.match(text, end)
        if city is not None:
            return city.end()
        for _ in range(4):
            part = _BLOCK_PART.match(text, end)
            if part is None:
                break
            end = part.end()
        return end

    @staticmethod
    def _continental(text: str, covered: list[tuple[int, int]]) -> Iterator[Span]:
        """Streets named before their number: "Via della Scala 3", "Hauptstraße 5"."""
        spans = iter(covered)
        span = next(spans, None)
        for number in _CONTINENTAL_NUMBER.finditer(text):
            at = number.start()
            while span is not None and span[1] <= at:
                span = next(spans, None)
            if span is not None and span[0] <= at:
                continue  # inside a street found from its house number
            space = text.rfind(" ", max(0, at - 40), at)
            last = text[space + 1 : at].rstrip(",")
            if not last[:1].isupper() and last not in _STREET_PARTICLES:
                continue  # the common case: a number after a lower-case word
            if _compound_street(last):
                yield Span(EntityType.LOCATION, at - len(last), number.end(), 0.6)
                continue
            # Walk back over capitalised words and particles to a street word: "Via della Scala 3".
            words = text[max(0, at - 60) : at].rstrip(",").split(" ")
            length = 0
            for word in reversed(words[-6:]):
                if word in _STREET_FIRST_WORDS:
                    if length > 0:
                        yield Span(EntityType.LOCATION, at - length - len(word), number.end(), 0.6)
                    break
                if not (word[:1].isupper() or word in _STREET_PARTICLES):
                    break
                length += len(word) + 1

    def __repr__(self) -> str:
        return "StreetAddressDetector()"


_CONTINENTAL_NUMBER = re.compile(r" [0-9]{1,5}[a-zA-Z]?\b")
_UNIT_WORDS = ("apt", "apt.", "suite", "unit", "room", "floor", "box", "#", "no", "no.", "ste.", "rm.")


def _starts_part(text: str, start: int) -> bool:
    """True when ``start`` begins a line or a comma-separated part (or one set off by two spaces)."""
    before = text[max(0, start - 4) : start].rstrip(" ")
    return start == 0 or not before or before[-1] in "\n," or text[max(0, start - 2) : start] == "  "


def _after_unit_word(text: str, start: int) -> bool:
    """True when the number at ``start`` follows "Apt.", "Suite", "Room" ...: a unit, not a house number."""
    before = text[max(0, start - 8) : start].rstrip().rsplit(None, 1)
    return bool(before) and before[-1].lower() in _UNIT_WORDS


# Words after which a street name follows even without a house number before it.
_STREET_CUE = re.compile(
    r"(?i:\b(?:lives?|lived|living|located|situated|based)[ ]+(?:at|on|in)(?:[ ]+the[ ]+\w+[ ]+side[ ]+of)?"
    r"|\bcorner[ ]+of|\bside[ ]+of|\baddress(?:[ ]+is|:))[ ]+"
)
# Where each cue can start, found with str.find: the cue pattern starts with a case-insensitive
# alternation, which the regex engine would otherwise try at every position of the text. Grouped by
# their lower-case form, so one look at the lower-cased text settles a group the text does not hold.
_STREET_CUE_HINTS = {
    "live": ("live", "Live", "LIVE"),
    "locat": ("locat", "Locat"),
    "situat": ("situat", "Situat"),
    "based": ("based", "Based"),
    "corner": ("corner", "Corner"),
    "side of": ("side of", "Side of"),
    "address": ("address", "Address", "ADDRESS"),
}


def _street_cues(text: str) -> list[re.Match[str]]:
    """Every street cue in ``text``, in order."""
    found: dict[int, re.Match[str]] = {}
    lowered = text.lower()
    for lower, hints in _STREET_CUE_HINTS.items():
        if lower not in lowered:
            continue
        for hint in hints:
            at = text.find(hint)
            while at != -1:
                if at not in found and not glued_before(text, at):
                    cue = _STREET_CUE.match(text, at)
                    if cue is not None:
                        found[at] = cue
                at = text.find(hint, at + 1)
    return [found[at] for at in sorted(found)]


_CALENDAR_WORDS = """
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
    July August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    Mon Tue Wed Thu Fri Sat Sun
    """
_CALENDAR = frozenset(_CALENDAR_WORDS.split())


def _and_street(text: str, end: int) -> Iterator[Span]:
    """The second street of "the corner of Main St and Oak Ave", when ``end`` ends the first."""
    if not text.startswith(" and ", end) or not text[end + 5 : end + 6].isupper():
        return
    words = _STREET_WORDS.match(text, end + 4)
    if words is None:
        return
    second = _street_end(_street_words(words), end + 5, "")
    if second is not None:
        yield Span(EntityType.LOCATION, end + 5, second, 0.6)
