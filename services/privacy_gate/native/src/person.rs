//! Port of people.py `PersonDetector`. Indices are code points, as Python's. People.py's name
//! patterns (_CAPITALISED, _INITIAL, _NEXT_WORD, _INITIAL_NAME, _NAME_AFTER, _CONTRACTION) are
//! hand-coded here, for speed: tests/unit/privacy_gate/test_native_scanners.py compares each with its
//! Python pattern (through lib.rs `_scan`).
use crate::lex::{Lex, Map};
use crate::py::{self, eq, sl, str_isupper};
use std::sync::Arc;

/// people.py `_UPPER`: "A-ZÀ-ÖØ-Þ\u0100-\u017f\u0386-\u03ab\u0400-\u042f".
#[inline]
pub fn upper_set(ch: char) -> bool {
    matches!(ch, 'A'..='Z' | '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{de}' | '\u{100}'..='\u{17f}'
        | '\u{386}'..='\u{3ab}' | '\u{400}'..='\u{42f}')
}

const GIVEN: u8 = 1;
const NAME_WORD: u8 = 2;
const GIVEN_WORD: u8 = 4;
const LEADS: u8 = NAME_WORD | GIVEN_WORD;
const SURNAME: u8 = 8;
const KINDS_KEPT: usize = 50_000;

#[inline]
pub fn at(t: &[char], i: usize) -> char {
    // Out of range: a character no test looks for.
    if i < t.len() {
        t[i]
    } else {
        '\u{0}'
    }
}
#[inline]
fn is_q(c: char) -> bool {
    c == '\'' || c == '\u{2019}' || c == '-'
}
/// The end of `_TAIL` matched greedily from `i`: `[^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*`.
#[inline]
pub fn tail_end(t: &[char], mut i: usize) -> usize {
    let n = t.len();
    while i < n && py::is_letter(t[i]) {
        i += 1;
    }
    while i + 1 < n && is_q(t[i]) && py::is_letter(t[i + 1]) {
        i += 2;
        while i < n && py::is_letter(t[i]) {
            i += 1;
        }
    }
    i
}
/// `_CAPITALISED.finditer`.
pub fn capitalised(t: &[char], b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    // Candidates: A-Z, or any non-ASCII character (0x80 in the byte view), found eight bytes a time.
    while let Some(j) = crate::bytes::next_upper_or_high(b, i) {
        i = j;
        if b[i] < 0x80 || upper_set(t[i]) {
            let e = tail_end(t, i + 1);
            out.push((i, e));
            i = e;
        } else {
            i += 1;
        }
    }
    out
}
/// `_INITIAL.match(text, pos)`.
pub fn initial(t: &[char], pos: usize) -> Option<usize> {
    // ` [A-Z]\.?(?= [UPPER])`: without the full stop, the lookahead would face it, so there is one
    // reading only.
    if at(t, pos) == ' ' && at(t, pos + 1).is_ascii_uppercase() {
        let e = pos + 2;
        if at(t, e) == '.' && at(t, e + 1) == ' ' && upper_set(at(t, e + 2)) {
            return Some(e + 1);
        }
        if at(t, e) == ' ' && upper_set(at(t, e + 1)) {
            return Some(e);
        }
    }
    None
}
const PARTICLES: [&[char]; 10] = [
    &['v', 'a', 'n'], &['v', 'o', 'n'], &['d', 'e'], &['d', 'e', 'l'], &['d', 'a'], &['d', 'i'], &['l', 'e'], &['l', 'a'],
    &['b', 'i', 'n'], &['a', 'l'],
];
/// `_NEXT_WORD.match(text, pos)`: group 1's span (its end is the match's).
pub fn next_word(t: &[char], pos: usize) -> Option<(usize, usize)> {
    if at(t, pos) != ' ' {
        return None;
    }
    for pc in PARTICLES {
        let after = pos + 1 + pc.len();
        if py::starts_with_at(t, pc, pos + 1) && matches!(at(t, after), ' ' | '-') && py::is_letter(at(t, after + 1)) {
            return Some((after + 1, tail_end(t, after + 2)));
        }
    }
    if py::is_letter(at(t, pos + 1)) {
        return Some((pos + 1, tail_end(t, pos + 2)));
    }
    None
}
/// `_INITIAL_NAME.match(text, end)`: group 1's span.
pub fn initial_name(t: &[char], end: usize) -> Option<(usize, usize)> {
    if at(t, end) == ' '
        && at(t, end + 1).is_ascii_uppercase()
        && at(t, end + 2) == '.'
        && at(t, end + 3) == ' '
        && py::is_letter(at(t, end + 4))
    {
        return Some((end + 4, tail_end(t, end + 5)));
    }
    None
}
/// `_NAME_AFTER.match(text, start) is not None`.
pub fn name_after(t: &[char], start: usize) -> bool {
    if !upper_set(at(t, start)) {
        return false;
    }
    let e1 = tail_end(t, start + 1);
    if at(t, e1) != ' ' || !upper_set(at(t, e1 + 1)) {
        return false;
    }
    let e2 = tail_end(t, e1 + 2);
    if e2 >= t.len() || !(py::is_word(t[e2]) || t[e2] == '-') {
        return true;
    }
    // Backtracking out of a `['’\-][^\W\d_]+` group leaves its quote next: `[^\w\-]` matches it.
    t[e1 + 2..e2].iter().any(|&c| c == '\'' || c == '\u{2019}')
}
/// `_contracted`.
pub fn contracted(w: &[char]) -> bool {
    w.windows(2).any(|p| (p[0] == '\'' || p[0] == '\u{2019}') && p[1].is_ascii_lowercase())
}

