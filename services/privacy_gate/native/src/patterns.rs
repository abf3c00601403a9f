//! The structured and street detectors' regexes and constants: their one definition.
//!
//! The patterns are written in the `regex` crate's syntax with the semantics of Python's `re` on
//! str, which the rules were first written in; the differences, and how each is bridged:
//!
//! - `\w`, `\s`, `[^\W\d_]`: Python's are `str.isalnum() or "_"`, `str.isspace()` and the letters
//!   and non-decimal numbers; here they are spelled out by category (`w!`, `s!`, `letter!`), which
//!   is what Python's are (tests/unit/privacy_gate/test_native.py checks it over every code point).
//!   `\d` is `\p{Nd}` in both. `\b` is the `regex` crate's, whose word characters also take in
//!   combining marks, joiners and connector punctuation and leave out numbers other than digits
//!   (`²`, `½`), so none is used: Python's `\b` is written with Python's word characters, as
//!   consumed context (`end_b`, `lead_b`) or, in the fancy-regex patterns, as look-around (`py_b`).
//! - `$` (end, or before a final line break) becomes `\n?\z` where it ends a pattern.
//! - Case-insensitive patterns go through `ignore_case`: Python's IGNORECASE also equates `i` and
//!   `I` with dotless `ı` and dotted `İ`, which Unicode simple case folding does not.
//! - A look-ahead that ends a pattern is written as consumed context after a group named `m`, the
//!   match proper (src/rx.rs reports `m`); a one-character look-behind that opens a pattern is
//!   consumed context too (`lead_b`, run with `Rx::linear_lead`), or checked by the caller where the
//!   pattern is tried at known starts. Such a pattern stays linear. Only IBAN and ASSIGNMENT
//!   (look-behinds), PRIVATE_KEY (a back-reference) and SAME_LINE_UNIT
//!   (a `\b` after a character that may or may not be a word character) need `fancy-regex`; they
//!   are tried only where a match can start.

/// Python's `\w`, inside a class.
macro_rules! w {
    () => {
        r"\p{L}\p{N}_"
    };
}
/// Python's `[^\W\d_]` (letters and non-decimal numbers), inside a class.
macro_rules! letter {
    () => {
        r"\p{L}\p{Nl}\p{No}"
    };
}
/// Python's `\s`, inside a class.
macro_rules! s {
    () => {
        r"\s\x1C-\x1F"
    };
}
/// What stands for Python's `\b` after a word character at the end of a pattern: a character that
/// is no Python word character, or the end (consumed: see `m` in the module comment).
macro_rules! end_b {
    () => {
        r"(?:(?-i:[^\p{L}\p{N}_])|\z)"
    };
}
/// What stands for Python's `\b` before a word character at the start of a pattern: the start, or a
/// character that is no Python word character (consumed; src/rx.rs `Rx::linear_lead` starts the
/// search one character early so it may be the character before the search's start).
macro_rules! lead_b {
    () => {
        r"(?:\A|(?-i:[^\p{L}\p{N}_]))"
    };
}
/// Python's `\b`, as look-around (for the patterns fancy-regex runs).
macro_rules! py_b {
    () => {
        r"(?:(?<=(?-i:[\p{L}\p{N}_]))(?!(?-i:[\p{L}\p{N}_]))|(?<!(?-i:[\p{L}\p{N}_]))(?=(?-i:[\p{L}\p{N}_])))"
    };
}

// ------------------------------------------------------------------------------------ phones

