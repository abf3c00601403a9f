//! Ports of the structured detectors of services/privacy_gate/domain (detectors.py, identifiers.py,
//! credentials.py). Texts are code-point slices; positions are Python str indices.
//!
//! The regexes and constants are in src/patterns.rs (run by src/rx.rs); scan.rs hand-codes the
//! simple whole-text patterns, which tests/unit/privacy_gate/test_native_scanners.py checks against
//! the Python patterns they stand for.

pub mod scan;

use crate::patterns::{
    self as pat, CARD_FIRST_DIGITS, CARD_HINTS, CARD_MAX_DIGITS, CARD_MIN_DIGITS, DOUBLED, EMAIL_LOCAL_PUNCTUATION,
    IBAN_LENGTHS, MAESTRO_0604, NOT_PHONE_WORDS, NOT_SECRETS, SECRET_HINTS, SSN_VOID, STRONG_PHONE_PREFIXES,
    STRONG_PHONE_WORDS, TOKEN_PREFIXES, WEAK_PHONE_WORDS,
};
use crate::py;
use crate::pytables::LOWER_MAP;
use crate::rx::{Rx, Txt};
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Ty {
    Email,
    Phone,
    Card,
    Ssn,
    Iban,
    Ip,
    Credential,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Email => "EMAIL_ADDRESS",
            Ty::Phone => "PHONE_NUMBER",
            Ty::Card => "CREDIT_CARD",
            Ty::Ssn => "US_SSN",
            Ty::Iban => "IBAN_CODE",
            Ty::Ip => "IP_ADDRESS",
            Ty::Credential => "CREDENTIAL",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub ty: Ty,
    pub start: usize,
    pub end: usize,
    pub score: f64,
}

fn sp(ty: Ty, start: usize, end: usize, score: f64) -> Span {
    Span { ty, start, end, score }
}

pub struct Res {
    phone: Rx,
    phone_after: Rx,
    not_phone_after: Rx,
    ssn_context: Rx,
    iban: Rx,
    ipv6_candidates: Rx,
    version_context: Rx,
    card_context: Rx,
    tokens: Rx,
    jwt: Rx,
    private_key: Rx,
    assignment: Rx,
    bearer: Rx,
    url_password: Rx,
}

static RES: OnceLock<Res> = OnceLock::new();

pub fn res() -> &'static Res {
    let ci = pat::ignore_case;
    RES.get_or_init(|| Res {
        phone: Rx::linear(pat::PHONE),
        phone_after: Rx::linear(&ci(pat::PHONE_AFTER)),
        not_phone_after: Rx::linear(&ci(pat::NOT_PHONE_AFTER)),
        ssn_context: Rx::linear_lead(&ci(pat::SSN_CONTEXT)),
        iban: Rx::fancy(pat::IBAN),
        ipv6_candidates: Rx::linear(pat::IPV6_CANDIDATES),
        version_context: Rx::linear_lead(&ci(pat::VERSION_CONTEXT)),
        card_context: Rx::linear_lead(&ci(pat::CARD_CONTEXT)),
        tokens: Rx::linear(pat::TOKENS),
        jwt: Rx::linear(pat::JWT),
        private_key: Rx::fancy(pat::PRIVATE_KEY),
        assignment: Rx::fancy(&ci(pat::ASSIGNMENT)),
        bearer: Rx::linear_lead(&ci(pat::BEARER)),
        url_password: Rx::linear(pat::URL_PASSWORD),
    })
}

// ------------------------------------------------------------------------------ str semantics

// Python str predicates over code points (lone surrogates included: no predicate holds for them),
// from the one table of src/pytables.rs.

#[inline(always)]
fn isalnum(c: u32) -> bool {
    if c < 128 {
        (c as u8).is_ascii_alphanumeric()
    } else {
        py::flags_cp(c) & py::ALNUM != 0
    }
}
#[inline(always)]
fn isdigit(c: u32) -> bool {
    if c < 128 {
        (48..=57).contains(&c)
    } else {
        py::flags_cp(c) & py::DIGIT != 0
    }
}
#[inline(always)]
fn isspace(c: u32) -> bool {
    py::flags_cp(c) & py::SPACE != 0
}
/// `re`'s `\w`.
#[inline(always)]
pub fn is_word(c: u32) -> bool {
    c == '_' as u32 || isalnum(c)
}
/// `re`'s `[^\W\d_]`.
#[inline(always)]
fn is_letter(c: u32) -> bool {
    if c < 128 {
        (c as u8).is_ascii_alphabetic()
    } else {
        py::flags_cp(c) & (py::ALNUM | py::DECIMAL) == py::ALNUM
    }
}
#[inline(always)]
fn glued(c: u32) -> bool {
    isalnum(c) || c == '_' as u32
}
#[inline(always)]
fn is_ascii_digit(c: u32) -> bool {
    (48..=57).contains(&c)
}
#[inline(always)]
fn one_of(c: u32, set: &str) -> bool {
    c < 128 && set.as_bytes().contains(&(c as u8))
}

const DENSE_LOWER: usize = 0x800;

/// `c.lower()` when it is longer than one code point (pytables' LOWER_MAP), else None.
fn long_lower(c: u32) -> Option<&'static str> {
    match LOWER_MAP.binary_search_by_key(&c, |e| e.0) {
        Ok(i) if LOWER_MAP[i].1.chars().nth(1).is_some() => Some(LOWER_MAP[i].1),
        _ => None,
    }
}

/// `c.lower()` when it is one code point (c itself when unmapped), u32::MAX when it is longer.
fn simple_lower(c: u32) -> u32 {
    match LOWER_MAP.binary_search_by_key(&c, |e| e.0) {
        Ok(i) => {
            let mut it = LOWER_MAP[i].1.chars();
            let first = it.next().map_or(c, |x| x as u32);
            if it.next().is_some() {
                u32::MAX
            } else {
                first
            }
        }
        Err(_) => c,
    }
}

/// For code points below DENSE_LOWER: simple_lower.
fn dense_lower() -> &'static [u32] {
    static D: OnceLock<Vec<u32>> = OnceLock::new();
    D.get_or_init(|| (0..DENSE_LOWER as u32).map(simple_lower).collect())
}

/// `str.lower()` (full mappings, e.g. 'İ' -> 'i̇'; final sigma is length-neutral and irrelevant here).
pub fn lower(t: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(t.len());
    let dense = dense_lower();
    for &c in t {
        let m = if c < 128 {
            if (65..=90).contains(&c) { c + 32 } else { c }
        } else if (c as usize) < DENSE_LOWER {
            dense[c as usize]
        } else {
            simple_lower(c)
        };
        if m != u32::MAX {
            out.push(m);
        } else if let Some(long) = long_lower(c) {
            out.extend(long.chars().map(|x| x as u32));
        }
    }
    out
}