pub struct Person {
    pub lex: Arc<Lex>,
    kinds: Map<u8>,
}

impl Person {
    pub fn new(lex: Arc<Lex>) -> Person {
        Person { lex, kinds: Map::default() }
    }

    fn possessive(&self, w: &[char]) -> bool {
        self.lex.possessive.iter().any(|p| py::ends_with(w, p))
    }

    /// `t` the text's code points, `b` one byte per code point: ASCII as is, anything else 0x80.
    pub fn detect(&mut self, t: &[char], b: &[u8]) -> Vec<(usize, usize, f64)> {
        let matches = capitalised(t, b);
        let mut found = self.names(t, &matches);
        if !found.is_empty() {
            let more = self.mentions(t, b, &matches, &found);
            found.extend(more);
        }
        found
    }

    fn names(&mut self, t: &[char], matches: &[(usize, usize)]) -> Vec<(usize, usize, f64)> {
        let mut out = Vec::new();
        let mut cursor = 0;
        for (index, &(start, mend)) in matches.iter().enumerate() {
            let mut word = &t[start..mend];
            let before = if start > 0 { t[start - 1] } else { '\n' };
            if start < cursor || py::isalnum(before) || "_@.'-".contains(before) {
                continue;
            }
            if word[0] > '\u{ff}' && !py::isupper(word[0]) {
                continue;
            }
            let possessive = self.possessive(word);
            if possessive {
                word = &word[..word.len() - 2];
            }
            let kind = self.kind(word);
            let end = start + word.len();
            let score;
            if kind & GIVEN != 0 {
                score = 0.6;
            } else {
                let cue = if self.lex.quotes.contains(&before)
                    && (start < 3
                        || before != ' '
                        || self.lex.quotes.contains(&t[start - 2])
                        || self.cue_tail(sl(t, if start > 3 { start - 4 } else { 0 }, start - 1)))
                {
                    self.cued(t, start, word)
                } else {
                    0.0
                };
                if cue > 0.0 {
                    score = cue;
                } else if !(kind & SURNAME != 0
                    || (kind & LEADS != 0
                        && !possessive
                        && at(t, end) == ' '
                        && (kind & GIVEN_WORD != 0 || (end + 1 < t.len() && upper_set(t[end + 1])))))
                {
                    continue;
                } else {
                    let s = self.evidence(t, matches, index, word, kind);
                    if s <= 0.0 {
                        continue;
                    }
                    score = s;
                }
            }
            cursor = if possessive { end } else { self.extend(t, end) };
            out.push((start, cursor, score));
        }
        out
    }

