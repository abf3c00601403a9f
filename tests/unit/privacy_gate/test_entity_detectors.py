"""SSN, IBAN, IP, credential, person and street-address detectors: positives and look-alikes."""

from __future__ import annotations

import time

import pytest

from services.privacy_gate.domain import EntityType, detect
from services.privacy_gate.domain.identifiers import iban_valid, ssn_valid
from services.privacy_gate.domain.people import PersonDetector, given_names

SSN = EntityType.US_SSN
IBAN = EntityType.IBAN_CODE
IP = EntityType.IP_ADDRESS
CRED = EntityType.CREDENTIAL
PERSON = EntityType.PERSON
LOC = EntityType.LOCATION


def found(text: str) -> list[tuple[EntityType, str]]:
    return [(s.entity_type, text[s.start : s.end]) for s in detect(text)]


def of_type(text: str, kind: EntityType) -> list[str]:
    return [value for t, value in found(text) if t is kind]


@pytest.mark.parametrize(
    ("text", "ssn"),
    [
        ("my ssn is 536-22-1234 ok", "536-22-1234"),
        ("SSN 536 22 1234.", "536 22 1234"),
        ("social security number: 536221234", "536221234"),
    ],
)
def test_ssn_positives(text: str, ssn: str) -> None:
    assert of_type(text, SSN) == [ssn]


@pytest.mark.parametrize(
    "text",
    [
        "ssn 000-12-3456",  # area 000 never issued
        "ssn 666-12-3456",  # area 666 never issued
        "ssn 912-12-3456",  # 9xx: ITINs, not SSNs
        "ssn 536-00-1234",  # group 00
        "ssn 536-22-0000",  # serial 0000
        "ssn 078-05-1120",  # the voided wallet-card number
        "ref 536-22/1234",  # mixed separators
        "order 536221234 shipped",  # nine bare digits without an SSN keyword
        "call 536-221-2345",  # a phone-like split
    ],
)
def test_ssn_lookalikes(text: str) -> None:
    assert of_type(text, SSN) == []


def test_ssn_ranges() -> None:
    assert ssn_valid("536", "22", "1234")
    assert not ssn_valid("900", "22", "1234")


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "NO9386011117947",
    ],
)
def test_iban_positives(iban: str) -> None:
    assert of_type(f"pay to {iban} today", IBAN) == [iban]


@pytest.mark.parametrize(
    "text",
    [
        "pay to GB82 WEST 1234 5698 7654 33 today",  # checksum off by one
        "pay to GB82WEST1234569876543",  # one character short for GB
        "pay to ZZ82WEST12345698765432",  # no such country
        "SKU AB12CDEFGHIJKLMNOP",
    ],
)
def test_iban_lookalikes(text: str) -> None:
    assert of_type(text, IBAN) == []


def test_iban_followed_by_a_word_keeps_the_word() -> None:
    assert of_type("IBAN DE89 3704 0044 0532 0130 00 THEN", IBAN) == ["DE89 3704 0044 0532 0130 00"]
    assert iban_valid("DE89370400440532013000")


@pytest.mark.parametrize(
    "ip",
    ["192.168.100.200", "10.0.0.1", "8.8.8.8", "2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a", "::1"],
)
def test_ip_positives(ip: str) -> None:
    assert of_type(f"from {ip}, blocked", IP) == [ip]


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3.4",
        "v10.0.0.1",
        "256.100.1.1",
        "1.2.3.4.5",
        "at 12:30:45 today",
        "std::vector<int> and a::b",
        "mac 00:1A:2B:3C:4D:5E",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
    ],
)
def test_ip_lookalikes(text: str) -> None:
    assert of_type(text, IP) == []


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_" + "a1B2" * 9 + " used", "ghp_" + "a1B2" * 9),
        ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
        ("stripe sk_live_" + "x" * 24, "sk_live_" + "x" * 24),
        ("use sk-proj-" + "Ab3" * 10, "sk-proj-" + "Ab3" * 10),
        ("google AIza" + "B" * 35, "AIza" + "B" * 35),
        (f"auth {JWT} ok", JWT),
        ("password=hunter22", "hunter22"),
        ("DB_PASSWORD: 'c0rrect horse'", "c0rrect horse"),
        ('my password is "s3cr3t pass"', "s3cr3t pass"),
        ("my password is Tr0ub4dor&3.", "Tr0ub4dor&3"),
        ("client_secret = abc123def456", "abc123def456"),
        ("postgres://admin:pa55word@db.example.com/x", "pa55word"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123", "abcdefghijklmnopqrstuvwxyz123"),
    ],
)
def test_credential_positives(text: str, secret: str) -> None:
    assert of_type(text, CRED) == [secret]


def test_private_key_block_is_one_credential() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nq83kd==\n-----END RSA PRIVATE KEY-----"
    assert of_type(f"here:\n{block}\nthanks", CRED) == [block]
    truncated = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE"
    assert of_type(f"oops {truncated}", CRED) == [truncated]


