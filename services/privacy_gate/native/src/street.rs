//! Port of people.py `StreetAddressDetector`. Indices are code points, as Python's.
use crate::bytes::Needle;
use crate::lex::Lex;
use crate::py::{self, eq};
use crate::patterns as pat;
use crate::rx::{Rx, Txt};
use std::sync::Arc;

pub struct Street {
    lex: Arc<Lex>,
    // src/patterns.rs's; people.py's _HOUSE_NUMBER, _STREET_WORDS and _CONTINENTAL_NUMBER are
    // hand-coded below (test_native_scanners.py compares them).
    block_part: Rx,
    same_line_unit: Rx,
    city_state_zip: Rx,
    secondary: Rx,
    po_box: Rx,
    military: [Rx; 2],
    street_cue: Rx,
    literal_ac: aho_corasick::AhoCorasick,
    po_a: Needle,
}

/// `pattern.match(text, at).end()`.
#[inline]
fn match_end(r: &Rx, h: &Txt, at: usize) -> Option<usize> {
    r.match_at(h, at, h.cps.len()).map(|m| m.end())
}

/// A house number that closes a street ("Via Roma 12"): the whole word is `[0-9]{1,5}[A-Za-z]?\.?`.
fn number_token(word: &[char]) -> bool {
    let digits = word.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut rest = &word[digits..];
    if let [c, tail @ ..] = rest {
        if c.is_ascii_alphabetic() {
            rest = tail;
        }
    }
    (1..=5).contains(&digits) && matches!(rest, [] | ['.'])
}

/// A text's code points as u32, for the regexes (a char is a u32 holding a Unicode scalar value).
pub fn code_points(t: &[char]) -> &[u32] {
    // SAFETY: char has the size and alignment of u32, and every char is a valid u32.
    unsafe { std::slice::from_raw_parts(t.as_ptr() as *const u32, t.len()) }
}

impl Street {
    pub fn new(lex: Arc<Lex>) -> Street {
        Street {
            lex,
            block_part: Rx::linear(pat::BLOCK_PART),
            same_line_unit: Rx::fancy(pat::SAME_LINE_UNIT),
            city_state_zip: Rx::linear(pat::CITY_STATE_ZIP),
            secondary: Rx::linear(pat::SECONDARY),
            po_box: Rx::linear(pat::PO_BOX),
            military: [Rx::linear(pat::MILITARY_BOX), Rx::linear(pat::MILITARY_SHIP)],
            street_cue: Rx::linear(&pat::ignore_case(pat::STREET_CUE)),
            literal_ac: aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build([
                    "live", "Live", "LIVE", "locat", "Locat", "situat", "Situat", "based", "Based", "corner", "Corner",
                    "side of", "Side of", "address", "Address", "ADDRESS", "Apt.", "Apartment", "Suite", "Ste.",
                ])
                .expect("literal patterns"),
            po_a: Needle::new("PO A"),
        }
    }