/// Phones: international ('+' or 00), North American, national with trunk 0, national in pairs.
/// Python's pattern, whose look-arounds are written here without look-around (so it runs on the
/// linear engine), each rewrite matching the same texts in the same order of preference:
///
/// `(?<![\w+./-])(?:(?:\+|00[ \u00a0]?(?=[1-9][0-9]{0,2}[ \u00a0.\-(]))[0-9](?:[ \u00a0.\-()]{0,2}[0-9]){6,14}`
/// `|(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ \u00a0]?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}`
/// `(?:[ ]?(?:x|ext\.?|extn\.?)[ ]?[0-9]{1,5})?`
/// `|0[0-9]{1,4}[ \u00a0.\-][0-9]{3,4}[ \u00a0.\-]?[0-9]{3,4}|0[1-9](?:[ .\-][0-9]{2}){4})(?![\w]|[./-][0-9])`
///
/// - the look-behind (not inside a longer token) is checked where the pattern is tried;
/// - after 00, the look-ahead wants the country code set off: one to three digits, then one of
///   `[ \u00a0.\-(]`. The three cases (one, two or three digits) cannot hold at once, so each is
///   written out with the repeats it leaves: after one digit the first repeat starts with that
///   separator, after two the second does, after three the third;
/// - the look-ahead at the end is consumed context after the group `m`.
pub const PHONE: &str = concat!(
    r"(?P<m>",
    r"\+[0-9](?:[ \u{A0}.\-()]{0,2}[0-9]){6,14}",
    r"|00[ \u{A0}]?(?:",
    r"[1-9][ \u{A0}.\-(][ \u{A0}.\-()]?[0-9](?:[ \u{A0}.\-()]{0,2}[0-9]){5,13}",
    r"|[1-9][0-9][ \u{A0}.\-(][ \u{A0}.\-()]?[0-9](?:[ \u{A0}.\-()]{0,2}[0-9]){4,12}",
    r"|[1-9][0-9]{2}[ \u{A0}.\-(][ \u{A0}.\-()]?[0-9](?:[ \u{A0}.\-()]{0,2}[0-9]){3,11})",
    r"|(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ \u{A0}]?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}",
    r"(?:[ ]?(?:x|ext\.?|extn\.?)[ ]?[0-9]{1,5})?",
    r"|0[0-9]{1,4}[ \u{A0}.\-][0-9]{3,4}[ \u{A0}.\-]?[0-9]{3,4}",
    r"|0[1-9](?:[ .\-][0-9]{2}){4}",
    r")(?:\z|[^", w!(), r"./-]|[./-](?:\z|[^0-9]))",
);

/// A phone word right after digit groups: they are a phone number.
pub const PHONE_AFTER: &str = concat!(
    r"(?i)[ ]?[-(]?[ ]?(?:office|fax|mobile|cell|home|work|tel|phone|landline|desk|direct|main)",
    end_b!(),
);

/// A unit, a currency or a street right after digit groups: an amount, a measure or a house number.
pub const NOT_PHONE_AFTER: &str = concat!(
    r"(?i)[ ]?(?:[%€$£¥]|(?:units?|people|persons|users|items|times|years|km|mi|kg|lbs?|m|mm|cm|g|mb|gb",
    r"|kb|tb|bytes|eur|usd|gbp|chf|dollars|euros|pounds|votes|views|downloads|rows|records|copies|tons",
    r"|miles|meters|metres|steps|points|pts)", end_b!(),
    r"|[ ]+(?:(?-i:[A-Z0-9\u{C0}-\u{DE}\u{370}-\u{3FF}\u{400}-\u{42F}])|(?:rue|via|ul|calle|rua|avenida|str",
    r"|chemin|avenue|boulevard|impasse|allée|place|route|quai|viale|piazza|corso|camino|paseo|travessa)",
    end_b!(),
    "))",
);

pub const EMAIL_LOCAL_PUNCTUATION: &str = "%+-._";
pub const CARD_MIN_DIGITS: usize = 13;
pub const CARD_MAX_DIGITS: usize = 19;
/// Digit -> digit sum of twice the digit (Luhn).
pub const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
/// Card-network first digits: Mastercard 2/5, Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6.
pub const CARD_FIRST_DIGITS: &str = "23456";
/// Words that say the number after them is a phone number (prefixes: "calling", "telephone").
pub const STRONG_PHONE_PREFIXES: &[&str] = &[
    "phone", "call", "tel", "mobile", "cell", "whatsapp", "dial", "landline", "hotline", "voicemail", "answering",
    "smartphone", "iphone",
];
pub const STRONG_PHONE_WORDS: &[&str] = &["desk", "fax", "message to", "messages to", "mob", "ph", "ring me", "sms", "text me"];
/// Whole words that vouch only for grouped digits: an order or tracking number after "number" is
/// more common than an unformatted phone.
pub const WEAK_PHONE_WORDS: &[&str] = &[
    "contact", "contacted", "contactes", "contacting", "contacts", "number", "numbered", "numberes", "numbering",
    "numbers", "reach", "reached", "reaches", "reaching", "reachs", "ring", "ringed", "ringes", "ringing", "rings",
    "text", "texted", "textes", "texting", "texts",
];
/// Words after which unannounced digit groups are ids, amounts or measures.
pub const NOT_PHONE_WORDS: &[&str] = &[
    "account", "acct", "amount", "apartment", "apt", "badge", "balance", "box", "budget", "build", "card", "case",
    "chapter", "chf", "code", "cost", "ending", "eur", "floor", "gbp", "id", "inv", "invoice", "isbn", "issn", "item",
    "model", "offset", "order", "otp", "page", "pages", "part", "pin", "policy", "population", "postal", "postcode",
    "price", "receipt", "ref", "reference", "revenue", "room", "salary", "serial", "sku", "ste", "suite", "sum",
    "ticket", "total", "tracking", "transaction", "txn", "unit", "usd", "ver", "version", "vol", "volume", "zip",
];

