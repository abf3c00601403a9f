//! Context rules: personal data that only the words around it give away, and the look-alikes it
//! clears. context.py's docstring describes each rule; this is their one implementation, with
//! Python's str semantics (indices are code points). The word lists are here; the patterns with
//! alternatives or backtracking are in src/patterns.rs (`CTX_*`), the simpler shapes are hand-coded
//! below, each with the pattern it stands for.
//!
//! Every rule starts from a word: one Aho-Corasick pass over the text (ASCII case-blind,
//! leftmost-longest) finds them all, and only the rules whose words occur are read.
use crate::bytes::CodePoints;
use crate::lex::Set;
use crate::person::at;
use crate::patterns as pat;
use crate::py::{self, is_word};
use crate::rx::{Rx, Txt};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Rule {
    Cue,
    Field,
    Closing,
    Dash,
    Speaker,
    Mention,
    Slash,
    Basic,
    Curl,
    Url,
    Aws,
    Postcode,
    // The street reads, in the order they are read.
    Suffix,
    Prefix,
    Number,
    Number2,
    Continental,
    Lower,
    Env,
}
const RULES: usize = Rule::Env as usize + 1;
const STREET_READS: [Rule; 6] = [Rule::Suffix, Rule::Prefix, Rule::Number, Rule::Number2, Rule::Continental, Rule::Lower];

/// Everyday English words that never continue a name after a cue ("ask ana to", "hi there").
const STOP_WORDS: &str = "a about after again all also am an and any are as at back be because been before but by \
    can could did do does done down each else every everyone everybody for from get go going good had has have he her \
    here him his how i if in into is it its just know later let like me more most my need no not now of off on once \
    only or our out over please re see she should so some soon team that the their them then there these they this \
    those through to today tomorrow too up us very was we were what when where which while who why will with would \
    yes yet you your yours guys folks all everyone thanks thank team asap again tonight morning afternoon evening \
    meeting call sync";
/// Before a lower-case name: verbs of addressing, greetings, and nouns for a person in a record.
const CUES: &[&str] = &[
    "remind", "ask", "tell", "ping", "cc", "bcc", "thank", "thanks", "thank you", "thx", "invite", "message", "loop in",
    "hi", "hey", "hello", "dear", "talked to", "spoke to", "spoke with", "meet with", "met with", "call", "email",
    "text", "dm", "customer", "client", "patient", "tenant", "applicant", "employee", "colleague", "user",
];
const GREETINGS: &[&str] = &["thank you", "thanks", "thank", "thx", "hi", "hey", "hello", "dear"];
/// Who speaks in a timestamped chat line but is no person.
const ROLES: &str = "assistant user system bot me you agent support moderator admin ai model human";
const CLOSING_HINTS: &[&str] = &[
    "regards", "thanks", "thank you", "cheers", "sincerely", "yours", "best", "grüß", "grüße", "cordialement",
    "bien à vous", "saludos", "atentamente", "pozdrawiam", "groet", "saluti",
];
/// Fields whose value is a person's name: found from these words, then the label before them decides.
const FIELD_WORDS: &[&str] = &["name", "holder", "beneficiary", "recipient", "patient", "passenger", "applicant", "guarantor"];
/// Records whose "name" field is a person's: {"customer": {"name": ...}}.
const PERSON_OBJECTS: &[&str] = &[
    "customer", "client", "user", "contact", "patient", "employee", "author", "owner", "sender", "recipient",
    "passenger", "guest", "member", "person", "holder", "applicant", "student",
];
const CSV_NAME_COLUMNS: &str = "name full_name fullname customer customer_name client contact contact_name \
    first_name last_name account_holder holder cardholder employee patient recipient sender owner";
/// Words that make lower-case street words before a house number a street.
const STREET_KEYWORDS: &[&str] = &[
    "str", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer", "rue", "avenue", "boulevard", "impasse", "chemin",
    "allée", "place", "quai", "calle", "via ", "rua ", "ul.", "street", "road", " st", " ave", "lane", "gracht",
    "gatan", "vej", "katu",
];
const STREET_PARTICLES: &str = "ul. de la del der den van von des du am an im auf dem zum zur di da";
/// The words each street form is read from: "suffix" from the start of the word the suffix ends
/// (Lindenallee 65), "prefix" at the word (Am Mühlbach 5), "number" and "number2" in a window from
/// a little before the word (12 rue des Lilas), "lower" the same for lower-case words only (221 baker
/// street).
const SUFFIX_WORDS: &[&str] = &[
    "straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer", "chaussee", "steig", "pfad",
    "markt",
];
const PREFIX_WORDS: &[&str] = &["Am ", "An der ", "Auf dem ", "Im ", "In der ", "Zum ", "Zur "];
const NUMBER_WORDS: &[&str] = &["rue", "avenue", "av.", "boulevard", "bd ", "impasse", "chemin", "allée", "allee", "place", "quai"];
const NUMBER2_WORDS: &[&str] = &["route", "cours", "passage", "square"];
const CONTINENTAL_WORDS: &[&str] =
    &["calle", "via ", "viale", "rua ", "avenida", "ul.", "ulica", "piazza", "plaza", "travessa"];