    /// `text[...].lower() in _CUE_TAILS`, without allocating for ASCII.
    #[inline]
    fn cue_tail(&self, s: &[char]) -> bool {
        if s.len() <= 3 && s.iter().all(|c| c.is_ascii()) {
            let mut buf = ['\0'; 3];
            for (b, c) in buf.iter_mut().zip(s) {
                *b = c.to_ascii_lowercase();
            }
            return self.lex.cue_tails.contains(&buf[..s.len()]);
        }
        self.lex.cue_tails.contains(&py::lower(s))
    }

    pub fn kind(&mut self, word: &[char]) -> u8 {
        if let Some(&k) = self.kinds.get(word) {
            return k;
        }
        let lex = &self.lex;
        let mut kind = 0;
        if lex.given.contains(word)
            || (word.contains(&'-') && word.split(|&c| c == '-').all(|part| lex.given.contains(part)))
        {
            kind |= GIVEN;
        }
        if !contracted(word) {
            if self.is_name_word(word) {
                kind |= NAME_WORD;
            }
            if lex.given_words.contains(word) {
                kind |= GIVEN_WORD;
            }
        }
        if self.surname(word) {
            kind |= SURNAME;
        }
        if self.kinds.len() >= KINDS_KEPT {
            self.kinds.clear();
        }
        self.kinds.insert(word.to_vec(), kind);
        kind
    }

    /// `_is_name_word`.
    fn is_name_word(&self, w: &[char]) -> bool {
        w.len() >= 2 && py::isupper(w[0]) && !str_isupper(w) && !self.lex.not_surnames.contains(w)
    }

    /// `_surname_shaped`.
    fn surname_shaped(&self, w: &[char]) -> bool {
        w.len() >= 5
            && Lex::ends_with_any(w, &self.lex.surname_endings)
            && !(py::ends_with(w, &['p', 'e', 'r', 's', 'o', 'n']) || py::ends_with(w, &['P', 'e', 'r', 's', 'o', 'n']))
            && !self.lex.not_surname_shapes.contains(w)
            && self.is_name_word(w)
    }

    /// `_surname`.
    fn surname(&self, mut w: &[char]) -> bool {
        if self.possessive(w) {
            w = &w[..w.len() - 2];
        }
        (self.lex.surnames.contains(&py::capitalize(w)) && !str_isupper(w)) || self.surname_shaped(w)
    }

    fn evidence(&mut self, t: &[char], matches: &[(usize, usize)], index: usize, word: &[char], kind: u8) -> f64 {
        let start = matches[index].0;
        let end = start + word.len();
        let possessive = end < matches[index].1;
        let mut following: Option<(usize, usize)> = None;
        if index + 1 < matches.len() && matches[index + 1].0 == end + 1 && t[end] == ' ' {
            following = Some(matches[index + 1]);
        }
        let given = self.lex.given_words.contains(word);
        if !possessive && kind & LEADS != 0 && (following.is_some() || given || at(t, end + 2) == '.') {
            if let Some((fs, fe)) = following {
                if self.kind(&t[fs..fe]) & SURNAME != 0 {
                    return 0.5;
                }
                if given && self.is_name_word(&t[fs..fe]) && self.mid_sentence(t, start) {
                    return 0.4;
                }
            }
            if at(t, end + 2) == '.' {
                if let Some((a, b)) = initial_name(t, end) {
                    if self.is_name_word(&t[a..b]) {
                        return 0.5;
                    }
                }
            }
            if given && self.lex.person_verbs.contains(&word_after(t, end)) {
                return 0.4;
            }
        }
        if kind & SURNAME == 0 || self.before_number_or_street(t, end) {
            return 0.0;
        }
        if possessive
            || self.lex.person_verbs.contains(&word_after(t, end))
            || self.mid_sentence(t, start)
            || self.listed_surnames(t, matches, index, end)
        {
            return 0.4;
        }
        0.0
    }