/// `ascii_projection(lower(t))` without building the lowered code points.
pub fn lower_projection(tx: &Text) -> Vec<u8> {
    let mut fast = tx.b.to_ascii_lowercase();
    let dense = dense_lower();
    let mut simple = true;
    for i in memchr::memchr_iter(0xFF, &tx.b) {
        let c = tx.t[i];
        let m = if (c as usize) < DENSE_LOWER { dense[c as usize] } else { simple_lower(c) };
        if m == u32::MAX {
            simple = false; // a longer mapping shifts offsets: take the slow path
            break;
        }
        if m < 128 {
            fast[i] = m as u8;
        }
    }
    if simple {
        return fast;
    }
    lower(tx.t).into_iter().map(|x| if x < 128 { x as u8 } else { 0xFF }).collect()
}

/// A text as code points plus its one-byte-per-code-point ASCII projection (non-ASCII -> 0xFF), so
/// ASCII substring searches run with memchr/memmem at code-point offsets.
pub struct Text<'a> {
    pub t: &'a [u32],
    /// The text for the regexes (its UTF-8 form is made on first use).
    pub rx: Txt<'a>,
    pub b: Vec<u8>,
    pub runs: Vec<(usize, usize)>,
    marks: std::cell::OnceCell<Marks>,
}

/// What one pass over the ASCII projection finds for the cheap "does the text hold X" checks.
#[derive(Default)]
pub struct Marks {
    token_starts: Vec<usize>,
    card_hint: bool,
    jwt: bool,
    begin: bool,
    scheme_seps: Vec<usize>,
    double_colon: bool,
}

// Needles of the byte pass: the token prefixes, the card words (in their casings), then the others.
const N_TOKENS: usize = TOKEN_PREFIXES.len();
const N_CARDS: usize = CARD_HINTS.len();

fn text_needles() -> &'static scan::PairScan {
    static P: OnceLock<scan::PairScan> = OnceLock::new();
    P.get_or_init(|| {
        let mut all: Vec<String> = TOKEN_PREFIXES.iter().map(|s| s.to_string()).collect();
        all.extend(CARD_HINTS.iter().map(|s| s.to_string()));
        for s in ["eyJ", "-----BEGIN", "://", "::"] {
            all.push(s.to_string());
        }
        let refs: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        scan::PairScan::new(&refs)
    })
}

fn lowered_needles() -> &'static scan::PairScan {
    static P: OnceLock<scan::PairScan> = OnceLock::new();
    // The secret hints, then "bearer" and "token" (unless a hint already).
    P.get_or_init(|| {
        let mut all: Vec<&str> = SECRET_HINTS.to_vec();
        all.push("bearer");
        if !SECRET_HINTS.contains(&"token") {
            all.push("token");
        }
        scan::PairScan::new(&all)
    })
}

pub fn ascii_projection(t: &[u32]) -> Vec<u8> {
    t.iter().map(|&c| if c < 128 { c as u8 } else { 0xFF }).collect()
}

impl<'a> Text<'a> {
    /// `utf8`: the text's UTF-8 form, when at hand (see `Txt::new`).
    pub fn new(t: &'a [u32], utf8: Option<&'a str>) -> Text<'a> {
        let b = ascii_projection(t);
        let runs = scan::digit_runs(&b);
        Text { t, rx: Txt::new(t, utf8), b, runs, marks: std::cell::OnceCell::new() }
    }

    pub fn marks(&self) -> &Marks {
        self.marks.get_or_init(|| {
            let mut m = Marks::default();
            text_needles().each(&self.b, |pos, n| {
                if n < N_TOKENS {
                    m.token_starts.push(pos);
                } else if n < N_TOKENS + N_CARDS {
                    m.card_hint = true;
                } else {
                    match n - N_TOKENS - N_CARDS {
                        0 => m.jwt = true,
                        1 => m.begin = true,
                        2 => m.scheme_seps.push(pos),
                        _ => m.double_colon = true,
                    }
                }
            });
            m
        })
    }
}

fn eq(t: &[u32], s: &str) -> bool {
    t.len() == s.len() && t.iter().zip(s.bytes()).all(|(&a, b)| a == b as u32)
}

fn starts(t: &[u32], s: &str) -> bool {
    t.len() >= s.len() && t.iter().zip(s.bytes()).all(|(&a, b)| a == b as u32)
}

fn glued_before(t: &[u32], start: usize, also: &str) -> bool {
    if start == 0 {
        return false;
    }
    let b = t[start - 1];
    glued(b) || one_of(b, also)
}

// ----------------------------------------------------------------------------------- EMAIL

fn url_userinfo(t: &[u32], start: usize) -> bool {
    if start == 0 || t[start - 1] != ':' as u32 {
        return false;
    }
    let lo = start.saturating_sub(200);
    // rfind("://", lo, start)
    let mut scheme = None;
    if start >= lo + 3 {
        let mut i = start - 3;
        loop {
            if t[i] == ':' as u32 && t[i + 1] == '/' as u32 && t[i + 2] == '/' as u32 {
                scheme = Some(i);
                break;
            }
            if i == lo {
                break;
            }
            i -= 1;
        }
    }
    match scheme {
        Some(s) => !t[s..start].iter().any(|&c| isspace(c)),
        None => false,
    }
}

/// End of `(?:[\w-]+\.)+[^\W\d_]{2,}` matched at `p0` (EmailDetector._DOMAIN.match), without
/// recursion: each iteration is a maximal `[\w-]+` run and its dot; on failure the regex backtracks
/// one iteration at a time and tries the letters at the start of the dropped one.
pub fn domain_match(t: &[u32], p0: usize) -> Option<usize> {
    let n = t.len();
    let wordish = |c: u32| c == '-' as u32 || is_word(c);
    let mut seg_starts = vec![];
    let mut p = p0;
    loop {
        let mut q = p;
        while q < n && wordish(t[q]) {
            q += 1;
        }
        if q > p && q < n && t[q] == '.' as u32 {
            seg_starts.push(p);
            p = q + 1;
        } else {
            break;
        }
    }
    if seg_starts.is_empty() {
        return None;
    }
    let letters_at = |s: usize| {
        let mut e = s;
        while e < n && is_letter(t[e]) {
            e += 1;
        }
        if e - s >= 2 { Some(e) } else { None }
    };
    if let Some(e) = letters_at(p) {
        return Some(e);
    }
    for k in (1..seg_starts.len()).rev() {
        if let Some(e) = letters_at(seg_starts[k]) {
            return Some(e);
        }
    }
    None
}