const LOWER_WORDS: &[&str] = &["street", "avenue", "road", "lane", "boulevard", "blvd", "terrace", "crescent"];
/// Environment lines: found from the secret word and '=', then the name is read back to its start.
const ENV_SECRET_WORDS: &[&str] = &["PASSWORD=", "PASSWD=", "PASS=", "PWD=", "SECRET=", "TOKEN=", "_KEY="];
/// Places people fly to whose names look like a person's.
const PLACES: &[&str] = &[
    "São Paulo", "Sao Paulo", "San Jose", "San Diego", "San Francisco", "Santa Clara", "Santa Monica", "Santa Cruz",
    "Santiago", "Los Angeles", "Las Vegas", "St Louis", "St. Louis", "Saint Paul", "Berlin", "Lisbon", "Warsaw",
    "Kraków", "Lagos", "Nairobi", "Hanoi", "Istanbul", "Reykjavík", "Montréal", "Zürich", "Osaka", "Bengaluru",
    "Toronto", "Vienna", "Rio de Janeiro", "Buenos Aires",
];
/// The nouns of an eponym ("Maxwell's equations", "Planck constant"); those marked `s` may take a
/// plural 's'.
const EPONYM_NOUNS: &[(&str, bool)] = &[
    ("constant", false), ("equation", true), ("law", true), ("theorem", false), ("principle", false),
    ("uncertainty", false), ("exclusion", false), ("model", false), ("effect", false), ("diagram", true),
    ("estimate", true), ("distribution", false), ("number", false), ("limit", false), ("paradox", false),
    ("radiation", false), ("statistics", false), ("transform", false), ("series", false), ("condensate", false),
    ("cycle", false), ("engine", false), ("scale", false), ("sphere", false), ("function", false), ("operator", false),
    ("notation", false), ("entropy", false), ("force", false), ("field", false), ("ratio", false), ("theory", false),
    ("relativity", false),
];

pub type Found = (&'static str, usize, usize, f64);
const PERSON: &str = "PERSON";
const LOCATION: &str = "LOCATION";
const PHONE: &str = "PHONE_NUMBER";
const CREDENTIAL: &str = "CREDENTIAL";

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}
fn word_set<'a>(words: impl IntoIterator<Item = &'a str>) -> Set {
    words.into_iter().map(chars).collect()
}