// -------------------------------------------------------------------- SSN, IBAN, IP, Maestro

/// An SSN word shortly before the digits (searched in the 40 characters before them). Python's
/// `\b(?:ssn|ss#|social security(?: number| no\.?)?|social sec)\b[^0-9\n]{0,20}$`: the `\b` after a
/// word wants a character that is no word character after it (or none), after "ss#" and "no." one
/// that is (only whether it matches is asked).
pub const SSN_CONTEXT: &str = concat!(
    "(?i)", lead_b!(),
    r"(?:(?:ssn|social security(?: number| no)?|social sec)(?:(?-i:[^\p{L}\p{N}_\n])[^0-9\n]{0,19})?",
    r"|(?:ss#|social security no\.)(?-i:[\p{L}\p{N}_--0-9])[^0-9\n]{0,19})\n?\z",
);
/// Numbers the SSA voided after they were published (wallet cards, advertisements).
pub const SSN_VOID: &[&str] = &["078051120", "219099999", "457555462"];

/// Compact, or in groups of four separated by single spaces (the printed form).
pub const IBAN: &str = concat!(
    r"(?<![", w!(), r"])[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?![", w!(), r"])",
);
/// ISO 13616 registry: country code -> total IBAN length.
pub const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16), ("BG", 22), ("BH", 22),
    ("BI", 27), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22), ("CY", 28), ("CZ", 24), ("DE", 22), ("DJ", 27),
    ("DK", 18), ("DO", 28), ("EE", 20), ("EG", 29), ("ES", 24), ("FI", 18), ("FK", 18), ("FO", 18), ("FR", 27),
    ("GB", 22), ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HR", 21), ("HU", 28), ("IE", 22),
    ("IL", 23), ("IQ", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30), ("KZ", 20), ("LB", 28), ("LC", 32),
    ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21), ("LY", 25), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19),
    ("MN", 20), ("MR", 27), ("MT", 31), ("MU", 30), ("NI", 28), ("NL", 18), ("NO", 15), ("OM", 23), ("PK", 24),
    ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("RU", 33), ("SA", 24), ("SC", 31),
    ("SD", 18), ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27), ("SO", 23), ("ST", 25), ("SV", 28), ("TL", 23),
    ("TN", 24), ("TR", 26), ("UA", 29), ("VA", 22), ("VG", 24), ("XK", 20), ("YE", 30),
];

pub const IPV6_CANDIDATES: &str = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*";
/// A version word right before a dotted quad: "version 1.2.3.4" is no address.
pub const VERSION_CONTEXT: &str =
    concat!("(?i)", lead_b!(), r"(?:version|ver\.?|v|release|build|firmware|oid)[", s!(), r"]*\z");

/// A card word shortly before 12 digits (searched in the 40 characters before them).
pub const CARD_CONTEXT: &str = concat!(
    "(?i)", lead_b!(),
    r"(?:card|cc|maestro|debit|credit|visa|mastercard)(?:(?-i:[^\p{L}\p{N}_\n])[^0-9\n]{0,24})?\n?\z",
);
/// Maestro's first digits are 50 and 56-69; 0604 too in the IIN table Faker copied for its Maestro
/// numbers. Safe to accept: a card word must precede.
pub const MAESTRO_0604: &str = "0604";
/// Every card word above in its usual casings ("MasterCard" holds "Card").
pub const CARD_HINTS: &[&str] = &[
    "card", "Card", "CARD", "cc", "Cc", "CC", "maestro", "Maestro", "MAESTRO", "debit", "Debit", "DEBIT", "credit",
    "Credit", "CREDIT", "visa", "Visa", "VISA",
];