    fn listed_surnames(&mut self, t: &[char], matches: &[(usize, usize)], index: usize, end: usize) -> bool {
        let start = matches[index].0;
        let lex = Arc::clone(&self.lex);
        for join in &lex.list_joins {
            if index + 1 < matches.len()
                && matches[index + 1].0 == end + join.len()
                && py::starts_with_at(t, join, end)
                && self.kind(&t[matches[index + 1].0..matches[index + 1].1]) & SURNAME != 0
            {
                return true;
            }
            if index > 0
                && start >= join.len()
                && matches[index - 1].1 == start - join.len()
                && py::ends_with_at(t, join, start)
                && self.kind(&t[matches[index - 1].0..matches[index - 1].1]) & SURNAME != 0
            {
                return true;
            }
        }
        false
    }

    /// `_mid_sentence`.
    fn mid_sentence(&self, t: &[char], start: usize) -> bool {
        if start < 2 || t[start - 1] != ' ' || !py::islower(t[start - 2]) {
            return false;
        }
        let space = py::rfind_char(t, ' ', start.saturating_sub(16), start - 1);
        let word = sl(t, (space + 1) as usize, start - 1);
        py::str_isalpha(word) && py::str_islower(word) && !self.lex.before_places.contains(word)
    }

    /// `_before_number_or_street`.
    fn before_number_or_street(&self, t: &[char], end: usize) -> bool {
        if at(t, end) != ' ' {
            return false;
        }
        match py::first_token(sl(t, end + 1, end + 24)) {
            None => false,
            Some(f) => py::isdigit(f[0]) || self.lex.is_suffix(f) || self.lex.compound_street(f),
        }
    }

    fn mentions(&mut self, t: &[char], b: &[u8], matches: &[(usize, usize)], found: &[(usize, usize, f64)]) -> Vec<(usize, usize, f64)> {
        let mut words = crate::lex::Set::default();
        for &(s, e, _) in found {
            for part in py::split_ws(&t[s..e]) {
                if part.len() >= 3 && self.kind(part) & NAME_WORD != 0 {
                    words.insert(part.to_vec());
                }
            }
        }
        let mut spans: Vec<(usize, usize)> = found.iter().map(|&(s, e, _)| (s, e)).collect();
        spans.sort();
        let mut open_words = Vec::new();
        for (start, mend) in self.candidates(t, b, matches, &words, &spans) {
            if start > 0 && (py::isalnum(t[start - 1]) || "_@.'-".contains(t[start - 1])) {
                continue;
            }
            // bisect_right(spans, (start, len + 1)) - 1: the last span starting at or before `start`.
            let idx = spans.partition_point(|&(s, _)| s <= start);
            if idx == 0 || spans[idx - 1].1 <= start {
                open_words.push((start, mend));
            }
        }
        if open_words.is_empty() {
            return Vec::new();
        }
        let mut starts: crate::lex::USet = spans.iter().map(|s| s.0).collect();
        let mut ends: crate::lex::USet = spans.iter().map(|s| s.1).collect();
        let mut added = Vec::new();
        for _ in 0..3 {
            let mut left = Vec::new();
            for &(start, mend) in &open_words {
                let word = &t[start..mend];
                let possessive = self.possessive(word);
                let bare = if possessive { &word[..word.len() - 2] } else { word };
                let end;
                if words.contains(bare) {
                    let e = start + bare.len();
                    end = if possessive { e } else { self.extend(t, e) };
                } else if self.listed(t, start, start + bare.len(), &starts, &ends) {
                    end = start + bare.len();
                } else {
                    left.push((start, mend));
                    continue;
                }
                starts.insert(start);
                ends.insert(end);
                added.push((start, end, 0.4));
            }
            if left.len() == open_words.len() {
                break;
            }
            open_words = left;
        }
        added
    }