/// `text.rfind("\n", 0, i) + 1`: the start of the line holding position `i`.
fn line_start(t: &[char], i: usize) -> usize {
    (py::rfind_char(t, '\n', 0, i) + 1) as usize
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[char], needle: &[char]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// The end of `[^\W\d_][\w'\u2019\-]*` matched at `i` (a word of a name or a street), if it starts there.
#[inline]
fn word_end(t: &[char], i: usize) -> Option<usize> {
    if i >= t.len() || !py::is_letter(t[i]) {
        return None;
    }
    let mut j = i + 1;
    while j < t.len() && (is_word(t[j]) || matches!(t[j], '\'' | '\u{2019}' | '-')) {
        j += 1;
    }
    Some(j)
}

/// Python's IGNORECASE equality of a text character with an ASCII lower-case letter of a pattern
/// (which also equates s with ſ, k with the Kelvin sign, and i with ı and İ).
#[inline]
fn ci_eq(c: char, lit: char) -> bool {
    c.to_ascii_lowercase() == lit
        || match lit {
            's' => c == '\u{17f}',
            'k' => c == '\u{212a}',
            'i' => c == '\u{131}' || c == '\u{130}',
            _ => false,
        }
}
fn ci_starts(s: &[char], lit: &str) -> bool {
    let mut i = 0;
    for l in lit.chars() {
        if i >= s.len() || !ci_eq(s[i], l.to_ascii_lowercase()) {
            return false;
        }
        i += 1;
    }
    true
}
/// `[A-Za-z_]` under IGNORECASE.
#[inline]
fn ci_letter_(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || matches!(c, '\u{17f}' | '\u{212a}' | '\u{131}' | '\u{130}')
}
/// Python's `$` at `p` in `s` without MULTILINE: the end, or before a line break that ends `s`.
#[inline]
fn at_end(s: &[char], p: usize) -> bool {
    p == s.len() || (p + 1 == s.len() && s[p] == '\n')
}

/// context.py `_PLACEHOLDER.match(s)`, IGNORECASE: a secret that is a placeholder or a code
/// reference. The pattern:
/// `\$\{|\$\(|\$[A-Z_][A-Z0-9_]*$|<[^>]*>?$|\{\{|%\(|[A-Za-z_][\w.]*[(\[]|process\.env\.|os\.environ|ENV\[|\*{3,}$|x{4,}$`
pub fn placeholder(s: &[char]) -> bool {
    let n = s.len();
    if n == 0 {
        return false;
    }
    let c1 = at(s, 1);
    match s[0] {
        '$' => {
            if c1 == '{' || c1 == '(' {
                return true;
            }
            if n > 1 && ci_letter_(c1) {
                let mut k = 2;
                while k < n && (ci_letter_(s[k]) || s[k].is_ascii_digit()) {
                    k += 1;
                }
                if at_end(s, k) {
                    return true;
                }
            }
        }
        '<' => {
            // `[^>]*` runs to the first '>' (or the end), which `>?` may take; `$` must follow.
            let g = s.iter().position(|&c| c == '>').unwrap_or(n);
            if g == n || g + 1 == n || (g + 2 == n && s[n - 1] == '\n') {
                return true;
            }
        }
        '{' if c1 == '{' => return true,
        '%' if c1 == '(' => return true,
        '*' => {
            let k = s.iter().take_while(|&&c| c == '*').count();
            if k >= 3 && at_end(s, k) {
                return true;
            }
        }
        _ => {}
    }
    if ci_letter_(s[0]) {
        let mut k = 1;
        while k < n && (is_word(s[k]) || s[k] == '.') {
            k += 1;
        }
        if k < n && (s[k] == '(' || s[k] == '[') {
            return true;
        }
    }
    if ci_starts(s, "process.env.") || ci_starts(s, "os.environ") || ci_starts(s, "env[") {
        return true;
    }
    let k = s.iter().take_while(|&&c| c == 'x' || c == 'X').count();
    k >= 4 && at_end(s, k)
}

pub struct Context {
    given: Set,
    known: Set,
    ambiguous: Set,
    stop: Set,
    greetings: Set,
    roles: Set,
    csv_columns: Set,
    particles: Set,
    person_objects: Vec<Vec<char>>,
    street_keywords: Vec<Vec<char>>,
    needles: aho_corasick::AhoCorasick,
    /// The rules of each needle: (rule, the word as the rule spells it, whether its case must match).
    needle_rules: Vec<Vec<(Rule, usize, bool)>>,
    words: Vec<Vec<char>>,
    closing: Rx,
    dash_signature: Rx,
    strong_name_label: Rx,
    number_postcode_town: Rx,
    street_before: Rx,
    german_street: Rx,
    french_street: Rx,
    continental_street: Rx,
    lower_street: Rx,
    basic_auth: Rx,
    curl_user: Rx,
    url_empty_user: Rx,
    aws_secret: Rx,
}

/// Where each rule's words occur: per rule, (position, word index) in text order.
type Anchors = [Vec<(usize, usize)>; RULES];

impl Context {
    /// `given` and `known`: the PERSON detector's lexicons of given names and surnames (capitalised);
    /// `ambiguous`: its capitalised words that are names and everyday words ("Rose", "Mark").
    pub fn new(given: Set, known: Set, ambiguous: Set) -> Context {
        let mut rule_words: Vec<(Rule, String)> = Vec::new();
        // A name follows a cue after a space: "this" holds no "hi ".
        rule_words.extend(CUES.iter().map(|w| (Rule::Cue, format!("{w} "))));
        rule_words.extend(FIELD_WORDS.iter().map(|w| (Rule::Field, w.to_string())));
        rule_words.extend(CLOSING_HINTS.iter().map(|w| (Rule::Closing, w.to_string())));
        rule_words.extend(["\u{2014}", "\u{2013}", "--"].iter().map(|w| (Rule::Dash, w.to_string())));
        rule_words.push((Rule::Speaker, "] ".into()));
        rule_words.push((Rule::Mention, "@".into()));
        rule_words.push((Rule::Slash, "/".into()));
        rule_words.push((Rule::Basic, "basic".into()));
        rule_words.push((Rule::Curl, "-u".into()));
        rule_words.push((Rule::Curl, "--user".into()));
        rule_words.push((Rule::Url, "://:".into()));
        rule_words.push((Rule::Aws, "secretaccesskey".into()));
        rule_words.extend((0..10).map(|d| (Rule::Postcode, format!(", {d}"))));
        for (rule, list) in [
            (Rule::Suffix, SUFFIX_WORDS),
            (Rule::Prefix, PREFIX_WORDS),
            (Rule::Number, NUMBER_WORDS),
            (Rule::Number2, NUMBER2_WORDS),
            (Rule::Continental, CONTINENTAL_WORDS),
            (Rule::Lower, LOWER_WORDS),
        ] {
            rule_words.extend(list.iter().map(|w| (rule, w.to_string())));
        }
        for w in ["st", "ave", "rd"] {
            for end in [" ", ",", ".", "\n"] {
                rule_words.push((Rule::Lower, format!(" {w}{end}")));
            }
        }
        rule_words.extend(ENV_SECRET_WORDS.iter().map(|w| (Rule::Env, w.to_string())));

        let mut needle_words: Vec<String> = Vec::new();
        let mut needle_rules: Vec<Vec<(Rule, usize, bool)>> = Vec::new();
        let mut words = Vec::new();
        for (rule, word) in rule_words {
            let lowered = word.to_lowercase();
            let index = match needle_words.iter().position(|w| *w == lowered) {
                Some(i) => i,
                None => {
                    needle_words.push(lowered);
                    needle_rules.push(Vec::new());
                    needle_words.len() - 1
                }
            };
            words.push(chars(&word));
            needle_rules[index].push((rule, words.len() - 1, matches!(rule, Rule::Prefix | Rule::Env)));
        }
        let needles = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&needle_words)
            .expect("the context rules' words");
        Context {
            given,
            known,
            ambiguous,
            stop: word_set(STOP_WORDS.split_whitespace()),
            greetings: word_set(GREETINGS.iter().copied()),
            roles: word_set(ROLES.split_whitespace()),
            csv_columns: word_set(CSV_NAME_COLUMNS.split_whitespace()),
            particles: word_set(STREET_PARTICLES.split_whitespace()),
            person_objects: PERSON_OBJECTS.iter().map(|w| chars(w)).collect(),
            street_keywords: STREET_KEYWORDS.iter().map(|w| chars(w)).collect(),
            needles,
            needle_rules,
            words,
            closing: Rx::linear(&pat::ignore_case(pat::CTX_CLOSING)),
            dash_signature: Rx::linear(pat::CTX_DASH_SIGNATURE),
            strong_name_label: Rx::linear(&pat::ignore_case(pat::CTX_STRONG_NAME_LABEL)),
            number_postcode_town: Rx::linear(pat::CTX_NUMBER_POSTCODE_TOWN),
            street_before: Rx::linear_lead(pat::CTX_STREET_BEFORE),
            german_street: Rx::linear(&pat::ignore_case(pat::CTX_GERMAN_STREET)),
            french_street: Rx::fancy(&pat::ignore_case(pat::CTX_FRENCH_STREET)),
            continental_street: Rx::linear(&pat::ignore_case(pat::CTX_CONTINENTAL_STREET)),
            lower_street: Rx::fancy(pat::CTX_LOWER_STREET),
            basic_auth: Rx::linear_lead(&pat::ignore_case(pat::CTX_BASIC_AUTH)),
            curl_user: Rx::linear_lead(pat::CTX_CURL_USER),
            url_empty_user: Rx::linear(pat::CTX_URL_EMPTY_USER),
            aws_secret: Rx::linear(pat::CTX_AWS_SECRET),
        }
    }

    /// Where each rule's words occur in the text (`utf8`, its UTF-8 form).
    fn anchors(&self, t: &[char], utf8: &str) -> Anchors {
        let mut found: Anchors = Default::default();
        let mut positions = CodePoints::new(utf8, utf8.len() == t.len());
        for m in self.needles.find_iter(utf8) {
            let start = positions.at(m.start());
            for &(rule, word, cased) in &self.needle_rules[m.pattern().as_usize()] {
                if cased && !py::starts_with_at(t, &self.words[word], start) {
                    continue;
                }
                found[rule as usize].push((start, word));
            }
        }
        found
    }

    /// The spans the context rules find in `t` (`utf8`: its UTF-8 form, `h`: the same for the
    /// regexes), in the order context.py's rules have always given them.
    pub fn find(&self, t: &[char], utf8: &str, h: &Txt) -> Vec<Found> {
        let anchors = self.anchors(t, utf8);
        let mut out = Vec::new();
        let any = |rules: &[Rule]| rules.iter().any(|&r| !anchors[r as usize].is_empty());
        if any(&[Rule::Cue, Rule::Speaker, Rule::Mention, Rule::Closing, Rule::Dash, Rule::Field]) {
            self.people(t, h, &anchors, &mut out);
        }
        if any(&[Rule::Postcode]) || any(&STREET_READS) {
            self.addresses(t, h, &anchors, &mut out);
        }
        self.slash_phones(t, &anchors[Rule::Slash as usize], &mut out);
        if any(&[Rule::Basic, Rule::Curl, Rule::Url, Rule::Aws, Rule::Env]) {
            self.secrets(t, h, &anchors, &mut out);
        }
        out
    }

    fn word_of(&self, index: usize) -> &[char] {
        &self.words[index]
    }

    /// `_is_name_word`: not an everyday word, and the word capitalised (its first character upper-cased,
    /// the rest lower-cased) is a known given name or surname.
    fn is_name_word(&self, word: &[char]) -> bool {
        if word.is_empty() || self.stop.contains(&py::lower(word)) {
            return false;
        }
        let mut capitalised: Vec<char> = if word[0].is_ascii() {
            vec![word[0].to_ascii_uppercase()]
        } else {
            word[0].to_uppercase().collect()
        };
        for &c in &word[1..] {
            py::push_lower(&mut capitalised, c);
        }
        self.given.contains(&capitalised) || self.known.contains(&capitalised)
    }

    /// `_titled`: a capitalised word that is not all capitals ("Émilie", not "API").
    fn titled(&self, word: &[char]) -> bool {
        !word.is_empty() && py::isupper(word[0]) && !py::str_isupper(word) && !self.stop.contains(&py::lower(word))
    }

    fn people(&self, t: &[char], h: &Txt, anchors: &Anchors, out: &mut Vec<Found>) {
        for &(a, w) in &anchors[Rule::Cue as usize] {
            let cue = self.word_of(w);
            if a == 0 || !(py::isalnum(t[a - 1]) || t[a - 1] == '@') {
                let greeting = self.greetings.contains(&cue[..cue.len() - 1]);
                if let Some(span) = self.addressed(t, a + cue.len() - 1, greeting) {
                    out.push(span);
                }
            }
        }
        for &(a, _) in &anchors[Rule::Speaker as usize] {
            if let Some((s, e)) = speaker(t, line_start(t, a)) {
                if !self.roles.contains(&py::lower(&t[s..e])) {
                    out.push((PERSON, s, e, 0.6));
                }
            }
        }
        for &(a, _) in &anchors[Rule::Mention as usize] {
            if a == 0 || py::isspace(t[a - 1]) || t[a - 1] == '(' {
                if let Some(end) = mention_end(t, a + 1) {
                    let handle = &t[a + 1..end];
                    let parts: Vec<&[char]> = handle.split(|&c| matches!(c, '.' | '_' | '-')).collect();
                    let first_last = parts.len() == 2 && parts.iter().all(|p| p.len() >= 2 && py::str_isalpha(p));
                    if first_last
                        || (parts.len() <= 3 && parts.iter().any(|p| !p.is_empty() && self.is_name_word(p)))
                    {
                        out.push((PERSON, a + 1, end, 0.6));
                    }
                }
            }
        }
        if t.contains(&'\n') {
            // Each read from the start of the line holding its word.
            for (rule, pattern) in [(Rule::Closing, &self.closing), (Rule::Dash, &self.dash_signature)] {
                for &(a, _) in &anchors[rule as usize] {
                    let Some(m) = pattern.match_at(h, line_start(t, a), t.len()) else { continue };
                    let (s, e) = m.group(1).expect("group 1 takes part");
                    let word = py::first_token(&t[s..e]).expect("a word");
                    if !self.stop.contains(&py::lower(word)) || self.ambiguous.contains(&py::capitalize(word)) {
                        out.push((PERSON, s, e, 0.6));
                    }
                }
            }
        }
        let fields = &anchors[Rule::Field as usize];
        for &(a, w) in fields {
            if let Some(span) = self.field(t, h, a, self.word_of(w)) {
                out.push(span);
            }
        }
        let names: Vec<usize> = fields.iter().filter(|&&(_, w)| py::eq(self.word_of(w), "name")).map(|&(a, _)| a).collect();
        if !names.is_empty() {
            self.csv_names(t, &names, out);
        }
    }

    /// `_addressed`: the name after a cue ending at `end`, if the words there are one.
    fn addressed(&self, t: &[char], end: usize, greeting: bool) -> Option<Found> {
        // `[ ]+(WORD)(?:[ ](WORD))?`
        let mut i = end;
        while at(t, i) == ' ' {
            i += 1;
        }
        if i == end {
            return None;
        }
        let first_end = word_end(t, i)?;
        let first = &t[i..first_end];
        let second_end = if at(t, first_end) == ' ' { word_end(t, first_end + 1) } else { None };
        let second = second_end.map(|e| &t[first_end + 1..e]);
        if self.stop.contains(&py::lower(first)) {
            return None;
        }
        let second_is_name = second.is_some_and(|s| self.is_name_word(s));
        let titled = second.is_some_and(|s| self.titled(first) && self.titled(s));
        // `_GREETING_END`: `[ ]?[,!]|[ ]*$` (MULTILINE) after the first word.
        let greeted = greeting && {
            let p = first_end;
            let mut q = p;
            while at(t, q) == ' ' {
                q += 1;
            }
            matches!(at(t, p), ',' | '!')
                || (at(t, p) == ' ' && matches!(at(t, p + 1), ',' | '!'))
                || q == t.len()
                || t[q] == '\n'
        };
        if !(self.is_name_word(first)
            || (second_is_name && self.ambiguous.contains(&py::capitalize(first)))
            || greeted
            || titled)
        {
            return None;
        }
        let e = if second_is_name || titled { second_end.unwrap() } else { first_end };
        Some((PERSON, i, e, 0.6))
    }

    /// `_field`: the name in a field labelled by `field` at `a`, if the label names a person.
    fn field(&self, t: &[char], h: &Txt, a: usize, field: &[char]) -> Option<Found> {
        // `["']?[ ]*[:=][ ]*["']?(WORD(?:[ ]WORD){0,3})` at the end of the field word.
        let mut p = a + field.len();
        if matches!(at(t, p), '"' | '\'') {
            p += 1;
        }
        while at(t, p) == ' ' {
            p += 1;
        }
        if !matches!(at(t, p), ':' | '=') {
            return None;
        }
        p += 1;
        while at(t, p) == ' ' {
            p += 1;
        }
        if matches!(at(t, p), '"' | '\'') {
            p += 1;
        }
        let start = p;
        let mut end = word_end(t, p)?;
        for _ in 0..3 {
            match if at(t, end) == ' ' { word_end(t, end + 1) } else { None } {
                Some(e) => end = e,
                None => break,
            }
        }
        let glued = a > 0 && (py::isalnum(t[a - 1]) || matches!(t[a - 1], '_' | '-'));
        let strong = !py::eq(field, "name") || self.strong_name_label.search(h, a.saturating_sub(14), a).is_some();
        if glued && !strong {
            return None; // "hostname", "username"
        }
        let words = py::split_ws(&t[start..end]);
        if self.stop.contains(&py::lower(words[0])) {
            return None;
        }
        if !strong && !words.iter().any(|w| self.is_name_word(w)) {
            let record = py::lower(&t[a.saturating_sub(40)..a]);
            if !self.person_objects.iter().any(|w| contains(&record, w)) {
                return None; // a bare "name" (a job, a package): a known name or a person's record needed
            }
        }
        Some((PERSON, start, end, 0.6))
    }

    /// `_csv_names`: the cells of CSV columns whose header names a person. A header is a line
    /// holding a comma and a `name` word; its table runs until a line without a comma (outside
    /// quotes), a field boundary (NUL) or the end of the text.
    fn csv_names(&self, t: &[char], name_fields: &[usize], out: &mut Vec<Found>) {
        let mut parsed = 0usize;
        let mut any_parsed = false;
        for &a in name_fields {
            if any_parsed && a < parsed {
                continue;
            }
            let header_start = line_start(t, a);
            let Some(header_end) = t[a..].iter().position(|&c| c == '\n').map(|p| a + p) else { continue };
            let header = &t[header_start..header_end];
            if !header.contains(&',') {
                continue;
            }
            let columns: Vec<usize> = header
                .split(|&c| c == ',')
                .enumerate()
                .filter(|(_, h)| {
                    let h = strip(strip_ws(h), &['"', '\'']);
                    self.csv_columns.contains(&py::lower(h))
                })
                .map(|(i, _)| i)
                .collect();
            if columns.is_empty() {
                continue;
            }
            parsed = header_end;
            any_parsed = true;
            csv_column_cells(t, header_end + 1, &columns, out);
        }
    }

    fn addresses(&self, t: &[char], h: &Txt, anchors: &Anchors, out: &mut Vec<Found>) {
        let size = t.len();
        for &(comma, _) in &anchors[Rule::Postcode as usize] {
            let mut start = comma;
            while start > 0 && (py::isalnum(t[start - 1]) || t[start - 1] == '/') {
                start -= 1;
            }
            if start == 0 || start == comma || t[start - 1] != ' ' || !py::isdigit(t[start]) {
                continue;
            }
            let Some(m) = self.number_postcode_town.match_at(h, start, size) else { continue };
            let Some(street) = self.street_before.search(h, start.saturating_sub(48), start) else { continue };
            let (s, e) = street.group(1).expect("group 1 takes part");
            if let Some(begin) = self.street_begin(t, s, e) {
                out.push((LOCATION, begin, m.end(), 0.6));
            }
        }
        for read in STREET_READS {
            let list = &anchors[read as usize];
            let mut last = 0usize;
            for &(a, w) in list {
                if a < last {
                    continue;
                }
                let end = a + self.word_of(w).len();
                // Each form needs its house number: right after the street (suffix), within a few
                // words after it (prefix, continental) or before it (number, lower).
                let mut found = Vec::new();
                match read {
                    Rule::Suffix => {
                        if !(end + 1 < size && t[end] == ' ' && t[end + 1].is_ascii_digit()) {
                            continue;
                        }
                        let mut start = a;
                        while start > 0 && (py::isalpha(t[start - 1]) || t[start - 1] == '-') {
                            start -= 1;
                        }
                        if a - start < 3 {
                            continue; // "Spring 2024": a street compound has a stem before its suffix
                        }
                        if start == 0 || !is_word(t[start - 1]) {
                            found.extend(self.german_street.match_at(h, start, size).map(|m| (m.start(), m.end())));
                        }
                    }
                    Rule::Prefix | Rule::Continental => {
                        if !t[end.min(size)..(end + 40).min(size)].iter().any(|c| c.is_ascii_digit()) {
                            continue;
                        }
                        let pattern = if read == Rule::Prefix { &self.german_street } else { &self.continental_street };
                        if a == 0 || !is_word(t[a - 1]) {
                            found.extend(pattern.match_at(h, a, size).map(|m| (m.start(), m.end())));
                        }
                    }
                    _ => {
                        if read == Rule::Lower && (py::isupper(t[end - 1]) || (end < size && py::isalpha(t[end]))) {
                            continue; // capitalised streets are the native street detector's; "stop" is no "st"
                        }
                        if !t[a.saturating_sub(28)..a].iter().any(|c| c.is_ascii_digit()) {
                            continue;
                        }
                        // Both forms open with a house number whose first digit follows no word
                        // character or '.' (nor ',' for "lower"): only such digits are tried.
                        let (from, to) = (a.saturating_sub(28).max(last), (end + 48).min(size));
                        let starts: Vec<usize> = (from..to)
                            .filter(|&p| {
                                t[p].is_ascii_digit()
                                    && (p == 0 || !(is_word(t[p - 1]) || t[p - 1] == '.' || (read == Rule::Lower && t[p - 1] == ',')))
                            })
                            .collect();
                        let pattern = if read == Rule::Lower { &self.lower_street } else { &self.french_street };
                        pattern.finditer_at(h, &starts, to, |m| found.push((m.start(), m.end())));
                    }
                }
                for (s, e) in found {
                    last = e;
                    out.push((LOCATION, s, e, 0.6));
                }
            }
        }
    }

    /// `_street_begin`: where the street named by the words `t[start..end]` before a house number
    /// begins. The capitalised words (and particles) nearest the number; lower-case words only when
    /// every word is lower case and one of them is a street word (`lindenallee 65, 69163 heidelberg`).
    fn street_begin(&self, t: &[char], start: usize, end: usize) -> Option<usize> {
        let words: Vec<&[char]> = t[start..end].split(|&c| c == ' ').collect();
        let mut keep = words.len();
        while keep > 0 && {
            let w = words[keep - 1];
            (!w.is_empty() && py::isupper(w[0])) || self.particles.contains(&py::lower(w))
        } {
            keep -= 1;
        }
        let offset = |k: usize| start + words[..k].iter().map(|w| w.len() + 1).sum::<usize>();
        if keep < words.len() && words[keep..].iter().any(|w| !w.is_empty() && py::isupper(w[0])) {
            return Some(offset(keep));
        }
        let lowered = py::lower(&t[start..end]);
        if self.street_keywords.iter().any(|k| contains(&lowered, k)) {
            return Some(offset(words.len().saturating_sub(2)));
        }
        None
    }

    /// `_slash_phones`: German phone numbers with the area code before a slash (`089/73984500`),
    /// read back from each '/' over the digits before it: `0[1-9][0-9]{1,4}/[0-9]{4,9}(?![\w/\-]|\.\w)`.
    fn slash_phones(&self, t: &[char], slashes: &[(usize, usize)], out: &mut Vec<Found>) {
        for &(slash, _) in slashes {
            let mut start = slash;
            while start > 0 && t[start - 1].is_ascii_digit() {
                start -= 1;
            }
            let before = slash - start;
            if before < 3 || (start > 0 && glued(t[start - 1])) {
                continue;
            }
            if before > 6 || t[start] != '0' || t[start + 1] == '0' {
                continue;
            }
            let mut p = slash + 1;
            while p < t.len() && t[p].is_ascii_digit() {
                p += 1;
            }
            let digits = p - slash - 1;
            let next = at(t, p);
            let blocked = p < t.len() && (is_word(next) || next == '/' || next == '-')
                || (next == '.' && p + 1 < t.len() && is_word(t[p + 1]));
            if (4..=9).contains(&digits) && !blocked {
                out.push((PHONE, start, p, 0.6));
            }
        }
    }

    fn secrets(&self, t: &[char], h: &Txt, anchors: &Anchors, out: &mut Vec<Found>) {
        for (rule, pattern) in [
            (Rule::Basic, &self.basic_auth),
            (Rule::Curl, &self.curl_user),
            (Rule::Url, &self.url_empty_user),
            (Rule::Aws, &self.aws_secret),
        ] {
            if !anchors[rule as usize].is_empty() {
                pattern.finditer(h, 0, t.len(), |m| {
                    let (s, e) = m.group(1).expect("group 1 takes part");
                    if !placeholder(&t[s..e]) {
                        out.push((CREDENTIAL, s, e, 0.85));
                    }
                });
            }
        }
        for &(a, w) in &anchors[Rule::Env as usize] {
            let mut name = a;
            while name > 0 && (py::isupper(t[name - 1]) || py::isdigit(t[name - 1]) || t[name - 1] == '_') {
                name -= 1;
            }
            if name == 0 || matches!(t[name - 1], ' ' | ';' | '\n' | '\t') {
                if let Some(end) = env_value_end(t, a + self.word_of(w).len()) {
                    let start = a + self.word_of(w).len();
                    if !placeholder(strip(&t[start..end], &['"', '\''])) {
                        out.push((CREDENTIAL, start, end, 0.85));
                    }
                }
            }
        }
    }
}