// ------------------------------------------------------------------------------- credentials

/// Issuer-prefixed tokens, each anchored on a literal prefix the issuer documents; tried where a
/// prefix starts, after a character that is no word character and no '-' (checked by the caller).
pub const TOKENS: &str = concat!(
    r"(?P<m>",
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[0-9A-Z]{16}", // AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,255}",                          // GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}",                        // GitHub fine-grained tokens
    r"|glpat-[A-Za-z0-9_\-]{20,}",                              // GitLab personal access tokens
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}",                         // Slack tokens
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",            // Stripe keys
    r"|sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}",                  // OpenAI / Anthropic style secret keys
    r"|AIza[0-9A-Za-z_\-]{35}",                                 // Google API keys
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",           // SendGrid
    r"|npm_[A-Za-z0-9]{36}",                                    // npm tokens
    r"|hf_[A-Za-z0-9]{30,}",                                    // Hugging Face tokens
    r")(?:[^", w!(), r"-]|\z)",
);
/// Literal prefixes of the tokens: the token pattern runs only where one starts.
pub const TOKEN_PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AIza", "SG.", "xox", "ghp_", "gho_", "ghu_", "ghs_",
    "ghr_", "github_pat_", "sk_", "rk_", "pk_", "npm_", "hf_", "glpat-", "sk-",
];
/// A JWT: three base64url parts, the first two JSON objects ("eyJ"); tried where "eyJ" starts,
/// after a character that is no word character and no '-' (checked by the caller).
pub const JWT: &str = concat!(
    r"(?P<m>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})(?:[^", w!(), r"-]|\z)",
);
/// Up to the matching END line, or to the end of the text when a paste cut the block short.
pub const PRIVATE_KEY: &str = concat!(
    r"(?s)-----BEGIN ((?:[A-Z0-9]+ ){0,2})PRIVATE KEY(?: BLOCK)?-----",
    r".*?(?:-----END \1PRIVATE KEY(?: BLOCK)?-----|\z)",
);
/// Something that names a secret, then '=' / ':' / 'is', then the value (quoted or one token).
/// Groups: 1 the double-quoted value, 2 the single-quoted one, 3 a bare one.
pub const ASSIGNMENT: &str = concat!(
    // Python's IGNORECASE [A-Za-z] also holds 'ı' and 'İ' (see the module comment).
    r"(?i)(?<![A-Za-z\u{131}\u{130}])(?:",
    r"pass(?:word|wd|phrase)?|pwd|secret(?:[_ -]?key)?|client[_ -]?secret|api[_ -]?key|apikey",
    r"|access[_ -]?(?:key|token)|auth[_ -]?token|token|private[_ -]?key|credentials?|pin(?:[_ -]?code)?",
    r#")["']?["#, s!(), r#"]*(?:[:=]|=>|"#, py_b!(), "is", py_b!(), "|", py_b!(), "was", py_b!(), r#")["#, s!(), r#"]*"#,
    r#"(?:"(?P<dq>[^"\n]{3,200})"|'(?P<sq>[^'\n]{3,200})'|(?P<bare>[^"#, s!(), r#""',;]{3,200}))"#,
);
pub const ASSIGNMENT_G_DQ: usize = 1;
pub const ASSIGNMENT_G_SQ: usize = 2;
pub const ASSIGNMENT_G_BARE: usize = 3;
/// Substrings of every secret name above: the assignment pattern runs only where one occurs.
pub const SECRET_HINTS: &[&str] = &["pass", "pwd", "secret", "api", "key", "token", "credential", "pin"];
/// Values that name no secret: placeholders and words people put after "password is".
pub const NOT_SECRETS: &[&str] = &[
    "a", "an", "changeme", "correct", "different", "empty", "expired", "false", "hidden", "incorrect", "invalid",
    "missing", "my", "nil", "none", "not", "null", "optional", "redacted", "required", "same", "strong", "the",
    "their", "true", "unknown", "weak", "wrong", "your",
];
/// Group 1: the token.
pub const BEARER: &str = concat!(
    // Python's IGNORECASE [A-Za-z] also holds 'ı' and 'İ' (see the module comment).
    "(?i)", lead_b!(), r"(?:bearer|token)[", s!(), r"]+(?P<value>[A-Za-z0-9_\-.~+/\u{131}\u{130}]{20,}=*)",
);
pub const BEARER_G_VALUE: usize = 1;
/// `scheme://user:password@host`; group 1: the password.
pub const URL_PASSWORD: &str = concat!(
    r"[a-z][a-z0-9+.\-]*://[^", s!(), r":/@]+:(?P<value>[^", s!(), r"@/]{3,})@[^", s!(), r"/]+",
);
pub const URL_PASSWORD_G_VALUE: usize = 1;