    fn candidates(&mut self, t: &[char], b: &[u8], matches: &[(usize, usize)], words: &crate::lex::Set, names: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let mut found = std::collections::BTreeSet::new();
        let mut bounds: Vec<(usize, usize)> = names.to_vec();
        // Where each word occurs: memmem over the bytes for an ASCII word (a non-ASCII character is
        // 0x80 there, so byte positions are code-point positions), else a scan of the code points.
        for word in words {
            let occurrences: Vec<usize> = if word.iter().all(|c| c.is_ascii()) {
                let needle = crate::bytes::Needle(word.iter().map(|&c| c as u8).collect());
                // Every occurrence (str.find from at + 1 finds overlapping ones too); text.count(word)
                // < 2 (non-overlapping) when none starts past the end of the first: the common case,
                // the word occurs only in its name.
                let all = needle.find_all(b);
                if !all.iter().any(|&p| p >= all.first().map_or(usize::MAX, |f| f + word.len())) {
                    continue;
                }
                all
            } else {
                let all: Vec<usize> = (0..t.len()).filter(|&p| t[p] == word[0] && py::starts_with_at(t, word, p)).collect();
                if !all.iter().any(|&p| p >= all.first().map_or(usize::MAX, |f| f + word.len())) {
                    continue;
                }
                all
            };
            for a in occurrences {
                if let Some(index) = match_at(matches, a) {
                    if !found.contains(&index) {
                        let whole = &t[matches[index].0..matches[index].1];
                        let cut = &whole[..whole.len().saturating_sub(2)];
                        if words.contains(whole) || words.contains(cut) {
                            found.insert(index);
                            bounds.push((a, self.extend(t, a + whole.len())));
                            bounds.push((a, a + whole.len()));
                        }
                    }
                }
            }
        }
        let joins = &self.lex.list_joins;
        while let Some((start, end)) = bounds.pop() {
            let mut joined: Vec<Option<usize>> = Vec::new();
            if self.lex.joins_after.contains(sl(t, end, end + 2)) {
                for join in joins {
                    if py::starts_with_at(t, join, end) {
                        joined.push(match_at(matches, end + join.len()));
                    }
                }
            }
            if start >= 2 && self.lex.joins_before.contains(&t[start - 2..start]) {
                for join in joins {
                    if py::ends_with_at(t, join, start) {
                        joined.push(match_ending_at(matches, start - join.len()));
                    }
                }
            }
            for index in joined.into_iter().flatten() {
                if found.insert(index) {
                    bounds.push(matches[index]);
                }
            }
        }
        found.into_iter().map(|i| matches[i]).collect()
    }

    /// `_listed`.
    fn listed(&self, t: &[char], start: usize, end: usize, starts: &crate::lex::USet, ends: &crate::lex::USet) -> bool {
        let after = sl(t, end, end + 2);
        let before: &[char] = if start >= 2 { &t[start - 2..start] } else { &[] };
        if !self.lex.joins_after.contains(after) && !self.lex.joins_before.contains(before) {
            return false;
        }
        let joined = self.lex.list_joins.iter().any(|join| {
            (starts.contains(&(end + join.len())) && py::starts_with_at(t, join, end))
                || (start >= join.len() && ends.contains(&(start - join.len())) && py::ends_with_at(t, join, start))
        });
        if !joined {
            return false;
        }
        let word = &t[start..end];
        if word.len() < 2 || str_isupper(word) || self.lex.never_surnames.contains(word) || self.lex.not_listed.contains(word) {
            return false;
        }
        !(contracted(word) || self.before_number_or_street(t, end))
    }

