"""A realistic evaluation set for the privacy gate: the text people paste, not template sentences.

Chat transcripts, pasted logs, stack traces, config files, CSV rows, JSON blobs and e-mails, each
holding personal data the way people really write it: obfuscated and split e-mail addresses,
national phone formats, secrets in headers, environment lines and URLs, names in lower and upper
case, European street addresses, and the zero-width characters, bidi controls and full-width digits
that copy-paste leaves in text. Beside them, look-alike negatives: text that holds no personal data
but is shaped like it (bullet points, tracebacks, product generations, city names alone, physicists
in science sentences, secret placeholders).

Every list here is written by hand for this set: no value comes from the detectors' lexicons
(gender-guesser, the Census surnames), Faker or presidio-evaluator, which made the other corpus.
Many of the names are common given names anyway; that is what real text holds.

Each gold span carries its miss class (``email.spelled``, ``person.lower`` ...), so a report can say
which class leaks. ``evaluation_set(seed)`` is deterministic for a seed.
"""

from __future__ import annotations

import base64
import random
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

STRUCTURED = (
    *("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "CREDENTIAL"),
)
TYPES = (*STRUCTURED, "PERSON", "LOCATION")

Spans = list[tuple[str, int, int]]


@dataclass
class Doc:
    """One text with its gold spans (type, start, end), the miss class of each, and its kind."""

    text: str
    gold: Spans
    classes: list[str] = field(default_factory=list)
    kind: str = ""
    unscored: list[tuple[int, int]] = field(default_factory=list)
    held_out_people: list[tuple[int, int]] = field(default_factory=list)


class _Builder:
    """Appends text and entities, recording each entity's span and class."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.gold: Spans = []
        self.classes: list[str] = []

    def t(self, text: str) -> _Builder:
        self.parts.append(text)
        self.size += len(text)
        return self

    def e(self, kind: str, value: str, cls: str) -> _Builder:
        self.gold.append((kind, self.size, self.size + len(value)))
        self.classes.append(cls)
        return self.t(value)

    def doc(self, kind: str) -> Doc:
        return Doc("".join(self.parts), self.gold, self.classes, kind)


# ------------------------------------------------------------------------------------------ lists

# (given, surname): many languages and scripts of the Latin alphabet, compound and particle names.
PEOPLE = [
    ("Ana", "Silva"),
    ("Ana Beatriz", "Almeida"),
    ("João", "Carvalho"),
    ("Małgorzata", "Wiśniewska"),
    ("Wojciech", "Kowalczyk"),
    ("Siobhán", "Ní Bhriain"),
    ("Oluwaseun", "Adeyemi"),
    ("Chidi", "Okonkwo"),
    ("Ngozi", "Eze"),
    ("Thi Lan", "Nguyen"),
    ("Minh", "Tran"),
    ("Priya", "Raghunathan"),
    ("Arjun", "Chatterjee"),
    ("Mehmet", "Y\u0131lmaz"),
    ("Ayşe", "Öztürk"),
    ("Björn", "Lindqvist"),
    ("Sigrún", "Sigurðardóttir"),
    ("Aino", "Virtanen"),
    ("Dimitris", "Papadopoulos"),
    ("Eleni", "Georgiou"),
    ("Xiaoming", "Zhang"),
    ("Yuki", "Tanaka"),
    ("Haruto", "Sato"),
    ("Fatima", "Benali"),
    ("Youssef", "El Amrani"),
    ("Lucía", "Fernández"),
    ("Alejandro", "Hernández"),
    ("Jürgen", "Schäfer"),
    ("Anneliese", "Müller"),
    ("Émilie", "Lefèvre"),
    ("Théo", "Dubois"),
    ("Kwame", "Mensah"),
    ("Amara", "Diallo"),
    ("Giulia", "Esposito"),
    ("Matteo", "Ricci"),
    ("Leila", "Rostami"),
    ("Oksana", "Shevchenko"),
    ("Ioana", "Popescu"),
    ("Katarzyna", "Zielińska"),
    ("Tomasz", "Wróbel"),
    ("Rahul", "Deshpande"),
    ("Lakshmi", "Iyer"),
    ("Sven", "Johansson"),
    ("Ingrid", "Halvorsen"),
    ("Hamid", "Karimi"),
    ("Bogdan", "Marinescu"),
    ("Rui", "Gonçalves"),
    ("Zeynep", "Kaya"),
    ("Marta", "Nowak"),
    ("Pieter", "van der Berg"),
    ("Luuk", "de Vries"),
    ("Carmen", "Ruiz Ortega"),
]
# Names that are also common English words: the class that tempts a detector to skip them.
WORD_PEOPLE = [
    ("Hunter", "Bishop"),
    ("Grace", "Park"),
    ("Rose", "Fox"),
    ("Will", "Stone"),
    ("Faith", "Brooks"),
    ("Summer", "Rivers"),
    ("Mark", "Long"),
    ("Amber", "Hill"),
    ("Jay", "Hunter"),
    ("Joy", "Baker"),
    ("Hope", "Walker"),
    ("Dawn", "Miller"),
    ("Sky", "Young"),
    ("Drew", "Cook"),
]

GERMAN_STREETS = [
    "Lindenallee",
    "Goethestraße",
    "Kastanienweg",
    "Schillerplatz",
    "Bahnhofstr.",
    "Am Mühlbach",
    "Rosenstraße",
    "Hauptstr.",
    "Eichendorffweg",
    "Friedrichsring",
    "Mozartgasse",
    "Birkenhof",
]
GERMAN_CITIES = [
    ("69163", "Heidelberg"),
    ("04109", "Leipzig"),
    ("48143", "Münster"),
    ("79098", "Freiburg"),
    ("80331", "München"),
    ("50667", "Köln"),
    ("01067", "Dresden"),
    ("28195", "Bremen"),
]
FRENCH_STREETS = [
    "rue des Lilas",
    "avenue Jean Jaurès",
    "boulevard Voltaire",
    "impasse des Acacias",
    "chemin du Moulin",
    "rue de la République",
    "allée des Tilleuls",
    "place du Marché",
]
FRENCH_CITIES = [
    ("75011", "Paris"),
    ("69003", "Lyon"),
    ("44000", "Nantes"),
    ("31000", "Toulouse"),
    ("13001", "Marseille"),
    ("67000", "Strasbourg"),
]
OTHER_ADDRESSES = [
    "ul. Grochowa {n}, 02-345 Warszawa",
    "Calle Mayor {n}, 28013 Madrid",
    "Via Garibaldi {n}, 10122 Torino",
    "Keizersgracht {n}, 1015 CJ Amsterdam",
    "Rua Augusta {n}, 1100-048 Lisboa",
    "{n} Maple Avenue, Springfield, IL 62704",
    "Flat {n}, 14 Hartley Road, Leeds LS6 2AB",
    "Vasagatan {n}, 111 20 Stockholm",
]
LOWER_ADDRESSES = [
    "{n} baker street",
    "{n} rue de la paix, paris",
    "lindenallee {n}, 69163 heidelberg",
    "{n} elm st, apt 4",
    "calle mayor {n}, madrid",
    "{n} oak avenue",
]

DOMAINS = [
    "gmail.com",
    "wp.pl",
    "outlook.com",
    "web.de",
    "gmx.de",
    "orange.fr",
    "proton.me",
    "uol.com.br",
    "yahoo.co.jp",
    "acme-logistics.eu",
    "fastmail.fm",
    "hotmail.co.uk",
]
CITIES = [
    "Berlin",
    "Paris",
    "São Paulo",
    "Lisbon",
    "Warsaw",
    "Kraków",
    "Lagos",
    "Nairobi",
    "Hanoi",
    "Istanbul",
    "Reykjavík",
    "Montréal",
    "Zürich",
    "Osaka",
    "Bengaluru",
    "Toronto",
]
PHYSICS = [
    "Planck's constant sets the scale of quantum effects.",
    "By Heisenberg's uncertainty principle you cannot know both exactly.",
    "Maxwell's equations unify electricity and magnetism.",
    "The Schrödinger equation describes how the state evolves.",
    "Noether's theorem links each symmetry to a conserved quantity.",
    "In the Bohr model the electron sits on fixed orbits.",
    "Feynman diagrams are bookkeeping for perturbation theory.",
    "Fermi estimates are rough order-of-magnitude guesses.",
    "The Pauli exclusion principle keeps electrons apart.",
    "Dirac predicted the positron from his equation.",
    "Boltzmann's constant links temperature and energy.",
    "Einstein showed that mass and energy are equivalent.",
]
PRODUCTS = [
    "the Gen 3 controller",
    "Pixel Gen 2 buds",
    "a Gen 5 NVMe drive",
    "the Gen 4 PCIe slot",
    "Ryzen Gen 2 laptops",
    "the Echo Show Gen 2",
]
WORDS = [
    "sync",
    "deploy",
    "invoice",
    "migration",
    "standup",
    "retro",
    "rollout",
    "budget",
    "review",
    "offsite",
]
PASSWORD_WORDS = [
    "hunter",
    "tiger",
    "sunset",
    "orange",
    "river",
    "falcon",
    "meadow",
    "copper",
    "lantern",
    "maple",
]


# --------------------------------------------------------------------------------------- values


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    first = rng.choice(["4", "51", "52", "55", "2221", "37"])
    length = 15 if first == "37" else 16
    number = _luhn_complete(first + _digits(rng, length - len(first) - 1))
    sep = rng.choice([" ", "-", ""])
    if length == 15:
        return sep.join((number[:4], number[4:10], number[10:]))
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 22), ("FR", 27), ("PL", 28), ("ES", 24), ("IT", 27), ("NL", 18)])
    if country == "NL":
        bban = rng.choice(["ABNA", "INGB", "RABO"]) + _digits(rng, 10)
    elif country == "IT":
        bban = rng.choice(string.ascii_uppercase) + _digits(rng, 22)
    else:
        bban = _digits(rng, length - 4)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _ipv4(rng: random.Random) -> str:
    first = rng.choice([81, 92, 145, 185, 203, 31, 62, 178])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> str:
    return (
        "2a02:"
        + ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(3))
        + "::"
        + f"{rng.randint(1, 0xFFFF):x}"
    )


def _phone(rng: random.Random) -> tuple[str, str]:
    """A phone number in a national or international format, and its class."""
    forms: list[tuple[str, Callable[[], str]]] = [
        (
            "phone.de_slash",
            lambda: f"0{rng.choice(['89', '30', '40', '221', '621', '711'])}/{_digits(rng, 8)}",
        ),
        ("phone.de", lambda: f"0{rng.choice(['621', '711', '341'])} {_digits(rng, 7)}"),
        ("phone.intl", lambda: f"+49 {rng.choice(['89', '30', '40'])} {_digits(rng, 4)} {_digits(rng, 4)}"),
        ("phone.fr", lambda: "0" + str(rng.randint(1, 7)) + "".join(f" {_digits(rng, 2)}" for _ in range(4))),
        (
            "phone.intl",
            lambda: f"+33 6 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
        ),
        ("phone.uk", lambda: f"020 {_digits(rng, 4)} {_digits(rng, 4)}"),
        ("phone.intl", lambda: f"+44 7700 {_digits(rng, 6)}"),
        ("phone.us", lambda: f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{_digits(rng, 4)}"),
        ("phone.intl", lambda: f"+48 {rng.randint(500, 899)} {_digits(rng, 3)} {_digits(rng, 3)}"),
        ("phone.intl", lambda: f"+91 {rng.randint(70000, 99999)} {_digits(rng, 5)}"),
        ("phone.br", lambda: f"(11) 9{_digits(rng, 4)}-{_digits(rng, 4)}"),
        ("phone.ng", lambda: f"080{rng.randint(1, 9)} {_digits(rng, 3)} {_digits(rng, 4)}"),
    ]
    cls, make = rng.choice(forms)
    return make(), cls


def _password(rng: random.Random) -> str:
    word = rng.choice(PASSWORD_WORDS)
    return rng.choice(
        [
            f"{word.capitalize()}{_digits(rng, 3)}!",
            f"{word}-{rng.choice(PASSWORD_WORDS)}-{_digits(rng, 2)}",
            "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(12, 20))),
            f"{word[0].upper()}{word[1:]}#{_digits(rng, 4)}",
        ]
    )


def _url_password(rng: random.Random) -> str:
    """A password as a valid URL holds it: '#' (which would start the fragment) percent-encoded."""
    return _password(rng).replace("#", "%23")


def _secret_key(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))


def _person(rng: random.Random, words: float = 0.2) -> tuple[str, str]:
    return rng.choice(WORD_PEOPLE) if rng.random() < words else rng.choice(PEOPLE)


ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
BIDI = ["\u200e", "\u200f", "\u202a", "\u202c", "\u2066", "\u2069"]
FULL_WIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}


def _inside(rng: random.Random, value: str, marks: list[str]) -> str:
    """``value`` with an invisible character inserted after a letter or digit in its middle."""
    spots = [i for i in range(1, len(value) - 1) if value[i - 1].isalnum() and value[i].isalnum()]
    i = rng.choice(spots)
    return value[:i] + rng.choice(marks) + value[i:]


def _email(rng: random.Random, given: str, surname: str) -> tuple[str, str]:
    """An e-mail address of a person, plain or obfuscated, and its class."""
    g = _ascii(given.split()[0]).lower()
    s = _ascii(surname.split()[-1]).lower()
    local = rng.choice([f"{g}.{s}", f"{g[0]}.{s}", f"{g}{s}", f"{g}_{s}{rng.randint(1, 99)}"])
    domain = rng.choice(DOMAINS)
    roll = rng.random()
    if roll < 0.3:
        return f"{local}@{domain}", "email.plain"
    if roll < 0.45:
        return local.replace(".", " dot ") + " at " + domain.replace(".", " dot "), "email.spelled"
    if roll < 0.6:
        at = rng.choice(["[at]", "(at)", "{at}", " [at] ", " (at) "])
        dot = rng.choice(["[dot]", "(dot)", ".", " [dot] "])
        return local + at + domain.replace(".", dot), "email.bracketed"
    if roll < 0.7:
        return (
            f"{local.upper() if rng.random() < 0.3 else local} AT {domain.replace('.', ' DOT ')}",
            "email.spelled",
        )
    if roll < 0.85:
        return _inside(rng, f"{local}@{domain}", ZW + BIDI), "email.invisible"
    return f"{local}\uff20{domain}", "email.fullwidth"


_UNDECOMPOSABLE = str.maketrans({"ł": "l", "\u0131": "i", "ð": "d", "þ": "th", "ø": "o", "ß": "ss"})


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
    return "".join(c for c in decomposed if c.isascii() and c != " ")


def _street(rng: random.Random) -> tuple[str, str]:
    """A street address and its class."""
    roll = rng.random()
    n = f"{rng.randint(1, 180)}{rng.choice(['', '', '', 'a', 'b'])}"
    if roll < 0.35:
        plz, city = rng.choice(GERMAN_CITIES)
        return f"{rng.choice(GERMAN_STREETS)} {n}, {plz} {city}", "location.de"
    if roll < 0.6:
        cp, city = rng.choice(FRENCH_CITIES)
        return f"{rng.randint(1, 120)} {rng.choice(FRENCH_STREETS)}, {cp} {city}", "location.fr"
    if roll < 0.8:
        return rng.choice(OTHER_ADDRESSES).format(n=rng.randint(2, 250)), "location.other"
    return rng.choice(LOWER_ADDRESSES).format(n=rng.randint(2, 250)), "location.lower"


# ------------------------------------------------------------------------------------ documents


def _chat(rng: random.Random) -> Doc:
    b = _Builder()
    g, s = _person(rng, 0.35)
    other_g, other_s = _person(rng)
    me_g, _ = _person(rng)
    b.t(f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] ")
    b.e("PERSON", me_g.split()[0].lower(), "person.lower").t(": ")
    form = rng.randrange(6)
    if form == 0:
        b.t(rng.choice(["remind ", "ask ", "tell ", "ping ", "cc "]))
        b.e("PERSON", f"{g} {s}".lower(), "person.lower").t(f" about the {rng.choice(WORDS)} tomorrow\n")
    elif form == 1:
        b.t("@").e("PERSON", f"{g.split()[0]}.{s.split()[-1]}".lower(), "person.mention")
        b.t(f" can you take the {rng.choice(WORDS)}?\n")
    elif form == 2:
        b.t("i talked to ").e("PERSON", f"{g} {s}", "person.title_case").t(" and she said yes\n")
    elif form == 3:
        b.t(f"{rng.choice(['hey', 'hi', 'thanks'])} ").e("PERSON", g.split()[0].lower(), "person.lower")
        b.t(f", the {rng.choice(WORDS)} is done\n")
    elif form == 4:
        b.t("my email is ")
        value, cls = _email(rng, g, s)
        b.e("EMAIL_ADDRESS", value, cls).t(" if that's easier\n")
    else:
        b.t("you can call me on ")
        value, cls = _phone(rng)
        if rng.random() < 0.2:
            value, cls = value.translate(FULL_WIDTH), "phone.fullwidth"
        b.e("PHONE_NUMBER", value, cls).t(" after 6pm\n")
    b.t(f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] assistant: ")
    roll = rng.random()
    if roll < 0.4:
        b.t("Sure. I will send it to ").e("PERSON", f"{other_g} {other_s}", "person.title_case").t(".\n")
    elif roll < 0.7:
        b.t("Noted, the delivery address is ")
        value, cls = _street(rng)
        b.e("LOCATION", value, cls).t(".\n")
    else:
        b.t(f"Key points:\n- the {rng.choice(WORDS)} moved\n- nothing else changed\n")
    if rng.random() < 0.3:
        b.t("— ").e("PERSON", other_g.split()[0].lower(), "person.signature").t("\n")
    return b.doc("chat")


def _log(rng: random.Random) -> Doc:
    b = _Builder()
    g, s = _person(rng)
    day = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    stamp = f"{day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
    b.t(f"{stamp} INFO auth.login user=")
    email = f"{_ascii(g.split()[0]).lower()}.{_ascii(s.split()[-1]).lower()}@{rng.choice(DOMAINS)}"
    b.e("EMAIL_ADDRESS", email, "email.plain").t(" ip=")
    if rng.random() < 0.7:
        b.e("IP_ADDRESS", _ipv4(rng), "ip.v4")
    else:
        b.e("IP_ADDRESS", _ipv6(rng), "ip.v6")
    b.t(f" ok in {rng.randint(3, 900)}ms\n")
    roll = rng.random()
    if roll < 0.35:
        b.t(
            f"{stamp} DEBUG http.client > GET /v1/accounts HTTP/1.1\n"
            f"{stamp} DEBUG http.client > Authorization: Basic "
        )
        user = _ascii(g.split()[0]).lower()
        b.e("CREDENTIAL", base64.b64encode(f"{user}:{_password(rng)}".encode()).decode(), "credential.basic")
        b.t("\n")
    elif roll < 0.6:
        b.t(f"{stamp} WARN cache: connecting to redis://:")
        b.e("CREDENTIAL", _url_password(rng), "credential.url_empty_user").t("@cache.internal:6379/0\n")
    elif roll < 0.8:
        b.t(f'{stamp} INFO billing: customer_name="').e("PERSON", f"{g} {s}", "person.title_case")
        b.t('" card=').e("CREDIT_CARD", _card(rng), "card.plain").t(" status=declined\n")
    else:
        b.t(f"{stamp} INFO kyc: ssn=").e("US_SSN", _ssn(rng), "ssn.plain").t(" iban=")
        b.e("IBAN_CODE", _iban(rng), "iban.plain").t(" verified\n")
    return b.doc("log")


def _traceback(rng: random.Random) -> Doc:
    b = _Builder()
    b.t("Traceback (most recent call last):\n")
    b.t(
        f'  File "/srv/app/{rng.choice(["handlers", "billing", "views"])}.py", '
        f"line {rng.randint(10, 400)}, in handle\n"
    )
    b.t("    customer = lookup(email)\n")
    b.t(f'  File "/srv/app/db.py", line {rng.randint(10, 200)}, in lookup\n')
    g, s = _person(rng)
    roll = rng.random()
    if roll < 0.4:
        b.t(
            "psycopg2.OperationalError: connection to server failed: "
            "FATAL: password authentication failed for user "
        )
        b.t('"app"\nDSN: postgresql://app:').e("CREDENTIAL", _url_password(rng), "credential.url").t(
            "@db.internal:5432/crm\n"
        )
    elif roll < 0.7:
        b.t("KeyError: 'no customer for ")
        value, cls = _email(rng, g, s)
        b.e("EMAIL_ADDRESS", value, cls).t("'\n")
    else:
        b.t("ValueError: invalid phone '")
        value, cls = _phone(rng)
        b.e("PHONE_NUMBER", value, cls).t("' for customer ").e("PERSON", f"{g} {s}", "person.title_case").t(
            "\n"
        )
    return b.doc("traceback")


def _config(rng: random.Random) -> Doc:
    b = _Builder()
    roll = rng.random()
    if roll < 0.2:
        b.t("# .env\nDEBUG=false\nPGPASSWORD=").e("CREDENTIAL", _password(rng), "credential.env").t("\n")
        b.t(f"PGHOST=db-{rng.randint(1, 9)}.internal\n")
    elif roll < 0.4:
        b.t("#!/bin/sh\nexport DB_USER=app\nexport DB_PASS=").e(
            "CREDENTIAL", _password(rng), "credential.env"
        )
        b.t("\nexec gunicorn app:main\n")
    elif roll < 0.6:
        key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        if rng.random() < 0.5:
            b.t("[default]\naws_access_key_id = ").e("CREDENTIAL", key_id, "credential.token")
            b.t("\naws_secret_access_key = ")
            b.e("CREDENTIAL", _secret_key(rng), "credential.aws_secret").t("\nregion = eu-central-1\n")
        else:
            # `aws sts get-session-token` output, pasted.
            b.t('{"Credentials": {"AccessKeyId": "').e("CREDENTIAL", key_id, "credential.token")
            b.t('", "SecretAccessKey": "')
            b.e("CREDENTIAL", _secret_key(rng), "credential.aws_secret").t(
                '", "Expiration": "2026-12-01T10:00:00Z"}}\n'
            )
    elif roll < 0.8:
        user = _ascii(rng.choice(PEOPLE)[0].split()[0]).lower()
        b.t(f"curl -s -u {user}:").e("CREDENTIAL", _password(rng), "credential.curl_user")
        b.t(" https://api.example.net/v2/export -o out.json\n")
    else:
        b.t("database:\n  host: db.internal\n  user: app\n  password: ").e(
            "CREDENTIAL", _password(rng), "credential.yaml"
        )
        b.t("\nsmtp:\n  from: ")
        g, s = _person(rng)
        value, cls = _email(rng, g, s)
        b.e("EMAIL_ADDRESS", value, cls).t("\n")
    return b.doc("config")


def _csv(rng: random.Random) -> Doc:
    b = _Builder()
    b.t("id,name,email,phone,address\n")
    for row in range(rng.randint(1, 3)):
        g, s = _person(rng)
        b.t(f"{rng.randint(1000, 9999)},")
        if rng.random() < 0.25:
            b.e("PERSON", f"{g} {s}".upper(), "person.upper")
        else:
            b.e("PERSON", f"{g} {s}", "person.title_case")
        b.t(",")
        b.e(
            "EMAIL_ADDRESS",
            f"{_ascii(g.split()[0]).lower()}.{_ascii(s.split()[-1]).lower()}@{rng.choice(DOMAINS)}",
            "email.plain",
        )
        b.t(',"')
        value, cls = _phone(rng)
        if row == 0 and rng.random() < 0.5:
            # A line break inside the quoted field, where a spreadsheet wrapped the number.
            cut = rng.randrange(3, len(value) - 2)
            while not (value[cut - 1].isdigit() and value[cut].isdigit()):
                cut += 1
            value, cls = value[:cut] + rng.choice(["\n", "\r\n"]) + value[cut:], "phone.csv_break"
        b.e("PHONE_NUMBER", value, cls).t('","')
        address, acls = _street(rng)
        b.e("LOCATION", address, acls).t('"\n')
    return b.doc("csv")


def _json(rng: random.Random) -> Doc:
    b = _Builder()
    g, s = _person(rng, 0.3)
    b.t('{"customer": {"name": "')
    if rng.random() < 0.4:
        b.e("PERSON", f"{g} {s}".lower(), "person.name_field")
    else:
        b.e("PERSON", f"{g} {s}", "person.title_case")
    b.t('", "phone": "')
    value, cls = _phone(rng)
    b.e("PHONE_NUMBER", value, cls).t('", "iban": "').e("IBAN_CODE", _iban(rng), "iban.plain")
    b.t('"}, "payment": {"card": "')
    card = _card(rng)
    roll = rng.random()
    if roll < 0.2:
        b.e("CREDIT_CARD", card.translate(FULL_WIDTH), "card.fullwidth")
    elif roll < 0.4 and len(card) > 6:
        b.e("CREDIT_CARD", _inside(rng, card, ZW), "card.invisible")
    else:
        b.e("CREDIT_CARD", card, "card.plain")
    b.t('"}, "api_key": "')
    token = "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    b.e("CREDENTIAL", token, "credential.token").t('"}\n')
    return b.doc("json")


def _email_doc(rng: random.Random) -> Doc:
    b = _Builder()
    g, s = _person(rng, 0.25)
    sender_g, sender_s = _person(rng)
    b.t("Subject: Re: your account\n\n")
    b.t("Hi ").e("PERSON", g.split()[0], "person.title_case").t(",\n\n")
    roll = rng.random()
    if roll < 0.35:
        b.t("ACCOUNT HOLDER: ").e("PERSON", f"{g} {s}".upper(), "person.upper").t("\nIBAN: ")
        b.e("IBAN_CODE", _iban(rng), "iban.plain").t("\n")
    elif roll < 0.7:
        b.t("Please write to ")
        value, cls = _email(rng, sender_g, sender_s)
        b.e("EMAIL_ADDRESS", value, cls).t(" or send the forms to\n")
        address, acls = _street(rng)
        b.e("LOCATION", address, acls).t(".\n")
    else:
        b.t("Our records show SSN ").e("US_SSN", _ssn(rng), "ssn.plain").t(" and the number ")
        value, cls = _phone(rng)
        b.e("PHONE_NUMBER", value, cls).t(".\n")
    b.t("\nBest regards,\n").e("PERSON", f"{sender_g} {sender_s}", "person.signature").t("\n")
    if rng.random() < 0.5:
        value, cls = _phone(rng)
        b.t("Tel. ").e("PHONE_NUMBER", value, cls).t("\n")
    return b.doc("email")


KINDS: list[Callable[[random.Random], Doc]] = [_chat, _log, _traceback, _config, _csv, _json, _email_doc]


# ------------------------------------------------------------------------------------ negatives


def _negative(rng: random.Random) -> tuple[str, str]:
    """A text with no personal data shaped like some, and its look-alike class."""
    makers: list[tuple[str, Callable[[], str]]] = [
        (
            "key_points",
            lambda: f"Key points:\n- {rng.choice(WORDS)} is on track\n- {rng.choice(WORDS)} slipped a week",
        ),
        ("key_points", lambda: f"Key takeaways from the {rng.choice(WORDS)}: ship smaller changes."),
        (
            "traceback",
            lambda: (
                "Traceback (most recent call last):\n"
                f'  File "/usr/lib/python3.11/{rng.choice(["json", "asyncio", "http"])}/__init__.py", '
                f"line {rng.randint(10, 900)}, in load\n"
                "    return loads(fp.read())\n"
                f"ValueError: Expecting value: line {rng.randint(1, 9)} column {rng.randint(1, 80)}"
            ),
        ),
        (
            "product",
            lambda: f"Does {rng.choice(PRODUCTS)} support firmware {rng.randint(1, 9)}.{rng.randint(0, 20)}?",
        ),
        ("city", lambda: f"I'm flying to {rng.choice(CITIES)} next week for the {rng.choice(WORDS)}."),
        ("city", lambda: f"Our office in {rng.choice(CITIES)} is closed on Friday."),
        ("city", lambda: f"{rng.choice(CITIES)} or {rng.choice(CITIES)}, which is cheaper in May?"),
        ("physics", lambda: rng.choice(PHYSICS)),
        ("placeholder", lambda: "database:\n  password: ${POSTGRES_PASSWORD}\n  user: ${POSTGRES_USER}"),
        ("placeholder", lambda: 'DB_PASSWORD = os.getenv("DB_PASSWORD")\nAPI_KEY = os.getenv("API_KEY", "")'),
        ("placeholder", lambda: 'password = getpass.getpass("Password: ")'),
        ("placeholder", lambda: "password = os.environ['PGPASSWORD']"),
        ("placeholder", lambda: 'api_key: "<your-api-key>"'),
        ("placeholder", lambda: "token: ${{ secrets.GITHUB_TOKEN }}"),
        ("placeholder", lambda: "export DB_PASS=$(cat /run/secrets/db_pass)"),
        (
            "code",
            lambda: f"for i in range({rng.randint(2, 99)}):\n    total += prices[i] * 1.{rng.randint(0, 9)}",
        ),
        (
            "code",
            lambda: (
                f"git checkout -b fix/{rng.choice(WORDS)}-{rng.randint(10, 999)} && git push -u origin HEAD"
            ),
        ),
        (
            "number",
            lambda: (
                f"Order {rng.randint(100000, 999999)} shipped on "
                f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}."
            ),
        ),
        (
            "number",
            lambda: (
                f"Build {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(100, 9999)} "
                f"took {rng.randint(2, 59)} min."
            ),
        ),
        (
            "spelled_at",
            lambda: (
                f"We meet at noon at the {rng.choice(['cafe', 'station', 'office'])}. "
                "Look at the docs at noon."
            ),
        ),
        ("spelled_at", lambda: f"Sales were up {rng.randint(2, 40)} percent at {rng.choice(CITIES)} stores."),
        (
            "word_name",
            lambda: (
                f"Will the {rng.choice(WORDS)} be ready by May? Grant access to the {rng.choice(WORDS)} repo."
            ),
        ),
    ]
    cls, make = rng.choice(makers)
    return make(), cls


def evaluation_set(seed: int = 15, documents: int = 700, negatives: int = 160) -> tuple[list[Doc], list[Doc]]:
    """``documents`` realistic documents with gold spans, and ``negatives`` look-alike texts (no gold)."""
    rng = random.Random(seed)
    docs = [KINDS[i % len(KINDS)](rng) for i in range(documents)]
    negs = []
    for _ in range(negatives):
        text, cls = _negative(rng)
        negs.append(Doc(text, [], [], f"negative.{cls}"))
    return docs, negs


# -------------------------------------------------------------------------------------- scoring


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class Counts:
    """Counts of one engine for one type (or one miss class)."""

    found: int = 0
    gold: int = 0
    whole: int = 0
    """Gold spans every character of which (but invisible ones and line breaks) is inside a predicted span."""
    correct: int = 0
    predicted: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else float("nan")

    @property
    def whole_recall(self) -> float:
        return self.whole / self.gold if self.gold else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else float("nan")

    def add(self, other: Counts) -> None:
        self.found += other.found
        self.gold += other.gold
        self.whole += other.whole
        self.correct += other.correct
        self.predicted += other.predicted


@dataclass
class Evaluation:
    """Scores of one engine on the set: per type, per miss class, and the look-alikes it changed."""

    types: dict[str, Counts]
    classes: dict[str, Counts]
    negatives: int
    negatives_changed: int
    changed_kinds: dict[str, int]

    def total(self, types: tuple[str, ...]) -> Counts:
        out = Counts()
        for kind in types:
            out.add(self.types.get(kind, Counts()))
        return out


_SKIPPABLE = frozenset("\n\r \u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202c\u2066\u2069")


def evaluate(
    docs: list[Doc], negatives: list[Doc], analyze: Callable[[str], Spans], types: tuple[str, ...] = TYPES
) -> Evaluation:
    """Score ``analyze`` (text -> (type, start, end) spans): a gold span is found when a predicted span
    of its type overlaps it, and whole when predicted spans cover all its visible characters."""
    per_type: dict[str, Counts] = {kind: Counts() for kind in types}
    per_class: dict[str, Counts] = {}
    for doc in docs:
        predicted = [p for p in analyze(doc.text) if p[0] in types]
        for (kind, start, end), cls in zip(doc.gold, doc.classes, strict=True):
            c, k = per_class.setdefault(cls, Counts()), per_type[kind]
            found = any(pk == kind and _overlaps((start, end), (ps, pe)) for pk, ps, pe in predicted)
            whole = all(
                doc.text[i] in _SKIPPABLE or any(ps <= i < pe for _, ps, pe in predicted)
                for i in range(start, end)
            )
            for counts in (c, k):
                counts.gold += 1
                counts.found += found
                counts.whole += whole
        for kind, start, end in predicted:
            k = per_type[kind]
            k.predicted += 1
            k.correct += any(gk == kind and _overlaps((start, end), (gs, ge)) for gk, gs, ge in doc.gold)
    changed: dict[str, int] = {}
    for doc in negatives:
        if any(p[0] in types for p in analyze(doc.text)):
            changed[doc.kind] = changed.get(doc.kind, 0) + 1
    return Evaluation(per_type, per_class, len(negatives), sum(changed.values()), changed)
