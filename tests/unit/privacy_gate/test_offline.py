"""`flagstream redact` contract: JSON lines in, redacted JSON lines with input offsets out."""

from __future__ import annotations

import json

from services.privacy_gate.domain import RedactionPolicy, Redactor
from services.privacy_gate.offline import redact_lines

REDACTOR = Redactor(
    RedactionPolicy.model_validate(
        {"version": "v", "entities": {"CREDIT_CARD": "drop_event"}, "default_action": "placeholder"}
    )
)


def run(*lines: str) -> list[dict[str, object]]:
    return [json.loads(out) for out in redact_lines(lines, REDACTOR)]


def test_redacts_text_and_reports_offsets_into_the_input() -> None:
    text = "Mail jane@example.com or call 415-555-2671."
    (out,) = run(json.dumps({"text": text}) + "\n")
    assert out == {
        "text": "Mail <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1>.",
        "entities": [
            {"type": "EMAIL_ADDRESS", "start": 5, "end": 21},
            {"type": "PHONE_NUMBER", "start": 30, "end": 42},
        ],
    }
    assert text[5:21] == "jane@example.com"
    assert text[30:42] == "415-555-2671"


def test_one_output_line_per_input_line_in_order() -> None:
    outs = list(redact_lines([json.dumps({"text": f"n{i}@example.com"}) for i in range(5)], REDACTOR))
    assert len(outs) == 5
    assert all("\n" not in o for o in outs)
    # each line is its own interaction: numbering restarts
    assert {json.loads(o)["text"] for o in outs} == {"<EMAIL_ADDRESS_1>"}


def test_text_without_entities() -> None:
    assert run('{"text": "hello 1.2.3"}') == [{"text": "hello 1.2.3", "entities": []}]


def test_bad_lines_yield_errors_without_echo_and_the_stream_goes_on() -> None:
    secret = "jane@example.com"
    outs = run(
        f"not json {secret}",
        json.dumps([secret]),
        json.dumps({"body": secret}),
        json.dumps({"text": 42}),
        "",
        json.dumps({"text": secret}),
    )
    assert [set(o) for o in outs[:5]] == [{"error"}] * 5
    assert outs[0]["error"] == "line 1: not valid JSON"
    assert outs[1]["error"] == "line 2: not a JSON object"
    assert outs[2]["error"] == "line 3: missing string field 'text'"
    assert outs[3]["error"] == "line 4: missing string field 'text'"
    assert outs[4]["error"] == "line 5: not valid JSON"
    assert outs[5]["text"] == "<EMAIL_ADDRESS_1>"
    assert secret not in json.dumps(outs)


def test_other_input_fields_are_not_copied() -> None:
    (out,) = run(json.dumps({"text": "hi", "user": "jane@example.com"}))
    assert set(out) == {"text", "entities"}


def test_policy_drop_is_reported() -> None:
    (out,) = run(json.dumps({"text": "card 4111 1111 1111 1111"}))
    assert out["text"] == "card <CREDIT_CARD_1>"
    assert out["policy_drop"] == ["CREDIT_CARD"]


def test_non_ascii_text_round_trips_with_code_point_offsets() -> None:
    text = "Grüße 👋 jürgen@beispiel.de"
    (line,) = redact_lines([json.dumps({"text": text}, ensure_ascii=False)], REDACTOR)
    assert "👋" in line  # written as UTF-8, not \u escapes
    out = json.loads(line)
    assert out["text"] == "Grüße 👋 <EMAIL_ADDRESS_1>"
    (entity,) = out["entities"]
    assert text[entity["start"] : entity["end"]] == "jürgen@beispiel.de"


def test_lone_surrogates_stay_escaped_so_the_line_is_valid_utf8() -> None:
    (line,) = redact_lines(['{"text": "bad \\ud800 jane@example.com"}'], REDACTOR)
    line.encode("utf-8")
    assert json.loads(line)["text"] == "bad \ud800 <EMAIL_ADDRESS_1>"