/// `clear_lookalikes`: whether a span found by any detector is a look-alike the context shows: a
/// CREDENTIAL that is a placeholder, a PERSON that is a place or names a law of nature. Each span
/// is checked where it is, with no pass over the text.
pub fn lookalike(t: &[char], kind: &str, start: usize, end: usize) -> bool {
    static PLACE_SET: std::sync::OnceLock<Set> = std::sync::OnceLock::new();
    let span = py::sl(t, start, end);
    match kind {
        CREDENTIAL => placeholder(span),
        PERSON => {
            PLACE_SET.get_or_init(|| word_set(PLACES.iter().copied())).contains(span)
                || (matches!(at(t, end), '\'' | '\u{2019}' | ' ') && eponym_after(t, end))
        }
        _ => false,
    }
}

/// `_GLUED`: a character that joins a number to what is before it.
#[inline]
fn glued(c: char) -> bool {
    py::isalnum(c) || matches!(c, '/' | '.' | ':' | '-' | '_')
}

/// `s.strip()` (whitespace).
fn strip_ws(s: &[char]) -> &[char] {
    let a = s.iter().position(|&c| !py::isspace(c)).unwrap_or(s.len());
    py::rstrip_ws(&s[a..])
}
/// `s.strip(chars)`.
fn strip<'a>(s: &'a [char], chars: &[char]) -> &'a [char] {
    let a = s.iter().position(|c| !chars.contains(c)).unwrap_or(s.len());
    let b = s.iter().rposition(|c| !chars.contains(c)).map_or(a, |p| p + 1);
    &s[a..b.max(a)]
}

