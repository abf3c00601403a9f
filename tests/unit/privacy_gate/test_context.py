"""Context rules: names in any case, European addresses, slash phones, secrets, look-alikes cleared."""

from __future__ import annotations

import pytest

from services.privacy_gate.domain import DEFAULT_ANALYZER


def of_type(text: str, kind: str) -> list[str]:
    return [text[s.start : s.end] for s in DEFAULT_ANALYZER.analyze(text) if s.entity_type == kind]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("remind hunter bishop about the sync", ["hunter bishop"]),
        ("can you ask ana to send it", ["ana"]),
        ("hey rose, the deploy is done", ["rose"]),
        ("thanks alejandro, looks good", ["alejandro"]),
        ("[14:10] mark: the build is green", ["mark"]),
        ("@ana.silva can you take it?", ["ana.silva"]),
        ("ACCOUNT HOLDER: ANA BEATRIZ ALMEIDA\nIBAN follows", ["ANA BEATRIZ ALMEIDA"]),
        ('{"customer": {"name": "ngozi eze", "tier": 2}}', ["ngozi eze"]),
        ('user=7 customer_name="oluwaseun adeyemi" ok', ["oluwaseun adeyemi"]),
        ("id,name,city\n7,Chidi Okonkwo,Lagos\n", ["Chidi Okonkwo"]),
        (
            "here is the export:\nid,name,city\n7,Chidi Okonkwo,Lagos\n8,ngozi eze,Abuja\nthat is all",
            ["Chidi Okonkwo", "ngozi eze"],
        ),
        ("Best regards,\nSiobhán Ní Bhriain\n", ["Siobhán Ní Bhriain"]),
        ("see you then\n\u2014 drew\n", ["drew"]),
    ],
)
def test_names_found_by_their_context(text: str, names: list[str]) -> None:
    assert of_type(text, "PERSON") == names


@pytest.mark.parametrize(
    "text",
    [
        "ask the team to review it",
        "hi there, the build is green",
        "thanks for the fix, tell me when it ships",
        "[14:10] assistant: done",
        "@property\ndef name(self): ...",
        '{"name": "deploy-staging", "replicas": 3}',
        "hostname: db.internal",
        "Key points:\n- budget is on track",
        'Traceback (most recent call last):\n  File "/srv/app.py", line 3, in x',
        "Does the Gen 4 PCIe slot support it?",
        "Our office in São Paulo is closed.",
        "Planck's constant sets the scale.",
        "Maxwell's equations unify electricity and magnetism.",
        "Einstein's theory of relativity",
    ],
)
def test_lookalikes_of_names_are_left_alone(text: str) -> None:
    assert of_type(text, "PERSON") == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("send it to Lindenallee 65a, 69163 Heidelberg today", "Lindenallee 65a, 69163 Heidelberg"),
        ("Bahnhofstr. 2, 80331 München", "Bahnhofstr. 2, 80331 München"),
        ("au 12 rue des Lilas, 75011 Paris merci", "12 rue des Lilas, 75011 Paris"),
        ("ul. Grochowa 13, 02-345 Warszawa", "ul. Grochowa 13, 02-345 Warszawa"),
        ("Keizersgracht 104, 1015 CJ Amsterdam", "Keizersgracht 104, 1015 CJ Amsterdam"),
        ("ship it to 221 baker street please", "221 baker street"),
        ("wohnt Am Mühlbach 5 seit Jahren", "Am Mühlbach 5"),
    ],
)
def test_european_and_lower_case_addresses(text: str, address: str) -> None:
    assert of_type(text, "LOCATION") == [address]


@pytest.mark.parametrize(
    "text",
    [
        "Spring 2024 is here",
        "version 3, 12000 users upgraded",
        "I'm flying to Berlin next week",
        "a 5 minute walk",
    ],
)
def test_lookalikes_of_addresses_are_left_alone(text: str) -> None:
    assert of_type(text, "LOCATION") == []


def test_a_phone_label_after_a_name_is_not_listed_as_a_name() -> None:
    text = "Kunde: Jürgen Schäfer, Tel. 0221/4711830"
    assert of_type(text, "PERSON") == ["Jürgen Schäfer"]
    assert of_type(text, "PHONE_NUMBER") == ["0221/4711830"]


def test_german_slash_phone_numbers() -> None:
    assert of_type("Tel. 089/73984500.", "PHONE_NUMBER") == ["089/73984500"]
    assert of_type("see /srv/0891/12345 and 1/2024", "PHONE_NUMBER") == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic YW5hOlRpZ2VyMTIzIQ==", "YW5hOlRpZ2VyMTIzIQ=="),
        ("curl -s -u ana:Tiger123! https://api.example.net", "Tiger123!"),
        ("curl --user ana:Tiger123! https://api.example.net", "Tiger123!"),
        ("redis://:s3cr3tpw@cache.internal:6379/0", "s3cr3tpw"),
        ("PGPASSWORD=hunter-river-12 psql -h db", "hunter-river-12"),
        ("export DB_PASS=Maple#2231\nexec app", "Maple#2231"),
        (
            '{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}',
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    ],
)
def test_secrets_in_headers_commands_and_environment(text: str, secret: str) -> None:
    assert secret in of_type(text, "CREDENTIAL")


@pytest.mark.parametrize(
    "text",
    [
        "database:\n  password: ${POSTGRES_PASSWORD}",
        'DB_PASSWORD = os.getenv("DB_PASSWORD")',
        'password = getpass.getpass("Password: ")',
        "password = os.environ['PGPASSWORD']",
        "export DB_PASS=$(cat /run/secrets/db_pass)",
        "token: ${{ secrets.GITHUB_TOKEN }}",
        "git push -u origin HEAD",
    ],
)
def test_placeholders_are_not_secrets(text: str) -> None:
    assert of_type(text, "CREDENTIAL") == []