pub fn email(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    for at in memchr::memchr_iter(b'@', &tx.b) {
        if let Some(domain_end) = domain_match(t, at + 1) {
            let mut start = at;
            while start > 0 && (glued(t[start - 1]) || one_of(t[start - 1], EMAIL_LOCAL_PUNCTUATION)) {
                start -= 1;
            }
            if start < at && !url_userinfo(t, start) {
                out.push(sp(Ty::Email, start, domain_end, 1.0));
            }
        }
    }
}

// ------------------------------------------------------------------------------ CREDIT CARD

fn digit_groups(t: &[u32], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let mut i = start;
    while i < end {
        if is_ascii_digit(t[i]) {
            let s = i;
            while i < end && is_ascii_digit(t[i]) {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

pub fn luhn_valid(d: &[u32]) -> bool {
    let mut sum = 0u32;
    for (i, &c) in d.iter().rev().enumerate() {
        let v = c - 48;
        sum += if i % 2 == 1 { DOUBLED[v as usize] } else { v };
    }
    sum % 10 == 0
}

fn is_card(t: &[u32], groups: &[(usize, usize)]) -> bool {
    if groups.len() > 1
        && (groups[0].1 - groups[0].0 != 4 || groups[1..].iter().any(|&(a, b)| !(3..=6).contains(&(b - a))))
    {
        return false;
    }
    let digits: Vec<u32> = groups.iter().flat_map(|&(a, b)| t[a..b].iter().copied()).collect();
    let n = digits.len();
    (CARD_MIN_DIGITS..=CARD_MAX_DIGITS).contains(&n)
        && (one_of(digits[0], CARD_FIRST_DIGITS) || (n == 15 && starts(&digits, "1800")))
        && luhn_valid(&digits)
}

fn cards_in(t: &[u32], groups: &[(usize, usize)], out: &mut Vec<Span>) {
    let last = groups.len();
    if is_card(t, groups) {
        out.push(sp(Ty::Card, groups[0].0, groups[last - 1].1, 1.0));
        return;
    }
    let mut windows: Vec<(usize, bool, usize, usize)> = vec![];
    for i in 0..last {
        let first_is_four = groups[i].1 - groups[i].0 == 4;
        let mut count = 0;
        for j in i..last {
            let size = groups[j].1 - groups[j].0;
            count += size;
            if count > CARD_MAX_DIGITS || (j > i && !(first_is_four && (3..=6).contains(&size))) {
                break;
            }
            if count >= CARD_MIN_DIGITS {
                windows.push((count, i != 0 && j + 1 != last, i, j + 1));
            }
        }
    }
    windows.sort_by(|a, b| (std::cmp::Reverse(a.0), a.1, a.2).cmp(&(std::cmp::Reverse(b.0), b.1, b.2)));
    let mut taken = vec![false; last];
    for &(_, _, i, j) in &windows {
        if taken[i..j].iter().any(|&x| x) {
            continue;
        }
        if is_card(t, &groups[i..j]) {
            for x in &mut taken[i..j] {
                *x = true;
            }
            out.push(sp(Ty::Card, groups[i].0, groups[j - 1].1, 1.0));
        }
    }
}

pub fn credit_card(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let size = t.len();
    scan::cc_candidates(t, &tx.runs, |rs, re| {
        scan::cc_runs(t, rs, re, |start, end| {
            if end - start < CARD_MIN_DIGITS {
                return;
            }
            if start > 0 && (glued(t[start - 1]) || one_of(t[start - 1], ".-")) {
                return;
            }
            if end < size && glued(t[end]) {
                return;
            }
            let groups = digit_groups(t, start, end);
            if groups.iter().map(|&(a, b)| b - a).sum::<usize>() >= CARD_MIN_DIGITS {
                cards_in(t, &groups, out);
            }
        });
    });
}

// ------------------------------------------------------------------------------------ PHONE

fn in_digit_run(t: &[u32], start: usize) -> bool {
    start >= 2 && (one_of(t[start - 1], " .-") || t[start - 1] == 0xA0) && isdigit(t[start - 2])
}

/// A lower-cased word: its length in code points and its first 24 as bytes (non-ASCII -> 0xFF).
/// Every word compared against is ASCII and at most 24 long, so equality and prefixes are exact.
#[derive(Clone, Copy)]
struct Word {
    len: usize,
    b: [u8; 24],
}

impl Word {
    fn bytes(&self) -> &[u8] {
        &self.b[..self.len.min(24)]
    }
    /// The whole word, when it is short enough to equal a listed word.
    fn full(&self) -> &[u8] {
        if self.len <= 24 { &self.b[..self.len] } else { &[] }
    }
    fn is(&self, s: &str) -> bool {
        self.len == s.len() && self.full() == s.as_bytes()
    }
    fn starts(&self, p: &str) -> bool {
        self.len >= p.len() && self.bytes().starts_with(p.as_bytes())
    }
}

fn words_before(t: &[u32], start: usize) -> Vec<Word> {
    let window = &t[start.saturating_sub(36)..start];
    let cut = window.iter().rposition(|&c| is_ascii_digit(c) || c == 0).map_or(0, |i| i + 1);
    let mut zone = &window[cut..];
    if zone.len() >= 2 {
        if let Some(i) = (0..zone.len() - 1).rev().find(|&i| zone[i] == 10 && zone[i + 1] == 10) {
            zone = &zone[i + 1..];
        }
    }
    let low = lower(zone);
    if low.iter().all(|&c| isspace(c)) {
        return vec![];
    }
    let mut words = vec![];
    let mut i = 0;
    let letter = is_letter;
    while i < low.len() {
        if letter(low[i]) {
            let s = i;
            let mut w = Word { len: 0, b: [0; 24] };
            while i < low.len() && letter(low[i]) {
                if i - s < 24 {
                    w.b[i - s] = if low[i] < 128 { low[i] as u8 } else { 0xFF };
                }
                i += 1;
            }
            w.len = i - s;
            words.push(w);
        } else {
            i += 1;
        }
    }
    words
}

/// `word in words` for a sorted list of words (gen.rs).
fn listed(words: &[&str], w: &Word) -> bool {
    let full = w.full();
    !full.is_empty() && words.binary_search_by(|s| s.as_bytes().cmp(full)).is_ok()
}

fn is_not_phone_word(w: &Word) -> bool {
    listed(NOT_PHONE_WORDS, w)
}

/// `_phone_words`: (strong, weak).
fn phone_words(words: &[Word]) -> (bool, bool) {
    let (mut strong, mut weak) = (false, false);
    for (i, word) in words.iter().enumerate() {
        // `f"{word} {next}" in _STRONG_PHONE_WORDS`
        let pair_hit = i + 1 < words.len() && {
            let next = &words[i + 1];
            STRONG_PHONE_WORDS
                .iter()
                .filter_map(|s| s.split_once(' '))
                .any(|(a, b)| word.is(a) && next.is(b))
        };
        if listed(STRONG_PHONE_WORDS, word) || STRONG_PHONE_PREFIXES.iter().any(|p| word.starts(p)) || pair_hit {
            strong = true;
        } else if listed(WEAK_PHONE_WORDS, word) {
            weak = true;
        }
    }
    (strong, weak)
}

fn year(g: &[u32]) -> bool {
    g.len() == 4 && (starts(g, "19") || starts(g, "20"))
}

fn two(g: &[u32]) -> u32 {
    (g[0] - 48) * 10 + (g[1] - 48)
}

fn clock_time(g: &[u32]) -> bool {
    g.len() == 4 && two(&g[..2]) <= 23 && two(&g[2..]) <= 59
}

fn phone_shaped(t: &[u32], start: usize, end: usize) -> bool {
    let groups: Vec<&[u32]> = digit_groups(t, start, end).into_iter().map(|(a, b)| &t[a..b]).collect();
    let digits: usize = groups.iter().map(|g| g.len()).sum();
    let first = groups[0];
    let rest = &groups[1..];
    if digits == 7 {
        return rest.len() == 1 && first.len() == 3 && one_of(first[0], "23456789") && t[start + 3] == 32;
    }
    let trunk = first[0] == '0' as u32;
    let widest_first = if trunk { 6 } else if rest.len() == 1 { 5 } else { 4 };
    if !(8..=12).contains(&digits) || !(1..=4).contains(&rest.len()) || !(2..=widest_first).contains(&first.len()) {
        return false;
    }
    if rest.len() > 1 && rest.iter().map(|g| g.len()).max().unwrap() > 4 {
        return false;
    }
    if t[start..end].contains(&('.' as u32))
        && (rest.len() < 2 || (rest.len() < 4 && groups.iter().map(|g| g.len()).max().unwrap() < 3))
    {
        return false;
    }
    if rest.len() == 1 {
        let second = rest[0];
        if first.len() == second.len()
            && (groups.iter().all(|g| clock_time(g)) || !(trunk || (first.len() == 4 && t[start + 4] == 32)))
        {
            return false;
        }
        if first.len() == 5 && second.len() == 4 && t[start + 5] == '-' as u32 {
            return false;
        }
    }
    if groups.iter().all(|g| year(g)) {
        return false;
    }
    !groups.windows(2).any(|w| {
        let (day, yr) = (w[0], w[1]);
        day.len() <= 2 && {
            let v = if day.len() == 1 { day[0] - 48 } else { two(day) };
            (1..=31).contains(&v)
        } && year(yr)
    })
}

fn area_coded(t: &[u32], start: usize, end: usize) -> bool {
    let close = (start..end).find(|&i| t[i] == ')' as u32).unwrap();
    let code = &t[start + 1..close];
    let groups: Vec<&[u32]> = digit_groups(t, close, end).into_iter().map(|(a, b)| &t[a..b]).collect();
    if year(code) || groups.iter().all(|g| year(g)) {
        return false;
    }
    let digits = code.len() + groups.iter().map(|g| g.len()).sum::<usize>();
    digits >= 9
        || (digits == 8 && code.len() <= 3 && groups.len() == 2 && groups.iter().all(|g| (3..=4).contains(&g.len())))
}

/// `_DATE_LIKE.search(text, start, end) is not None`:
/// `[0-9]{4}[.\-][0-9]{2}[.\-][0-9]{2}|[0-9]{2}[.\-][0-9]{2}[.\-][0-9]{4}` anywhere in [start, end).
pub fn date_like(t: &[u32], start: usize, end: usize) -> bool {
    let d = |i: usize| is_ascii_digit(t[i]);
    let sep = |i: usize| t[i] == '.' as u32 || t[i] == '-' as u32;
    (start..end).any(|i| {
        i + 10 <= end
            && ((d(i) && d(i + 1) && d(i + 2) && d(i + 3) && sep(i + 4) && d(i + 5) && d(i + 6) && sep(i + 7) && d(i + 8) && d(i + 9))
                || (d(i) && d(i + 1) && sep(i + 2) && d(i + 3) && d(i + 4) && sep(i + 5) && d(i + 6) && d(i + 7) && d(i + 8) && d(i + 9)))
    })
}

/// `_NOT_PHONE_MARKS.search(text, lo, hi) is not None`: `[#$€£¥]|\b[Nn][or]\.` in [lo, hi).
pub fn not_phone_marks(t: &[u32], lo: usize, hi: usize) -> bool {
    (lo..hi).any(|i| {
        let c = t[i];
        matches!(c, 0x23 | 0x24 | 0x20AC | 0xA3 | 0xA5)
            || ((c == 'N' as u32 || c == 'n' as u32)
                && i + 3 <= hi
                && (t[i + 1] == 'o' as u32 || t[i + 1] == 'r' as u32)
                && t[i + 2] == '.' as u32
                // \b before a word character: the one before (even before lo) is not one.
                && !(i > 0 && is_word(t[i - 1])))
    })
}

fn loose(tx: &Text, start: usize, end: usize) -> Option<Span> {
    let t = tx.t;
    let r = res();
    let size = t.len();
    if end - start < 6 {
        return None;
    }
    if glued_before(t, start, ".-/") || in_digit_run(t, start) {
        return None;
    }
    if end < size && (glued(t[end]) || (one_of(t[end], "./-") && end + 1 < size && isdigit(t[end + 1]))) {
        return None;
    }
    let digits = t[start..end].iter().filter(|&&c| isdigit(c)).count();
    if digits > 15 || date_like(t, start, end) || (end < size && t[end] == ':' as u32) {
        return None;
    }
    let grouped = !t[start..end].iter().all(|&c| isdigit(c));
    let words = words_before(t, start);
    let (strong_words, weak) = phone_words(&words);
    let paren = t[start] == '(' as u32;
    // (Python computes `strong` first; it is only needed, and so only computed, for this clause.)
    let ok = ((digits >= 7 || (grouped && digits >= 6))
        && (strong_words || r.phone_after.match_at(&tx.rx, end, size).is_some()))
        || (grouped && digits >= 7 && weak)
        || (paren && digits >= 9 && area_coded(t, start, end))
        || (grouped
            && (if paren { area_coded(t, start, end) } else { phone_shaped(t, start, end) })
            && !words.iter().any(is_not_phone_word)
            && !not_phone_marks(t, start.saturating_sub(24), start)
            && r.not_phone_after.match_at(&tx.rx, end, size).is_none());
    if ok {
        Some(sp(Ty::Phone, start, end, 0.5))
    } else {
        None
    }
}

pub fn phone(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    let size = t.len();
    let marks: Vec<usize> = memchr::memchr2_iter(b'+', b'(', &tx.b).collect();
    scan::phone_candidates(t, &tx.runs, &marks, |start, end| {
        let stop = size.min(end + 2);
        // Where a phone can start: '+', '(' or a digit not glued to a word character or "+./-"
        // before it (the pattern's look-behind). Anchored tries there find what `finditer` over
        // the region does.
        let starts: Vec<usize> = (start..stop)
            .filter(|&p| (is_ascii_digit(t[p]) || one_of(t[p], "+(")) && !glued_before(t, p, "+./-"))
            .collect();
        r.phone.finditer_at(&tx.rx, &starts, stop, |m| {
            if m.end() <= end && !in_digit_run(t, m.start()) {
                out.push(sp(Ty::Phone, m.start(), m.end(), 0.7));
            }
        });
        scan::loose_phone(t, start, end, |ms, me| {
            if let Some(s) = loose(tx, ms, me) {
                out.push(s);
            }
        });
    });
}

// -------------------------------------------------------------------------------------- SSN

fn standalone(t: &[u32], start: usize, end: usize) -> bool {
    if start > 0 && (glued(t[start - 1]) || one_of(t[start - 1], ".-/")) {
        return false;
    }
    !(end < t.len()
        && (glued(t[end]) || (one_of(t[end], ".-/") && glued(if end + 1 < t.len() { t[end + 1] } else { 32 }))))
}

pub fn ssn(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    scan::ssn(t, &tx.runs, |start, end, sl| {
        let (area, group, serial) = (&t[start..start + 3], &t[start + 3 + sl..start + 5 + sl], &t[end - 4..end]);
        let sep = &t[start + 3..start + 3 + sl];
        if !standalone(t, start, end) {
            return;
        }
        if ssn_valid(area, group, serial) != Ok(true) {
            return;
        }
        if !sep.is_empty() {
            out.push(sp(Ty::Ssn, start, end, 0.85));
        } else if r.ssn_context.search(&tx.rx, start.saturating_sub(40), start).is_some() {
            out.push(sp(Ty::Ssn, start, end, 0.8));
        }
    });
}

// ------------------------------------------------------------------------------------- IBAN

/// `ssn_valid(area, group, serial)`; Err(()) where Python raises IndexError (an empty area).
pub fn ssn_valid(area: &[u32], group: &[u32], serial: &[u32]) -> Result<bool, ()> {
    if eq(area, "000") || eq(area, "666") {
        return Ok(false);
    }
    let first = *area.first().ok_or(())?;
    if first == '9' as u32 || eq(group, "00") || eq(serial, "0000") {
        return Ok(false);
    }
    let whole: Vec<u32> = area.iter().chain(group).chain(serial).copied().collect();
    Ok(!SSN_VOID.iter().any(|v| eq(&whole, v)))
}

/// The value of a decimal digit (Unicode category Nd, which comes in runs of ten from 0 to 9).
fn decimal_value(c: u32) -> Option<u32> {
    if is_ascii_digit(c) {
        return Some(c - 48);
    }
    let dec = |x: u32| py::flags_cp(x) & py::DECIMAL != 0;
    if !dec(c) {
        return None;
    }
    let mut k = 0;
    while k < c && dec(c - k - 1) {
        k += 1;
    }
    Some(k % 10)
}

/// `int(c, base)` for one character c: Err(c) where Python raises ValueError.
fn digit_value(c: u32, base: u32) -> Result<u32, u32> {
    let v = if c < 128 && (c as u8).is_ascii_alphabetic() {
        (c as u8).to_ascii_lowercase() as u32 - 97 + 10
    } else {
        decimal_value(c).ok_or(c)?
    };
    if v < base { Ok(v) } else { Err(c) }
}

/// `luhn_valid(digits)`: Err(c) where Python's int() raises ValueError on the character c.
pub fn luhn_valid_py(d: &[u32]) -> Result<bool, u32> {
    let mut sum = 0u32;
    for (i, &c) in d.iter().rev().enumerate() {
        let v = digit_value(c, 10)?;
        // str.translate doubles ASCII digits only.
        sum += if i % 2 == 1 && is_ascii_digit(c) { DOUBLED[v as usize] } else { v };
    }
    Ok(sum % 10 == 0)
}

/// `iban_valid(iban)`: Err(c) where Python's int(c, 36) raises ValueError on the character c.
pub fn iban_valid(iban: &[u32]) -> Result<bool, u32> {
    let country = &iban[..iban.len().min(2)];
    let want = IBAN_LENGTHS.iter().find(|(c, _)| eq(country, c)).map(|x| x.1);
    if want != Some(iban.len()) {
        return Ok(false);
    }
    let mut n: u64 = 0;
    for &c in iban[4..].iter().chain(iban[..4].iter()) {
        let v = digit_value(c, 36)?;
        n = if v >= 10 { (n * 100 + v as u64) % 97 } else { (n * 10 + v as u64) % 97 };
    }
    Ok(n == 1)
}

pub fn iban(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    scan::iban_candidates(t, &tx.runs, |rstart, rend| {
        // An IBAN starts with a capital not glued to a word character (the pattern's look-behind).
        let stop = t.len().min(rend + 1);
        let starts: Vec<usize> =
            (rstart..stop).filter(|&p| (65..=90).contains(&t[p]) && !glued_before(t, p, "")).collect();
        r.iban.finditer_at(&tx.rx, &starts, stop, |m| {
            if m.end() > rend {
                return;
            }
            let value = &t[m.start()..m.end()];
            let compact: Vec<u32> = value.iter().copied().filter(|&c| c != 32).collect();
            if iban_valid(&compact) == Ok(true) {
                out.push(sp(Ty::Iban, m.start(), m.end(), 1.0));
            } else if value.contains(&32) {
                let groups: Vec<&[u32]> = value.split(|&c| c == 32).collect();
                for count in (2..groups.len()).rev() {
                    let cand: Vec<u32> = groups[..count].iter().flat_map(|g| g.iter().copied()).collect();
                    if iban_valid(&cand) == Ok(true) {
                        let len = groups[..count].iter().map(|g| g.len()).sum::<usize>() + count - 1;
                        out.push(sp(Ty::Iban, m.start(), m.start() + len, 1.0));
                        return;
                    }
                }
            }
        });
    });
}

// --------------------------------------------------------------------------------------- IP

fn parse_octet(o: &[u32]) -> Option<u32> {
    if o.is_empty() || !o.iter().all(|&c| is_ascii_digit(c)) || o.len() > 3 {
        return None;
    }
    if !(o.len() == 1 && o[0] == 48) && o[0] == 48 {
        return None;
    }
    let v = o.iter().fold(0u32, |a, &c| a * 10 + (c - 48));
    if v > 255 { None } else { Some(v) }
}

fn ipv4_int(s: &[u32]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let octs: Vec<&[u32]> = s.split(|&c| c == '.' as u32).collect();
    if octs.len() != 4 {
        return None;
    }
    let mut v = 0u32;
    for o in octs {
        v = (v << 8) | parse_octet(o)?;
    }
    Some(v)
}

enum Part<'a> {
    S(&'a [u32]),
    /// A hextet made from an IPv4 suffix (always valid; the value itself is not needed).
    Hex,
}

fn hextet(p: &Part) -> bool {
    match p {
        Part::Hex => true,
        Part::S(s) => !s.is_empty() && s.len() <= 4 && s.iter().all(|&c| c < 128 && (c as u8).is_ascii_hexdigit()),
    }
}

fn empty(p: &Part) -> bool {
    matches!(p, Part::S(s) if s.is_empty())
}

/// `ipaddress.IPv6Address(value)` succeeds (value holds only hex digits, ':' and '.').
pub fn ipv6_valid(s: &[u32]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut parts: Vec<Part> = s.split(|&c| c == ':' as u32).map(Part::S).collect();
    if parts.len() < 3 {
        return false;
    }
    if let Some(Part::S(last)) = parts.last() {
        if last.contains(&('.' as u32)) {
            let Some(v4) = ipv4_int(last) else { return false };
            parts.pop();
            let _ = v4;
            parts.push(Part::Hex);
            parts.push(Part::Hex);
        }
    }
    if parts.len() > 9 {
        return false;
    }
    let n = parts.len();
    let mut skip = None;
    for i in 1..n - 1 {
        if empty(&parts[i]) {
            if skip.is_some() {
                return false;
            }
            skip = Some(i);
        }
    }
    let (hi, lo);
    if let Some(si) = skip {
        let mut h = si as i64;
        let mut l = (n - si - 1) as i64;
        if empty(&parts[0]) {
            h -= 1;
            if h != 0 {
                return false;
            }
        }
        if empty(&parts[n - 1]) {
            l -= 1;
            if l != 0 {
                return false;
            }
        }
        if 8 - (h + l) < 1 {
            return false;
        }
        hi = h as usize;
        lo = l as usize;
    } else {
        if n != 8 || empty(&parts[0]) || empty(&parts[n - 1]) {
            return false;
        }
        hi = n;
        lo = 0;
    }
    (0..hi).all(|i| hextet(&parts[i])) && (n - lo..n).all(|i| hextet(&parts[i]))
}

pub fn ip(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    let size = t.len();
    if memchr::memchr(b'.', &tx.b).is_some() {
        scan::ipv4(t, &tx.runs, |start, end| {
            if start > 0 && (glued(t[start - 1]) || t[start - 1] == '.' as u32) {
                return;
            }
            if end < size && (glued(t[end]) || (t[end] == '.' as u32 && end + 1 < size && isdigit(t[end + 1]))) {
                return;
            }
            for o in t[start..end].split(|&c| c == '.' as u32) {
                if o.len() > 1 && o[0] == 48 {
                    return;
                }
                if o.iter().fold(0u32, |a, &c| a * 10 + (c - 48)) > 255 {
                    return;
                }
            }
            if r.version_context.search(&tx.rx, start.saturating_sub(12), start).is_some() {
                return;
            }
            out.push(sp(Ty::Ip, start, end, 0.9));
        });
    }
    let colons = memchr::memchr_iter(b':', &tx.b).count();
    if tx.marks().double_colon || colons >= 7 {
        // `[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*` can start at p only when the run of
        // [0-9A-Fa-f:] from p holds two colons: try only those starts (in order).
        let hexc = |c: u32| c < 128 && ((c as u8).is_ascii_hexdigit() || c == ':' as u32);
        let mut starts: Vec<usize> = vec![];
        let mut a = 0;
        while a < size {
            if !hexc(t[a]) {
                a += 1;
                continue;
            }
            let mut b = a;
            let (mut c1, mut c2) = (usize::MAX, usize::MAX); // last and second-to-last colon
            while b < size && hexc(t[b]) {
                if t[b] == ':' as u32 {
                    c2 = c1;
                    c1 = b;
                }
                b += 1;
            }
            if c2 != usize::MAX && c1 != usize::MAX && c2 < c1 {
                starts.extend(a..=c2);
            }
            a = b;
        }
        r.ipv6_candidates.finditer_at(&tx.rx, &starts, size, |m| {
            let start = m.start();
            let mut end = m.end();
            while end > start
                && one_of(t[end - 1], ".:")
                && !(end - start >= 2 && t[end - 1] == ':' as u32 && t[end - 2] == ':' as u32)
            {
                end -= 1;
            }
            if (start > 0 && glued(t[start - 1])) || (end < size && glued(t[end])) {
                return;
            }
            let v = &t[start..end];
            if v.iter().filter(|&&c| c == ':' as u32).count() < 2 || !v.iter().any(|&c| isdigit(c)) {
                return;
            }
            if ipv6_valid(v) {
                out.push(sp(Ty::Ip, start, end, 0.9));
            }
        });
    }
}

// ---------------------------------------------------------------------------- MAESTRO (12)

pub fn maestro(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    if !tx.marks().card_hint {
        return;
    }
    scan::twelve(&tx.runs, |start, end| {
        let d = &t[start..end];
        let p2 = two(d);
        if !standalone(t, start, end) || !(p2 == 50 || (56..=69).contains(&p2) || starts(d, MAESTRO_0604)) {
            return;
        }
        if luhn_valid(d) && r.card_context.search(&tx.rx, start.saturating_sub(40), start).is_some() {
            out.push(sp(Ty::Card, start, end, 0.8));
        }
    });
}

// ------------------------------------------------------------------------------- CREDENTIAL

fn b64val(c: u32) -> Option<u32> {
    match c {
        65..=90 => Some(c - 65),
        97..=122 => Some(c - 97 + 26),
        48..=57 => Some(c - 48 + 52),
        0x2D => Some(62), // '-' (urlsafe)
        0x5F => Some(63), // '_'
        _ => None,
    }
}

/// urlsafe_b64decode(header + padding) as binascii does it (non-strict); None on error.
fn b64decode(h: &[u32]) -> Option<Vec<u8>> {
    let vals: Vec<u32> = h.iter().map(|&c| b64val(c)).collect::<Option<_>>()?;
    if vals.len() % 4 == 1 {
        return None;
    }
    let mut out = vec![];
    for chunk in vals.chunks(4) {
        let mut acc = 0u32;
        for (i, &v) in chunk.iter().enumerate() {
            acc |= v << (18 - 6 * i);
        }
        let nbytes = chunk.len() * 6 / 8;
        for i in 0..nbytes {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// UTF-8 decode with 'surrogatepass'.
fn utf8_surrogatepass(b: &[u8]) -> Option<Vec<u32>> {
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as u32;
        let cont = |j: usize| -> Option<u32> {
            let x = *b.get(j)? as u32;
            if x & 0xC0 == 0x80 { Some(x & 0x3F) } else { None }
        };
        if c < 0x80 {
            out.push(c);
            i += 1;
        } else if (0xC2..=0xDF).contains(&c) {
            out.push(((c & 0x1F) << 6) | cont(i + 1)?);
            i += 2;
        } else if (0xE0..=0xEF).contains(&c) {
            let v = ((c & 0x0F) << 12) | (cont(i + 1)? << 6) | cont(i + 2)?;
            if v < 0x800 {
                return None;
            }
            out.push(v); // surrogates allowed (surrogatepass)
            i += 3;
        } else if (0xF0..=0xF4).contains(&c) {
            let v = ((c & 0x07) << 18) | (cont(i + 1)? << 12) | (cont(i + 2)? << 6) | cont(i + 3)?;
            if !(0x10000..=0x10FFFF).contains(&v) {
                return None;
            }
            out.push(v);
            i += 4;
        } else {
            return None;
        }
    }
    Some(out)
}

struct Json<'a> {
    s: &'a [u32],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], 32 | 9 | 10 | 13) {
            self.i += 1;
        }
    }
    fn lit(&mut self, w: &str) -> Option<()> {
        if starts(&self.s[self.i..], w) {
            self.i += w.len();
            Some(())
        } else {
            None
        }
    }
    fn string(&mut self) -> Option<Vec<u32>> {
        // at the opening quote
        self.i += 1;
        let mut out = vec![];
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                0x22 => return Some(out),
                0x5C => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        0x22 | 0x5C | 0x2F => out.push(e),
                        0x62 => out.push(8),
                        0x66 => out.push(12),
                        0x6E => out.push(10),
                        0x72 => out.push(13),
                        0x74 => out.push(9),
                        0x75 => {
                            let h = self.s.get(self.i..self.i + 4)?;
                            let mut v = 0u32;
                            for &x in h {
                                v = v * 16 + char::from_u32(x)?.to_digit(16).filter(|_| x < 128)?;
                            }
                            self.i += 4;
                            out.push(v);
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
    fn number(&mut self) -> Option<()> {
        let s = self.s;
        let d = |i: usize| i < s.len() && is_ascii_digit(s[i]);
        if s.get(self.i) == Some(&('-' as u32)) {
            self.i += 1;
        }
        if s.get(self.i) == Some(&48) {
            self.i += 1;
        } else if self.i < s.len() && (49..=57).contains(&s[self.i]) {
            while d(self.i) {
                self.i += 1;
            }
        } else {
            return None;
        }
        if s.get(self.i) == Some(&('.' as u32)) && d(self.i + 1) {
            self.i += 1;
            while d(self.i) {
                self.i += 1;
            }
        }
        if matches!(s.get(self.i), Some(&0x65) | Some(&0x45)) {
            let mut j = self.i + 1;
            if matches!(s.get(j), Some(&0x2B) | Some(&0x2D)) {
                j += 1;
            }
            if d(j) {
                while d(j) {
                    j += 1;
                }
                self.i = j;
            }
        }
        Some(())
    }
    /// Parses a value; for an object, reports whether it has the key "alg".
    fn value(&mut self, depth: usize) -> Option<bool> {
        if depth > 900 {
            return None;
        }
        let c = *self.s.get(self.i)?;
        match c {
            0x22 => {
                self.string()?;
                Some(false)
            }
            0x7B => {
                self.i += 1;
                self.ws();
                let mut alg = false;
                if self.s.get(self.i) == Some(&0x7D) {
                    self.i += 1;
                    return Some(false);
                }
                loop {
                    if self.s.get(self.i) != Some(&0x22) {
                        return None;
                    }
                    let key = self.string()?;
                    if eq(&key, "alg") {
                        alg = true;
                    }
                    self.ws();
                    if self.s.get(self.i) != Some(&0x3A) {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(&0x7D) => {
                            self.i += 1;
                            return Some(alg);
                        }
                        Some(&0x2C) => {
                            self.i += 1;
                            self.ws();
                        }
                        _ => return None,
                    }
                }
            }
            0x5B => {
                self.i += 1;
                self.ws();
                if self.s.get(self.i) == Some(&0x5D) {
                    self.i += 1;
                    return Some(false);
                }
                loop {
                    self.value(depth + 1)?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(&0x5D) => {
                            self.i += 1;
                            return Some(false);
                        }
                        Some(&0x2C) => {
                            self.i += 1;
                            self.ws();
                        }
                        _ => return None,
                    }
                }
            }
            0x6E => self.lit("null").map(|_| false),
            0x74 => self.lit("true").map(|_| false),
            0x66 => self.lit("false").map(|_| false),
            0x4E => self.lit("NaN").map(|_| false),
            0x49 => self.lit("Infinity").map(|_| false),
            0x2D if self.s.get(self.i + 1) == Some(&0x49) => {
                self.i += 1;
                self.lit("Infinity").map(|_| false)
            }
            _ => self.number().map(|_| false),
        }
    }
}

/// `_is_jwt`: the header decodes to a JSON object with an "alg" key.
pub fn is_jwt(v: &[u32]) -> bool {
    let header_end = v.iter().position(|&c| c == '.' as u32).unwrap_or(v.len());
    let Some(bytes) = b64decode(&v[..header_end]) else { return false };
    // detect_encoding: BOMs and NUL patterns; a header "eyJ..." always starts with '{"'.
    if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0 || bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xEF, 0xBB, 0xBF])) {
        return false; // not reachable for an "eyJ" header
    }
    let Some(s) = utf8_surrogatepass(&bytes) else { return false };
    let mut j = Json { s: &s, i: 0 };
    j.ws();
    if j.s.get(j.i) != Some(&0x7B) {
        return false;
    }
    let Some(alg) = j.value(0) else { return false };
    j.ws();
    j.i == s.len() && alg
}

pub fn credential(tx: &Text, out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    let k = Ty::Credential;
    let marks = tx.marks();
    if !marks.token_starts.is_empty() {
        // Every token starts with one of the literal prefixes (case-sensitive pattern).
        // The pattern's look-behind: not after a word character or a '-'.
        let mut starts = marks.token_starts.clone();
        starts.dedup();
        starts.retain(|&p| !glued_before(t, p, "-"));
        r.tokens.finditer_at(&tx.rx, &starts, t.len(), |m| out.push(sp(k, m.start(), m.end(), 0.95)));
    }
    if marks.jwt {
        // Every JWT starts with "eyJ", not after a word character or a '-' (the look-behind).
        let starts: Vec<usize> =
            memchr::memmem::find_iter(&tx.b, b"eyJ").filter(|&p| !glued_before(t, p, "-")).collect();
        r.jwt.finditer_at(&tx.rx, &starts, t.len(), |m| {
            if is_jwt(&t[m.start()..m.end()]) {
                out.push(sp(k, m.start(), m.end(), 0.95));
            }
        });
    }
    if marks.begin {
        r.private_key.finditer(&tx.rx, 0, t.len(), |m| out.push(sp(k, m.start(), m.end(), 1.0)));
    }
    if !marks.scheme_seps.is_empty() {
        // A match is `[a-z][a-z0-9+.\-]*://...`: it starts inside the scheme-character stretch
        // right before some "://".
        let mut starts: Vec<usize> = vec![];
        let scheme_char = |c: u32| c < 128 && ((c as u8).is_ascii_lowercase() || (c as u8).is_ascii_digit() || one_of(c, "+.-"));
        for &q in &marks.scheme_seps {
            let mut s = q;
            while s > 0 && scheme_char(t[s - 1]) {
                s -= 1;
            }
            starts.extend((s..q).filter(|&p| (97..=122).contains(&t[p])));
        }
        starts.sort_unstable();
        starts.dedup();
        r.url_password.finditer_at(&tx.rx, &starts, t.len(), |m| {
            let (a, b) = m.group(pat::URL_PASSWORD_G_VALUE).unwrap();
            out.push(sp(k, a, b, 0.9));
        });
    }
    let lowered = lower_projection(tx);
    let mut hint_at: Vec<usize> = vec![];
    let mut bearer = false;
    lowered_needles().each(&lowered, |pos, n| {
        if n < SECRET_HINTS.len() {
            hint_at.push(pos);
            bearer |= SECRET_HINTS[n] == "token";
        } else {
            bearer = true;
        }
    });
    if !hint_at.is_empty() {
        assignments(tx, &hint_at, out);
    }
    if bearer {
        r.bearer.finditer(&tx.rx, 0, t.len(), |m| {
            let (a, b) = m.group(pat::BEARER_G_VALUE).unwrap();
            out.push(sp(k, a, b, 0.9));
        });
    }
}

/// The first two letters of each secret name of ASSIGNMENT (src/patterns.rs).
const NAME_STARTS: [&[u8; 2]; 11] = [b"pa", b"pw", b"se", b"cl", b"ap", b"ac", b"au", b"to", b"pr", b"cr", b"pi"];

fn assignments(tx: &Text, hint_at: &[usize], out: &mut Vec<Span>) {
    let t = tx.t;
    let r = res();
    let mut windows: Vec<(usize, usize)> =
        hint_at.iter().map(|&a| (a.saturating_sub(20), t.len().min(a + 260))).collect();
    windows.sort();
    let mut merged: Vec<(usize, usize)> = vec![];
    for (s, e) in windows {
        if let Some(last) = merged.last_mut() {
            if s <= last.1 {
                last.1 = last.1.max(e);
                continue;
            }
        }
        merged.push((s, e));
    }
    for (ws, we) in merged {
        // Where a secret name can start: its first two letters, folded as IGNORECASE folds them
        // ('ſ' is an s, 'ı' and 'İ' are i, the Kelvin sign k), start one of the names. Anchored
        // tries there find what `finditer` over the window does.
        let fold = |c: u32| match c {
            65..=90 => c + 32,
            0x17F => 's' as u32,
            0x130 | 0x131 => 'i' as u32,
            0x212A => 'k' as u32,
            _ => c,
        };
        let starts: Vec<usize> = (ws..we.saturating_sub(1))
            .filter(|&p| {
                let pair = [fold(t[p]), fold(t[p + 1])];
                NAME_STARTS.iter().any(|n| pair[0] == n[0] as u32 && pair[1] == n[1] as u32)
            })
            .collect();
        r.assignment.finditer_at(&tx.rx, &starts, we, |m| {
            let groups = [pat::ASSIGNMENT_G_DQ, pat::ASSIGNMENT_G_SQ, pat::ASSIGNMENT_G_BARE];
            let (gi, (start, mut end)) =
                groups.iter().enumerate().find_map(|(i, &g)| m.group(g).map(|s| (i, s))).unwrap();
            if gi == 2 {
                while end > start && one_of(t[end - 1], ".)]}>") {
                    end -= 1;
                }
            }
            let value = &t[start..end];
            if value.len() < 3 || value[0] == '<' as u32 {
                return;
            }
            let lv = lower(value);
            if NOT_SECRETS.iter().any(|w| eq(&lv, w)) {
                return;
            }
            out.push(sp(Ty::Credential, start, end, 0.8));
        });
    }
}

// --------------------------------------------------------------------------------- ANALYZER

pub type DetFn = fn(&Text, &mut Vec<Span>);
pub const DETECTORS: &[(&str, DetFn)] = &[
    ("email", email),
    ("credit_card", credit_card),
    ("maestro", maestro),
    ("phone", phone),
    ("ssn", ssn),
    ("iban", iban),
    ("ip", ip),
    ("credential", credential),
];