    /// `_street_words(_STREET_WORDS.match(text, at))`: the tokens, as (start, end) in the text.
    fn street_words<'a>(&self, t: &'a [char], pos: usize) -> Option<Vec<&'a [char]>> {
        let e = street_words_end(t, pos)?;
        Some(t[pos + 1..e].split(|&ch| ch == ' ').collect())
    }

    fn plain_word(&self, word: &[char]) -> bool {
        let word = py::rstrip(word, ",");
        !(py::isupper(word[0]) || py::isdigit(word[0]) || self.lex.street_first_words.contains(word) || self.lex.street_particles.contains(word))
    }

    fn word_end(&self, start: usize, word: &[char]) -> usize {
        let mut end = start + word.len();
        let mut word = word;
        if word.last() == Some(&',') {
            end -= 1;
            word = &word[..word.len() - 1];
        }
        if word.last() == Some(&'.') && !self.lex.abbreviations.contains(&word[..word.len() - 1]) && !self.lex.street_first_words.contains(word) {
            end -= 1;
        }
        end
    }

    /// `_street_end`.
    fn street_end(&self, tokens: &[&[char]], mut at: usize, number: &[char]) -> Option<usize> {
        let lex = &*self.lex;
        let first = tokens[0];
        let mut words = 0;
        let mut fallback = None;
        for (index, &token) in tokens.iter().enumerate() {
            let word = py::rstrip(token, ",");
            if word.first().map_or(false, |&ch| py::isdigit(ch)) && number_token(word) {
                if words == 0 || py::ends_with(word, &['0', 's']) {
                    return fallback;
                }
                let before = py::rstrip(tokens[index - 1], ",");
                let is_year = number.len() == 4 && (py::starts_with(number, &['1', '9']) || py::starts_with(number, &['2', '0']));
                if !(lex.street_first_words.contains(first) || lex.compound_street(before))
                    && (is_year || words > 5 || tokens[..index].iter().any(|tk| lex.headline_words.contains(*tk)))
                {
                    return fallback;
                }
                if index + 1 < tokens.len() && lex.is_suffix(py::rstrip(tokens[index + 1], ".,")) {
                    return Some(self.word_end(at + token.len() + 1, tokens[index + 1]));
                }
                return Some(self.word_end(at, token));
            }
            let bare = py::rstrip(word, ".");
            if lex.calendar.contains(bare) {
                return None;
            }
            if index > 0 && words > 0 && lex.is_suffix(bare) {
                if word.last() != Some(&'.') || lex.abbreviations.contains(bare) {
                    let following: &[char] = if index + 1 < tokens.len() { py::rstrip(tokens[index + 1], ".,") } else { &[] };
                    if lex.directions.contains(following) {
                        return Some(at + token.len() + 1 + following.len());
                    }
                }
                return Some(self.word_end(at, token));
            }
            // word is never empty: a token starts with a letter, a digit or "C/".
            let w0 = word[0];
            if py::isupper(w0) || lex.street_first_words.contains(word) || py::isdigit(w0) {
                words += 1;
                if py::isupper(w0) && words >= 2 && lex.street_first_words.contains(first) {
                    fallback = Some(self.word_end(at, token));
                }
            } else if !lex.street_particles.contains(word) {
                return fallback;
            }
            if token.last() == Some(&',') || (word.last() == Some(&'.') && !lex.abbreviations.contains(bare) && index > 0) {
                return fallback;
            }
            at += token.len() + 1;
        }
        fallback
    }

    fn block_end(&self, t: &[char], h: &Txt, five: &FiveDigits, mut end: usize) -> usize {
        let n = t.len();
        // `,?[ ]+` then a unit word's first character: else no unit.
        let mut k = end;
        if k < n && t[k] == ',' {
            k += 1;
        }
        let spaces = k;
        while k < n && t[k] == ' ' {
            k += 1;
        }
        if k > spaces && k < n && matches!(t[k], 'A' | 'S' | 'U' | 'F' | 'R' | '#') {
            if let Some(e) = match_end(&self.same_line_unit, h, end) {
                end = e;
            }
        }
        // `[ ]+` then a letter: else no "City, ST 12345".
        let mut k = end;
        while k < n && t[k] == ' ' {
            k += 1;
        }
        if k > end && k < n && py::is_letter(t[k]) && five.on_line(t, k) {
            if let Some(e) = match_end(&self.city_state_zip, h, end) {
                return e;
            }
        }
        for _ in 0..4 {
            // A part starts with a break: a comma or a line break (spaces may come first), or two spaces.
            let mut k = end;
            while k < n && t[k] == ' ' {
                k += 1;
            }
            let breaks = k >= end + 2 || (k < n && (t[k] == '\n' || (t[k] == ',' && k == end)));
            if !breaks {
                break;
            }
            match match_end(&self.block_part, h, end) {
                Some(e) => end = e,
                None => break,
            }
        }
        end
    }

    fn after_unit_word(&self, t: &[char], start: usize) -> bool {
        let before = py::rstrip_ws(&t[start.saturating_sub(8)..start]);
        if before.is_empty() {
            return false;
        }
        let cut = before.iter().rposition(|&ch| py::isspace(ch)).map(|p| p + 1).unwrap_or(0);
        self.lex.unit_words.contains(&py::lower(&before[cut..]))
    }

    fn starts_part(t: &[char], start: usize) -> bool {
        let before = py::rstrip(&t[start.saturating_sub(4)..start], " ");
        start == 0 || before.is_empty() || matches!(before[before.len() - 1], '\n' | ',') || eq(&t[start.saturating_sub(2)..start], "  ")
    }

    fn and_street(&self, t: &[char], end: usize, out: &mut Vec<(usize, usize, f64)>) {
        let and: Vec<char> = " and ".chars().collect();
        if !py::starts_with_at(t, &and, end) || !(end + 5 < t.len() && py::isupper(t[end + 5])) {
            return;
        }
        let Some(tokens) = self.street_words(t, end + 4) else { return };
        if let Some(second) = self.street_end(&tokens, end + 5, &[]) {
            out.push((end + 5, second, 0.6));
        }
    }

    /// `_street_cues`: the cue pattern tried where one of `_STREET_CUE_HINTS` starts, found with
    /// memmem over the text's ASCII bytes (a hint is ASCII, so it starts where its bytes do).
    fn street_cues(&self, t: &[char], h: &Txt, starts: &[usize]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for &a in starts {
            if a > 0 && py::is_word(t[a - 1]) {
                continue;
            }
            if let Some(e) = match_end(&self.street_cue, h, a) {
                found.push((a, e));
            }
        }
        found
    }

    /// `t` the text's code points, `b` one byte per code point: ASCII as is, anything else 0x80.
    /// `utf8` is the text's UTF-8 form when at hand (see `Txt::new`).
    pub fn detect(&self, t: &[char], b: &[u8], utf8: Option<&str>) -> Vec<(usize, usize, f64)> {
        self.detect_in(t, b, &Txt::new(code_points(t), utf8))
    }

    /// `detect` with the text's regex form at hand (`h`, of the same text).
    pub fn detect_in(&self, t: &[char], b: &[u8], h: &Txt) -> Vec<(usize, usize, f64)> {
        let lex = &*self.lex;
        let five = FiveDigits::default();
        let mut out = Vec::new();
        let mut cursor = 0;
        let mut covered = Vec::new();
        for (start, nend) in house_numbers(t, b) {
            if start < cursor || (start > 0 && (py::is_word(t[start - 1]) || ".,:/-#$€£".contains(t[start - 1]))) {
                continue;
            }
            let Some(tokens) = self.street_words(t, nend) else { continue };
            if self.plain_word(tokens[0]) {
                continue;
            }
            let t0 = tokens[0];
            let end = if py::isdigit(t0[0]) && tokens.len() > 1 && !py::isalpha(t0[t0.len() - 1]) {
                self.street_end(&tokens[1..], nend + t0.len() + 2, t0)
            } else {
                self.street_end(&tokens, nend + 1, &t[start..nend])
            };
            let Some(end) = end else { continue };
            if self.after_unit_word(t, start) {
                continue;
            }
            cursor = self.block_end(t, &h, &five, end);
            covered.push((start, cursor));
            out.push((start, cursor, 0.7));
            self.and_street(t, end, &mut out);
        }
        // Where the street cues' hints and SECONDARY's literals start: one Aho-Corasick pass.
        let mut hint_starts: Vec<usize> = Vec::new();
        let mut literal_starts: Vec<usize> = Vec::new();
        // Leftmost, without overlaps: an occurrence that starts inside another follows one of its
        // letters (no pattern starts with 'o', the letter after the only space), so it would be glued,
        // and skipped by both users; and none of the patterns holds another.
        for m in self.literal_ac.find_iter(b) {
            if m.pattern().as_usize() < 16 {
                hint_starts.push(m.start());
            } else {
                literal_starts.push(m.start());
            }
        }
        for (_cs, ce) in self.street_cues(t, &h, &hint_starts) {
            if ce < cursor {
                continue;
            }
            let Some(tokens) = self.street_words(t, ce - 1) else { continue };
            if !py::isupper(t[ce]) {
                continue;
            }
            if let Some(end) = self.street_end(&tokens, ce, &[]) {
                if !lex.calendar.contains(tokens[0]) {
                    out.push((ce, self.block_end(t, &h, &five, end), 0.6));
                    self.and_street(t, end, &mut out);
                }
            }
        }
        self.continental(t, b, &covered, &mut out);
        // people.py first looks for "Apt.", "Box", "PO A": a shortcut only, as each pattern holds them.
        // SECONDARY starts with one of four literals: its matches, in order, without overlaps.
        // SECONDARY and PO_BOX start with literals: their matches, in order, without overlaps, are
        // found trying the pattern where its first literal occurs.
        let mut next = 0;
        for s in literal_starts {
            if s < next {
                continue;
            }
            if let Some(e) = match_end(&self.secondary, &h, s) {
                next = e;
                if !(s > 0 && py::is_word(t[s - 1])) && (t[s] == 'A' || Self::starts_part(t, s)) {
                    out.push((s, self.block_end(t, &h, &five, e), 0.6));
                }
            }
        }
        let mut next = 0;
        for s in memchr::memchr_iter(b'P', b) {
            if s < next {
                continue;
            }
            if let Some(e) = match_end(&self.po_box, &h, s) {
                next = e;
                if !(s > 0 && py::is_word(t[s - 1])) {
                    out.push((s, self.block_end(t, &h, &five, e), 0.8));
                }
            }
        }
        if self.po_a.find(b, 0).is_some() {
            let mut mil = Vec::new();
            for r in &self.military {
                r.finditer(&h, 0, t.len(), |m| mil.push((m.start(), m.end())));
            }
            mil.sort_by_key(|m| m.0);
            for (s, e) in mil {
                if !(s > 0 && py::is_word(t[s - 1])) {
                    out.push((s, e, 0.8));
                }
            }
        }
        out
    }

    fn continental(&self, t: &[char], b: &[u8], covered: &[(usize, usize)], out: &mut Vec<(usize, usize, f64)>) {
        let lex = &*self.lex;
        let mut spans = covered.iter();
        let mut span = spans.next();
        for (a, nend) in continental_numbers(t, b) {
            while let Some(s) = span {
                if s.1 <= a {
                    span = spans.next();
                } else {
                    break;
                }
            }
            if let Some(s) = span {
                if s.0 <= a {
                    continue;
                }
            }
            let space = py::rfind_char(t, ' ', a.saturating_sub(40), a);
            let last = py::rstrip(&t[(space + 1) as usize..a], ",");
            if !last.first().map_or(false, |&ch| py::isupper(ch)) && !lex.street_particles.contains(last) {
                continue;
            }
            if lex.compound_street(last) {
                out.push((a - last.len(), nend, 0.6));
                continue;
            }
            let window = py::rstrip(&t[a.saturating_sub(60)..a], ",");
            let words: Vec<&[char]> = window.split(|&ch| ch == ' ').collect();
            let mut length = 0;
            for word in words[words.len().saturating_sub(6)..].iter().rev() {
                if lex.street_first_words.contains(*word) {
                    if length > 0 {
                        out.push((a - length - word.len(), nend, 0.6));
                    }
                    break;
                }
                if !(word.first().map_or(false, |&ch| py::isupper(ch)) || lex.street_particles.contains(*word)) {
                    break;
                }
                length += word.len() + 1;
            }
        }
    }
}