// ------------------------------------------------------------------------- street addresses

/// A word of a place name.
macro_rules! place_word {
    () => {
        concat!("[", letter!(), "][", w!(), r"'\u{2019}\-.]*")
    };
}
macro_rules! unit {
    () => {
        r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Floor|Fl\.?|Room|Rm\.?|#)[ ]*[A-Za-z0-9\-]{1,6}"
    };
}
macro_rules! postcode {
    () => {
        r"(?:[0-9]{4,6}(?:-[0-9]{4})?|[A-Z]{1,2}[0-9][A-Z0-9]?[ ][0-9][A-Z]{2})"
    };
}

/// One more line or comma-separated part of an address block: a unit, "City, ST 12345",
/// "Country 12345", a UK postcode; parts are separated by a line break, a comma or two spaces.
pub const BLOCK_PART: &str = concat!(
    r"(?P<m>(?:,?[ ]*\n[ ]*(?:[^", w!(), s!(), r"]{1,3}[ ]*)?|,[ ]*|[ ]{2,})",
    "(?:", unit!(), "|", place_word!(), "(?:[ ]", place_word!(), "){0,3}(?:,?[ ]+[A-Z]{2})?(?:,?[ ]+", postcode!(), ")?",
    "|", postcode!(), "))",
    r"[ ]*(?:\z|\n|[.,;?!)]|[ ]{2})",
);
/// (fancy-regex: the unit may end in '-', where Python's `\b` wants a word character next.)
pub const SAME_LINE_UNIT: &str = concat!(r",?[ ]+", unit!(), py_b!());
pub const CITY_STATE_ZIP: &str = concat!(
    r"(?P<m>[ ]+", place_word!(), "(?:[ ]", place_word!(), r"){0,2},?[ ]+(?:[A-Z]{2}[ ]+)?[0-9]{5}(?:-[0-9]{4})?)",
    end_b!(),
);
pub const SECONDARY: &str = concat!(r"(?P<m>(?:Apt\.|Apartment|Suite|Ste\.)[ ]?[0-9]{1,5}[A-Za-z]?)", end_b!());
pub const PO_BOX: &str =
    concat!(r"(?P<m>P\.?[", s!(), r"]?O\.?[", s!(), r"]?Box[", s!(), r"]+[0-9]{1,6})", end_b!());
/// US military mail: "Unit 8670 Box 8540 DPO AA 07519", "PSC 0943, Box 9335 APO AE 71952".
pub const MILITARY_BOX: &str = concat!(
    r"(?P<m>(?:Unit|PSC|CMR)[ ][0-9]{3,5},?[ ]Box[ ][0-9]{3,5}[", s!(), r"]+[ADF]PO[ ]A[AEP][ ][0-9]{5})",
    end_b!(),
);
/// By ship: "USS Nimitz FPO AP 96620".
pub const MILITARY_SHIP: &str = concat!(
    r"(?P<m>(?:USNS|USNV|USS|USCGC)[ ][", letter!(), "][", w!(), r"\-]*[", s!(), r"]+[ADF]PO[ ]A[AEP][ ][0-9]{5})",
    end_b!(),
);
/// Words after which a street name follows even without a house number before it. (Python's
/// pattern opens each word with `\b`: street.rs tries it only where no word character precedes.)
pub const STREET_CUE: &str = concat!(
    r"(?i:(?:lives?|lived|living|located|situated|based)[ ]+(?:at|on|in)(?:[ ]+the[ ]+(?-i:[", w!(), r"])+[ ]+side[ ]+of)?",
    r"|corner[ ]+of|side[ ]+of|address(?:[ ]+is|:))[ ]+",
);

