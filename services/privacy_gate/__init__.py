"""Privacy gate: consent, redaction and pseudonyms, so no raw personal data passes ingress."""