/// `_SPEAKER.match(text, line)`: the speaker of a timestamped chat line ("[14:10] mark: ..."):
/// `^[ ]*\[[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?\][ ]+(WORD(?:[ ]WORD)?):`, group 1's span.
fn speaker(t: &[char], line: usize) -> Option<(usize, usize)> {
    let digit = |i: usize| at(t, i).is_ascii_digit();
    let mut p = line;
    while at(t, p) == ' ' {
        p += 1;
    }
    if at(t, p) != '[' || !digit(p + 1) {
        return None;
    }
    p += if digit(p + 2) { 3 } else { 2 };
    if at(t, p) != ':' || !digit(p + 1) || !digit(p + 2) {
        return None;
    }
    p += 3;
    if at(t, p) == ':' && digit(p + 1) && digit(p + 2) && at(t, p + 3) == ']' {
        p += 3;
    }
    if at(t, p) != ']' || at(t, p + 1) != ' ' {
        return None;
    }
    p += 1;
    while at(t, p) == ' ' {
        p += 1;
    }
    let start = p;
    let first = word_end(t, p)?;
    if at(t, first) == ' ' {
        if let Some(second) = word_end(t, first + 1) {
            return (at(t, second) == ':').then_some((start, second));
        }
    }
    (at(t, first) == ':').then_some((start, first))
}