    /// `_cued`.
    fn cued(&self, t: &[char], start: usize, word: &[char]) -> f64 {
        let lex = &self.lex;
        let before = &t[if start > 14 { start - 14 } else { 0 }..start];
        let trimmed = py::rstrip(before, " \"'\u{201c}\u{2018}");
        if trimmed.len() == before.len() || trimmed.is_empty() {
            return 0.0;
        }
        let end = start - before.len() + trimmed.len();
        let cut = trimmed
            .iter()
            .rposition(|&c| c == ' ' || c == '\n')
            .map(|p| p + 1)
            .unwrap_or(0);
        let lowered = py::lower(&trimmed[cut..]);
        let last = py::rstrip(&lowered, ".,:?");
        if lex.titles.contains(last) {
            return if word.len() >= 2 && !str_isupper(word) && !lex.never_surnames.contains(word) { 0.8 } else { 0.0 };
        }
        if !lex.cue_endings.contains(last) || !self.is_name_word(word) {
            return 0.0;
        }
        let lowered = py::lower(&t[start.saturating_sub(16)..end]);
        let before = py::rstrip(&lowered, ",:?");
        for cue in &lex.cues {
            if py::ends_with(before, cue) && (before.len() == cue.len() || !py::isalnum(before[before.len() - cue.len() - 1])) {
                if eq(cue, "name") && !self.names_a_person(t, start, before) {
                    return 0.0;
                }
                return 0.7;
            }
        }
        for greeting in &lex.greetings {
            if py::ends_with(before, greeting)
                && (before.len() == greeting.len() || !py::isalnum(before[before.len() - greeting.len() - 1]))
            {
                let tail = sl(t, start, start + 40);
                let after: &[char] = py::first_token(tail).unwrap_or(&[]);
                let lastc = after.last();
                if lastc.is_none() || lastc == Some(&',') || lastc == Some(&'!') || start + after.len() == t.len() {
                    return 0.6;
                }
            }
        }
        0.0
    }

    /// `_names_a_person`.
    fn names_a_person(&self, t: &[char], start: usize, before: &[char]) -> bool {
        let cut = &before[..before.len().saturating_sub(4)];
        if Lex::ends_with_any(py::rstrip_ws(cut), &self.lex.name_kinds) {
            return true;
        }
        name_after(t, start)
    }

    /// `_extend`.
    pub fn extend(&self, t: &[char], mut end: usize) -> usize {
        let mut taken = 0;
        while taken < 3 {
            if let Some(e) = initial(t, end) {
                end = e;
                continue;
            }
            match next_word(t, end) {
                Some((a, b)) if self.is_name_word(&t[a..b]) => {
                    end = b;
                    taken += 1;
                }
                _ => break,
            }
        }
        end
    }
}

/// `_word_after`.
pub fn word_after(t: &[char], end: usize) -> Vec<char> {
    if at(t, end) != ' ' {
        return Vec::new();
    }
    let mut stop = end + 1;
    while stop < t.len() && py::isalpha(t[stop]) && stop - end < 16 {
        stop += 1;
    }
    py::lower(&t[end + 1..stop])
}

/// `_match_at`.
pub fn match_at(matches: &[(usize, usize)], a: usize) -> Option<usize> {
    let i = matches.partition_point(|m| m.0 < a);
    if i < matches.len() && matches[i].0 == a {
        Some(i)
    } else {
        None
    }
}
/// `_match_ending_at`.
fn match_ending_at(matches: &[(usize, usize)], a: usize) -> Option<usize> {
    let i = matches.partition_point(|m| m.0 < a);
    if i >= 1 && matches[i - 1].1 == a {
        Some(i - 1)
    } else {
        None
    }
}
