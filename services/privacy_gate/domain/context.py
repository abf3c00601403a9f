"""Context rules: personal data that only the words around it give away, and look-alikes it clears.

The native detectors find names by their capital letters and lexicons, addresses by their US or
continental street forms, secrets by their names. Text people paste breaks those shapes: names typed
in lower case in chat or in capitals in forms, a name in a CSV column, German and French addresses
with their postcode and town, a phone written ``089/73984500``, a password in ``PGPASSWORD=`` or after
``curl -u``. What marks them is the context, and these rules read it:

PERSON (any case), only in a slot that names a person:
  - after a verb of addressing or a greeting: ``remind``, ``ask``, ``tell``, ``ping``, ``cc``,
    ``thank(s)``, ``invite``, ``message``, ``hi``, ``hey``, ``hello``, ``dear`` ... ("remind hunter
    bishop about the sync"): the first word must be a known given name or surname (the lexicons the
    PERSON detector uses), the next word joins it when it is a known name too or a word that is not
    an everyday English word of the list below;
  - a mention ``@ana.silva`` whose parts hold a known name, not a decorator (``@property`` ends its
    line or opens a call);
  - a signature: the line after a closing ("Best regards,", "Cheers,", "Mit freundlichen Grüßen,")
    or a line that is only a dash and one or two words ("— drew");
  - a field that holds a person's name: ``customer_name=``, ``"full_name":``, ``ACCOUNT HOLDER:``,
    ``Beneficiary:``, ``Cardholder:`` ... take one to four words in any case; a bare ``name`` field
    (``"name": "..."``, which also names jobs and packages) needs a known name among them;
  - the cells of a CSV column whose header names a person (``name``, ``full_name``, ``customer``...).
LOCATION: a street and house number followed by a postcode and a town (``Lindenallee 65a, 69163
  Heidelberg``, ``Calle Mayor 12, 28013 Madrid``, ``ul. Grochowa 13, 02-345 Warszawa``), German
  street compounds and French ``12 rue des Lilas`` forms, and house number + street + suffix in lower
  case (``221 baker street``).
PHONE_NUMBER: German area code and number split by a slash (``089/73984500``).
CREDENTIAL: ``Authorization: Basic <base64>``, ``curl -u user:password``, URLs with an empty user
  (``redis://:secret@host``), environment lines whose name ends in a secret word (``PGPASSWORD=``,
  ``export DB_PASS=``), AWS ``"SecretAccessKey": "..."``.

Look-alikes cleared (``clear_lookalikes``, after every detector ran): a CREDENTIAL that is a
placeholder or a code reference (``${POSTGRES_PASSWORD}``, ``os.getenv(``, ``getpass.getpass(``,
``$(cat ...)``, ``{{ secrets.X }}``), a PERSON that is a place people fly to (São Paulo), and a PERSON
that names a law of nature ("Planck's constant", "Maxwell's equations").

What these rules cannot do: a lower-case name with no cue around it ("saw oluwaseun yesterday"), or a
name that is in neither lexicon after a verb of addressing, stays unredacted; closing that needs a
model (NER), which this machine cannot install. docs/privacy.md gives the measured recall per class.

The rules run in the native crate (services/privacy_gate/native/src/context.rs, its patterns in
src/patterns.rs): one pass finds every word a rule starts from, and only the rules whose words occur
are read.
"""

from __future__ import annotations

from collections.abc import Iterator

import flagstream_pii

from services.privacy_gate.domain.detectors import EntityType, Found, Span, to_spans


class ContextDetector:
    """Personal data found by its context: see the module docstring for every rule."""

    __slots__ = ("_native",)

    def __init__(self, given: frozenset[str] | None = None, known: frozenset[str] | None = None) -> None:
        from services.privacy_gate.domain.people import _AMBIGUOUS, given_names, surnames

        self._native = flagstream_pii.ContextDetector(
            given_names() if given is None else given,
            surnames() if known is None else known,
            _AMBIGUOUS,
        )

    @property
    def native(self) -> object:
        """The crate's detector behind this one (the analyzer runs it through flagstream_pii.Chain)."""
        return self._native

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """PERSON, LOCATION, PHONE_NUMBER and CREDENTIAL."""
        return frozenset(
            (EntityType.PERSON, EntityType.LOCATION, EntityType.PHONE_NUMBER, EntityType.CREDENTIAL)
        )

    def detect(self, text: str) -> Iterator[Span]:
        """Spans found by the context rules."""
        return iter(to_spans(self._native.find(text)))

    def find(self, text: str) -> list[Found]:
        """Spans found by the context rules, as tuples."""
        return self._native.find(text)

    def __repr__(self) -> str:
        return "ContextDetector()"


def clear_lookalikes(text: str, spans: list[Found]) -> list[Found]:
    """``spans`` without the look-alikes the context shows: placeholder secrets, places, eponyms.

    Each PERSON and CREDENTIAL span is checked where it is, with no pass over the text: a place is
    the whole span, an eponym's noun follows it after a space (or "'s ").
    """
    return flagstream_pii.clear_lookalikes(text, spans)