/// The end of `_MENTION.match(text, s)`: `([A-Za-z][\w.\-]{0,38}[A-Za-z0-9])(?=[ ,:;!?)]|$)`, the
/// longest such handle (greedy, then backing off).
fn mention_end(t: &[char], s: usize) -> Option<usize> {
    if !at(t, s).is_ascii_alphabetic() {
        return None;
    }
    let mut run = 0;
    while run < 39 && s + 1 + run < t.len() && (is_word(t[s + 1 + run]) || matches!(t[s + 1 + run], '.' | '-')) {
        run += 1;
    }
    // The last character is one of the run; what is before it is the middle part.
    for last in (s + 1..s + 1 + run).rev() {
        if t[last].is_ascii_alphanumeric() {
            let p = last + 1;
            if at_end(t, p) || matches!(t[p], ' ' | ',' | ':' | ';' | '!' | '?' | ')') {
                return Some(p);
            }
        }
    }
    None
}

/// `_csv_column_cells`: the cells of `columns` in the CSV rows from `pos`.
fn csv_column_cells(t: &[char], mut pos: usize, columns: &[usize], out: &mut Vec<Found>) {
    let size = t.len();
    let (mut field, mut start, mut quoted) = (0usize, pos, false);
    let mut row: Vec<(usize, usize)> = Vec::new();
    while pos <= size {
        let ch = if pos < size { t[pos] } else { '\n' };
        if quoted {
            if ch == '"' {
                quoted = false;
            }
        } else if ch == '"' {
            quoted = true;
        } else if matches!(ch, ',' | '\n' | '\u{0}') {
            if columns.contains(&field) {
                let (mut a, mut b) = (start, pos);
                while a < b && matches!(t[a], ' ' | '"' | '\'') {
                    a += 1;
                }
                while b > a && matches!(t[b - 1], ' ' | '"' | '\'' | '\r') {
                    b -= 1;
                }
                let words = py::split_ws(&t[a..b]);
                if a < b && words.iter().all(|w| py::isalpha(w[0])) && words.len() <= 5 {
                    row.push((a, b));
                }
            }
            if ch == ',' {
                field += 1;
            } else {
                if field == 0 {
                    return; // a line without a comma: the table ended
                }
                out.extend(row.drain(..).map(|(a, b)| (PERSON, a, b, 0.6)));
                if ch == '\u{0}' {
                    return;
                }
                field = 0;
            }
            start = pos + 1;
        }
        pos += 1;
    }
}

