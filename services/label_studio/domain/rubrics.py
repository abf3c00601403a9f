"""What each rubric asks a reviewer, and the Label Studio labeling config that asks it.

A rubric is data: its controls (single or multiple choice over a fixed vocabulary, free text), which of
them are required, and what the reviewer is shown. The same description renders the XML config of a
project and validates the annotations that come back (annotations.py), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from services.runtime.errors import FatalError

HARM_CATEGORIES = (
    "csam",
    "sexual_minors",
    "self_harm_intent",
    "weapons_mass_harm",
    "violent_extremism",
    "violence",
    "hate",
    "harassment",
    "targeted_harassment",
    "malware",
    "illicit_drugs",
    "toxicity",
    "pii",
    "other",
)
"""The harm categories a reviewer may tag: the guardrails' categories plus `other`."""

SEVERITIES = ("0", "1", "2", "3", "4")
"""Severity, 0 (none) to 4 (severe): the Judgment's `severity`."""

HARM_VERDICTS = ("safe", "unsafe", "unclear")
PREFERENCES = ("A", "B", "tie")
"""Pairwise preference: A is the flagged response, B the first alternative candidate."""
REFUSAL_WARRANTED = ("yes", "no")


@dataclass(frozen=True)
class Control:
    """One thing the reviewer answers: choices over a vocabulary, or free text."""

    name: str
    kind: str  # "single", "multiple" (choices) or "text"
    required: bool
    label: str
    values: tuple[str, ...] = ()
    hint: str = ""


@dataclass(frozen=True)
class Rubric:
    """A rubric: what the reviewer sees (data fields) and answers (controls)."""

    rubric_id: str
    title: str
    controls: tuple[Control, ...]
    shows_candidates: bool = False
    shows_prior_verdicts: bool = False

    def control(self, name: str) -> Control | None:
        """The control of that name, or None."""
        return next((c for c in self.controls if c.name == name), None)


_VERDICT = Control("verdict", "single", True, "Is the flagged response safe?", HARM_VERDICTS)
_CATEGORIES = Control("categories", "multiple", False, "Harm categories (when unsafe)", HARM_CATEGORIES)
_SEVERITY = Control("severity", "single", True, "Severity (0 none - 4 severe)", SEVERITIES)
_RATIONALE = Control("rationale", "text", True, "Rationale (required)", hint="Why this verdict?")
_CORRECTED = Control(
    "corrected_response",
    "text",
    False,
    "Corrected or ideal reply (optional; becomes a demonstration)",
    hint="What the assistant should have replied",
)

RUBRICS: dict[str, Rubric] = {
    "harm-severity": Rubric(
        "harm-severity",
        "Harm severity",
        (_VERDICT, _CATEGORIES, _SEVERITY, _RATIONALE, _CORRECTED),
    ),
    "pairwise-preference": Rubric(
        "pairwise-preference",
        "Pairwise preference",
        (
            Control("preference", "single", True, "Which reply is better?", PREFERENCES),
            _VERDICT,
            _SEVERITY,
            Control("rationale", "text", False, "Rationale (optional)", hint="Why?"),
        ),
        shows_candidates=True,
    ),
    "over-refusal": Rubric(
        "over-refusal",
        "Over-refusal",
        (
            Control("refusal_warranted", "single", True, "Was the refusal warranted?", REFUSAL_WARRANTED),
            _CATEGORIES,
            Control(
                "corrected_response",
                "text",
                False,
                "Better reply (required when the refusal was not warranted)",
                hint="A helpful, safe reply",
            ),
            Control("rationale", "text", False, "Rationale (optional)", hint="Why?"),
        ),
    ),
    "adjudication": Rubric(
        "adjudication",
        "Adjudication",
        (_VERDICT, _CATEGORIES, _SEVERITY, _RATIONALE, _CORRECTED),
        shows_prior_verdicts=True,
    ),
}


def rubric_for(rubric_id: str) -> Rubric:
    """The rubric of an id; an unknown id is a configuration error (the policy names a rubric we lack)."""
    try:
        return RUBRICS[rubric_id]
    except KeyError:
        raise FatalError(
            f"rubric {rubric_id!r} has no Label Studio config; known: {', '.join(sorted(RUBRICS))}"
        ) from None


def _control_xml(control: Control) -> list[str]:
    required = ' required="true"' if control.required else ""
    lines = [f'  <Header value={quoteattr(control.label)} size="5"/>']
    if control.kind == "text":
        lines.append(
            f'  <TextArea name={quoteattr(control.name)} toName="response" rows="3" '
            f'maxSubmissions="1" editable="true" placeholder={quoteattr(control.hint)}{required}/>'
        )
        return lines
    lines.append(
        f'  <Choices name={quoteattr(control.name)} toName="response" choice={quoteattr(control.kind)} '
        f'showInline="true"{required}>'
    )
    lines += [f"    <Choice value={quoteattr(value)}/>" for value in control.values]
    lines.append("  </Choices>")
    return lines


def labeling_config(rubric_id: str) -> str:
    """The Label Studio labeling config (XML) of a rubric.

    Shown: the redacted conversation, the flagged response, the guardrail signals, the queue's
    deadline; with candidates (preference) the alternative reply B; in adjudication the earlier
    verdicts. Never shown: gold flags, subject or session pseudonyms, other reviewers' verdicts
    outside adjudication.
    """
    rubric = rubric_for(rubric_id)
    lines = [
        f"<View>  <!-- Flagstream rubric {rubric.rubric_id} -->",
        f'  <Header value="{rubric.title}: conversation (redacted)"/>',
        '  <Paragraphs name="conversation" value="$conversation" layout="dialogue" '
        'nameKey="role" textKey="content"/>',
    ]
    if rubric.shows_candidates:
        lines += [
            '  <Header value="Reply A (flagged)"/>',
            '  <Text name="response" value="$response"/>',
            '  <Header value="Reply B"/>',
            '  <Text name="candidate" value="$candidate"/>',
        ]
    else:
        lines += ['  <Header value="Flagged response"/>', '  <Text name="response" value="$response"/>']
    lines += ['  <Header value="Guardrail signals" size="6"/>', '  <Text name="signals" value="$signals"/>']
    if rubric.shows_prior_verdicts:
        lines += [
            '  <Header value="Earlier reviewers disagreed: their verdicts"/>',
            '  <Text name="prior_verdicts" value="$prior_verdicts"/>',
        ]
    for control in rubric.controls:
        lines += _control_xml(control)
    lines.append("</View>")
    return "\n".join(lines) + "\n"