@pytest.mark.parametrize(
    "text",
    [
        "my password is wrong",
        "the password is required",
        "password=<CREDENTIAL_1>",
        "reset your password via the link",
        "eyJhbGciOi.eyJzdWIiOiIx.not_a_jwt_at_all",
        "the token was expired",
        "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "task-runner and desk-lamp",
    ],
)
def test_credential_lookalikes(text: str) -> None:
    assert of_type(text, CRED) == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Hi, I'm Maria Garcia. You can reach me", ["Maria Garcia"]),
        ("Hello Aiko, how can I help?", ["Aiko"]),
        ("My name is Zorblat Quxley and I need help", ["Zorblat Quxley"]),
        ("Dear Mr. Thompson, please", ["Thompson"]),
        ("James R. Smith called", ["James R. Smith"]),
        ("Ask Priya Sharma and Lukas Müller", ["Priya Sharma", "Lukas Müller"]),
    ],
)
def test_person_positives(text: str, names: list[str]) -> None:
    assert of_type(text, PERSON) == names


@pytest.mark.parametrize(
    "text",
    [
        "Will you help me?",
        "The Python process hangs on startup.",
        "May I ask a question about June?",
        "Grant access to the Main Street repo.",
        "Can you summarise the attached meeting notes for my team?",
        "I'm Happy to help.",
    ],
)
def test_person_lookalikes(text: str) -> None:
    assert of_type(text, PERSON) == []


def test_person_lexicon_ships_in_a_package() -> None:
    names = given_names()
    assert len(names) > 20_000
    assert {"Maria", "Aiko", "Priya", "Lukas"} <= names
    assert "Will" not in names and "The" not in names
    assert PersonDetector(frozenset({"Zed"})).entity_types == frozenset({PERSON})


@pytest.mark.parametrize(
    "address",
    [
        "123 Main Street, Springfield, IL 62704",
        "42 Oak Ave Apt 5, Boston, MA 02118",
        "7 Baker Street, London NW1 6XE",
        "1600 Pennsylvania Avenue NW",
        "P.O. Box 255",
    ],
)
def test_address_positives(address: str) -> None:
    assert of_type(f"I live at {address}. Thanks", LOC) == [address]


@pytest.mark.parametrize(
    "text",
    [
        "I walked 3 blocks down the street",
        "version 2 Way forward",
        "page 12 of the report",
        "in 2024 we moved",
    ],
)
def test_address_lookalikes(text: str) -> None:
    assert of_type(text, LOC) == []


@pytest.mark.parametrize(
    "adversarial",
    [
        "Maria " * 10_000,
        "A" * 50_000,
        "password=" * 5_000,
        "1 " * 20_000 + "Street",
        ":" * 50_000,
        "ab:" * 20_000,
        "GB82 " * 10_000,
        "-----BEGIN PRIVATE KEY-----" * 1_000,
        "123-45-6789 " * 4_000,
    ],
)
def test_adversarial_inputs_stay_fast(adversarial: str) -> None:
    started = time.perf_counter()
    detect(adversarial)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Can someone call me on 06-82237745?", "06-82237745"),
        ("my mobile is 730 064 218", "730 064 218"),
        ("phone: (73) 4746-3459", "(73) 4746-3459"),
        ("reach me at 650-752-7354x549", "650-752-7354x549"),
        ("(894)134-3524 is my office", "(894)134-3524"),
        ("555 019 2834-Office", "555 019 2834"),
    ],
)
def test_announced_national_phones(text: str, phone: str) -> None:
    assert of_type(text, EntityType.PHONE_NUMBER) == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "we sold 730 064 218 units",  # no phone word before it
        "call it on 2024-05-01",  # a date after a phone word
        "number 12 34 56",  # too few digits
        "Policy 748-89-5134-X covers it.",  # an SSN-shaped part of a longer id
    ],
)
def test_unannounced_or_short_numbers_are_not_phones(text: str) -> None:
    assert of_type(text, EntityType.PHONE_NUMBER) == []
    assert of_type(text, SSN) == []


def test_jcb_fifteen_digit_card() -> None:
    assert of_type("card 180092617964050 please", EntityType.CREDIT_CARD) == ["180092617964050"]


@pytest.mark.parametrize(
    "address",
    [
        "Via Pasquale Scura 127",
        "Rua Arapiraca 1943",
        "Hauptstraße 5",
        "Paul-Nevermann-Platz 47",
        "Fitjabraut 87",
    ],
)
def test_continental_street_addresses(address: str) -> None:
    assert of_type(f"The office is on {address}, second floor", LOC) == [address]


def test_twelve_digit_maestro_needs_a_card_word() -> None:
    assert of_type("charge my card 587662702899 today", EntityType.CREDIT_CARD) == ["587662702899"]
    assert of_type("tracking 587662702899 today", EntityType.CREDIT_CARD) == []
    assert of_type("card 587662702890 today", EntityType.CREDIT_CARD) == []  # fails Luhn