/// The end of `_ENV_VALUE.match(text, p)`: `[^\s"'$;`][^\s;`]*|"[^"$\n]{3,}"|'[^'\n]{3,}'`.
fn env_value_end(t: &[char], p: usize) -> Option<usize> {
    let c = at(t, p);
    if p >= t.len() {
        return None;
    }
    match c {
        '"' | '\'' => {
            let mut q = p + 1;
            while q < t.len() && t[q] != c && t[q] != '\n' && !(c == '"' && t[q] == '$') {
                q += 1;
            }
            (q - p > 3 && at(t, q) == c).then_some(q + 1)
        }
        _ if py::isspace(c) || matches!(c, '$' | ';' | '`') => None,
        _ => {
            let mut q = p + 1;
            while q < t.len() && !(py::isspace(t[q]) || t[q] == ';' || t[q] == '`') {
                q += 1;
            }
            Some(q)
        }
    }
}

/// `_EPONYM_AFTER.match(text, end)`: `(?:['\u2019]s)?[ ]` and a noun of an eponym, then `\b`.
fn eponym_after(t: &[char], end: usize) -> bool {
    let mut p = end;
    if matches!(at(t, p), '\'' | '\u{2019}') && at(t, p + 1) == 's' {
        p += 2;
    }
    if at(t, p) != ' ' {
        return false;
    }
    p += 1;
    EPONYM_NOUNS.iter().any(|&(noun, plural)| {
        let n = noun.chars().count();
        if !noun.chars().zip(&t[p.min(t.len())..]).all(|(a, &b)| a == b) || p + n > t.len() {
            return false;
        }
        let bounded = |q: usize| q >= t.len() || !is_word(t[q]);
        bounded(p + n) || (plural && at(t, p + n) == 's' && bounded(p + n + 1))
    })
}