// ------------------------------------------------------------------------------- context rules
// The patterns of src/context.rs (the rules context.py's docstring describes). The simpler shapes
// there (the words after a cue, a field's value, a mention, a slash phone, an environment value,
// placeholders) are hand-coded; these are the ones with alternatives or backtracking.

/// A word of a name or a street: a letter, then word characters, apostrophes and hyphens.
macro_rules! word {
    () => {
        concat!("[", letter!(), "][", w!(), r"'\u{2019}\-]*")
    };
}

/// A closing ("Best regards,") and, on the next line, the one to four words that sign it.
pub const CTX_CLOSING: &str = concat!(
    r"(?im)^[ ]*(?:best regards|kind regards|warm regards|regards|best|thanks|thank you|many thanks|cheers",
    r"|sincerely|yours|mit freundlichen grüßen|viele grüße|beste grüße|cordialement|bien à vous|saludos",
    r"|atentamente|pozdrawiam|groetjes|met vriendelijke groet|distinti saluti)[ ]*[,!.]?[ ]*\r?\n[ ]*",
    "(", word!(), "(?:[ ]", word!(), r"){0,3})[ ]*$",
);
/// A line that is only a dash and one or two words ("— drew").
pub const CTX_DASH_SIGNATURE: &str =
    concat!(r"(?m)^[ ]*(?:\u{2014}|\u{2013}|--)[ ]?(", word!(), "(?:[ ]", word!(), r")?)[ ]*$");