/// `_HOUSE_NUMBER.finditer`, by hand: each digit found fast, then the lookbehind's test of the
/// character before it, then the rest of the pattern.
pub fn house_numbers(t: &[char], b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(d) = crate::bytes::next_digit(b, i) {
        i = d;
        if !(i > 0 && (py::is_word(t[i - 1]) || ".,:/-#$€£".contains(t[i - 1]))) {
            if let Some(e) = house_rest(t, i + 1) {
                out.push((i, e));
                i = e;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `_STREET_WORDS.match(text, pos).end()`, by hand: each repetition is settled by its first choice
/// that matches (nothing follows the repetition, so none is ever taken back), and each choice is
/// deterministic (see the notes).
pub fn street_words_end(t: &[char], pos: usize) -> Option<usize> {
    let n = t.len();
    let boundary_after_word = |i: usize| i >= n || !py::is_word(t[i]);
    let mut p = pos;
    let mut count = 0;
    while count < 7 && p < n && t[p] == ' ' {
        let q = p + 1;
        let end = if q < n && py::is_letter(t[q]) {
            let mut e = q + 1;
            while e < n && (py::is_word(t[e]) || matches!(t[e], '\'' | '\u{2019}' | '-')) {
                e += 1;
            }
            if e < n && t[e] == '.' {
                e += 1;
            }
            Some(e)
        } else if q < n && t[q].is_ascii_digit() {
            let mut r = 0;
            while q + r < n && t[q + r].is_ascii_digit() {
                r += 1;
            }
            let d = q + r;
            // [0-9]{1,3}(?:st|nd|rd|th)\b: only the whole run can precede the letters.
            let ordinal = r <= 3
                && d + 1 < n
                && matches!((t[d], t[d + 1]), ('s', 't') | ('n', 'd') | ('r', 'd') | ('t', 'h'))
                && boundary_after_word(d + 2);
            if ordinal {
                Some(d + 2)
            } else if r <= 5 {
                // [0-9]{1,5}[A-Za-z]?\b\.?: after a shorter run a digit follows, never a boundary.
                let e = if d < n && t[d].is_ascii_alphabetic() && boundary_after_word(d + 1) {
                    Some(d + 1)
                } else if boundary_after_word(d) {
                    Some(d)
                } else {
                    None
                };
                e.map(|e| if e < n && t[e] == '.' { e + 1 } else { e })
            } else {
                None
            }
        } else if q + 1 < n && t[q] == 'C' && t[q + 1] == '/' {
            Some(q + 2)
        } else {
            None
        };
        match end {
            Some(e) => {
                p = e;
                count += 1;
            }
            None => break,
        }
    }
    if count == 0 {
        None
    } else {
        Some(p)
    }
}

fn digit_run(t: &[char], from: usize) -> usize {
    let mut r = 0;
    while from + r < t.len() && t[from + r].is_ascii_digit() {
        r += 1;
    }
    r
}

/// After a house number's first digit: `[0-9]{0,5}[A-Za-z]?(?:-[0-9]{1,4})?(?= )`, by hand. Every
/// backtracking step leaves a digit, a letter or a hyphen where the space must be, so the greedy
/// reading is the only one that can match.
fn house_rest(t: &[char], q: usize) -> Option<usize> {
    let r = digit_run(t, q);
    if r > 5 {
        return None;
    }
    let mut e = q + r;
    if e < t.len() && t[e].is_ascii_alphabetic() {
        e += 1;
    }
    if e < t.len() && t[e] == '-' {
        let r2 = digit_run(t, e + 1);
        if r2 == 0 || r2 > 4 {
            return None;
        }
        e += 1 + r2;
    }
    if e < t.len() && t[e] == ' ' {
        Some(e)
    } else {
        None
    }
}

/// `_CONTINENTAL_NUMBER.finditer(text)`: ` [0-9]{1,5}[a-zA-Z]?\b`, by hand (a shorter run of digits
/// leaves a digit next, never a boundary).
pub fn continental_numbers(t: &[char], b: &[u8]) -> Vec<(usize, usize)> {
    let n = t.len();
    let no_word = |i: usize| i >= n || !py::is_word(t[i]);
    let mut out = Vec::new();
    let mut from = 1;
    // A space, then a digit: each digit found fast, then the space before it looked at.
    while let Some(j) = crate::bytes::next_digit(b, from) {
        let i = j - 1;
        if t[i] == ' ' {
            let r = digit_run(t, j);
            let d = j + r;
            if r <= 5 {
                let end = if d < n && t[d].is_ascii_alphabetic() && no_word(d + 1) {
                    Some(d + 1)
                } else if no_word(d) {
                    Some(d)
                } else {
                    None
                };
                if let Some(e) = end {
                    out.push((i, e));
                    from = e + 1;
                    continue;
                }
            }
        }
        from = j + 1;
    }
    out
}

/// Whether five ASCII digits in a row follow a position before its line ends ("City, ST 12345"
/// needs them, and none of its parts holds a line break), answered from two tables made on the
/// first question: block_end asks once per address, and a scan to the end of the line each time
/// would make a long line of house numbers quadratic.
#[derive(Default)]
struct FiveDigits {
    tables: std::cell::OnceCell<(Vec<u32>, Vec<u32>)>,
}

impl FiveDigits {
    fn on_line(&self, t: &[char], from: usize) -> bool {
        let (run, line_end) = self.tables.get_or_init(|| {
            // run[i]: where the first run of five digits at or after i starts (n if none);
            // line_end[i]: the first line break at or after i (n if none).
            let n = t.len();
            let (mut run, mut line_end) = (vec![n as u32; n + 1], vec![n as u32; n + 1]);
            let mut digits = 0;
            for i in (0..n).rev() {
                digits = if t[i].is_ascii_digit() { digits + 1 } else { 0 };
                run[i] = if digits >= 5 { i as u32 } else { run[i + 1] };
                line_end[i] = if t[i] == '\n' { i as u32 } else { line_end[i + 1] };
            }
            (run, line_end)
        });
        run[from] as usize + 5 <= line_end[from] as usize
    }
}