/// A label that makes a `name` field a person's ("customer_name", "Full Name"), ending where the
/// field word starts. Python's `[^a-z]` under IGNORECASE also leaves out ı and İ.
pub const CTX_STRONG_NAME_LABEL: &str = concat!(
    r"(?i)(?:\A|[^a-z\u{131}\u{130}])(?:customer|client|account|contact|patient|employee|card|full|first|last",
    r"|given|family|sur|sender|recipient|holder|owner|passenger|guest|applicant)[_ \-]?\n?\z",
);
/// House number, postcode and town, read from the house number.
pub const CTX_NUMBER_POSTCODE_TOWN: &str = concat!(
    r"[0-9]{1,4}[a-zA-Z]?(?:/[0-9]{1,3})?,?[ ]+",
    r"(?:[0-9]{5}|[0-9]{2}-[0-9]{3}|[0-9]{4}-[0-9]{3}|[0-9]{4}[ ]?[A-Z]{2}|[0-9]{3}[ ][0-9]{2}|[0-9]{4})[ ]+",
    word!(), "(?:[ ](?:im|am|an der|sur|upon|de)[ ]", word!(), ")?",
);
/// The street words before a house number (group 1), up to the search's end. Opens with one
/// consumed character of look-behind context (run with `Rx::linear_lead`).
pub const CTX_STREET_BEFORE: &str = concat!(
    r"(?:\A|[^", w!(), r".])((?:ul\.[ ])?", word!(), "(?:[ ]", word!(), r"){0,3}\.?)[ ]+\n?\z",
);
/// German street forms: a compound ending in a street word, or a prefix and a word, then the
/// house number. The look-behind (no word character before) is checked by the caller.
pub const CTX_GERMAN_STREET: &str = concat!(
    r"(?i)(?P<m>(?:[", letter!(), "][", w!(), r"\-]{2,}(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer",
    r"|chaussee|steig|pfad|markt)|(?:am|an der|auf dem|im|in der|zum|zur)[ ][", letter!(), "][", w!(), r"\-]+)",
    r"[ ]+[0-9]{1,3}[a-z\u{131}\u{130}]?)", end_b!(),
);
/// "12 rue des Lilas, 75011 Paris" (fancy-regex: the look-behind and the words that end a street
/// name, "et", "à", "and", are look-arounds).
pub const CTX_FRENCH_STREET: &str = concat!(
    r"(?i)(?<![", w!(), r".])[0-9]{1,4}(?:[ ]?(?:bis|ter))?,?[ ]+",
    r"(?:rue|avenue|av\.|boulevard|bd|impasse|chemin|allée|allee|place|quai|route|cours|passage|square)",
    r"[ ]+(?:(?:de la|de l'|du|des|de|d')[ ]?)?",
    word!(), "(?:[ ](?!(?:et|à|and)", py_b!(), ")", word!(), "){0,2}",
    r"(?:,?[ ]+[0-9]{5}[ ]+", word!(), "|,[ ]+", word!(), ")?",
);
/// "Calle Mayor 12", "ul. Grochowa 13". The look-behind is checked by the caller.
pub const CTX_CONTINENTAL_STREET: &str = concat!(
    r"(?i)(?P<m>(?:calle|via|viale|rua|avenida|ul\.|ulica|piazza|plaza|travessa)[ ]+",
    word!(), "(?:[ ]", word!(), r"){0,2}[ ]+[0-9]{1,4}[a-z\u{131}\u{130}]?)", end_b!(),
);
/// "221 baker street" in lower case (fancy-regex: the look-behind, and `\b` before an optional part).
pub const CTX_LOWER_STREET: &str = concat!(
    r"(?<![", w!(), r".,])[0-9]{1,5}[a-z]?[ ]+(?:[a-z][a-z'\-]+[ ]+){1,2}",
    r"(?:street|st|avenue|ave|road|rd|lane|boulevard|blvd|terrace|crescent)", py_b!(),
    r"(?:\.?,?[ ]+(?:apt|suite|unit|flat)\.?[ ]*[", w!(), "]+)?",
);
/// `Authorization: Basic <base64>` (group 1). Opens with the consumed character of `\b`.
pub const CTX_BASIC_AUTH: &str = concat!(
    r"(?i)", lead_b!(), r"authorization[\x22']?[ ]*[:=][ ]*[\x22']?basic[ ]+([A-Za-z0-9+/\u{131}\u{130}]{6,}={0,2})",
);
/// `curl -u user:password` (group 1). Opens with a consumed character that is no word character
/// and no '-' (or the start).
pub const CTX_CURL_USER: &str = concat!(
    r"(?:\A|[^", w!(), r"\-])(?:-u|--user)[ =]+[\x22']?[^", s!(), r":\x22']+:([^", s!(), r"\x22']{3,})",
);
/// A URL with an empty user and a password (group 1): `redis://:secret@host`.
pub const CTX_URL_EMPTY_USER: &str = concat!(r"[a-z][a-z0-9+.\-]*://:([^", s!(), r"@/]{3,})@");
/// AWS `"SecretAccessKey": "..."` (group 1).
pub const CTX_AWS_SECRET: &str = r#""SecretAccessKey"[ ]*:[ ]*"([A-Za-z0-9/+=]{40})""#;

/// A case-insensitive pattern with each literal `i` (outside classes, escapes and flag groups) made
/// `[iı\u{130}]`: Python's IGNORECASE equates i with dotless ı (U+0131) and dotted İ (U+0130), which
/// Unicode simple case folding, the `regex` crate's, does not.
pub fn ignore_case(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut chars = p.chars().peekable();
    let mut class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(e) = chars.next() {
                    out.push(e);
                    if matches!(e, 'u' | 'x' | 'p' | 'P') && chars.peek() == Some(&'{') {
                        for b in chars.by_ref() {
                            out.push(b);
                            if b == '}' {
                                break;
                            }
                        }
                    }
                }
            }
            '[' if !class => {
                class = true;
                out.push(c);
            }
            ']' if class => {
                class = false;
                out.push(c);
            }
            '(' if !class && chars.peek() == Some(&'?') => {
                // A group's flags or kind, up to ':' or ')' (or the name of a named group).
                out.push(c);
                for b in chars.by_ref() {
                    out.push(b);
                    if b == ':' || b == ')' || b == '>' {
                        break;
                    }
                }
            }
            'i' | 'I' if !class => out.push_str(r"[iI\u{131}\u{130}]"),
            _ => out.push(c),
        }
    }
    out
}
