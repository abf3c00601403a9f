//! A small backtracking matcher with the semantics of Python's `re` (leftmost, greedy quantifiers
//! backtracking one step at a time, alternatives in order), over code points, with `\w`, `\d`,
//! `\s` and `\b` as Python's Unicode-aware classes. Enough for the few patterns of people.py that
//! `regex` cannot express (lookahead) or would answer differently (Unicode classes, backtracking
//! order).
use crate::py;

pub enum N {
    /// One character satisfying a predicate.
    C(fn(char) -> bool),
    /// A literal.
    Lit(Vec<char>),
    /// A literal matched as `(?i:...)` does in Python: the pattern in lower case; 'i' also matches
    /// 'ı' and 'İ', 's' also 'ſ', 'k' also the Kelvin sign (sre's case-folding equivalences).
    CiLit(Vec<char>),
    Seq(Vec<N>),
    Alt(Vec<N>),
    /// Greedy repetition min..=max.
    Rep(Box<N>, usize, usize),
    /// Positive lookahead.
    Look(Box<N>),
    /// `\b`.
    WordB,
    /// `$` without MULTILINE: the end, or before a final line break.
    End,
}

pub fn c(f: fn(char) -> bool) -> N {
    N::C(f)
}
pub fn lit(s: &str) -> N {
    N::Lit(s.chars().collect())
}
pub fn ci(s: &str) -> N {
    N::CiLit(s.chars().collect())
}
pub fn seq(v: Vec<N>) -> N {
    N::Seq(v)
}
pub fn alt(v: Vec<N>) -> N {
    N::Alt(v)
}
pub fn rep(n: N, min: usize, max: usize) -> N {
    N::Rep(Box::new(n), min, max)
}
pub fn opt(n: N) -> N {
    rep(n, 0, 1)
}
pub fn star(n: N) -> N {
    rep(n, 0, usize::MAX)
}
pub fn plus(n: N) -> N {
    rep(n, 1, usize::MAX)
}
pub fn look(n: N) -> N {
    N::Look(Box::new(n))
}

#[inline]
fn ci_eq(c: char, p: char) -> bool {
    c.to_ascii_lowercase() == p
        || match p {
            'i' => c == '\u{131}' || c == '\u{130}',
            's' => c == '\u{17f}',
            'k' => c == '\u{212a}',
            _ => false,
        }
}

pub fn m(n: &N, t: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match n {
        N::C(f) => i < t.len() && f(t[i]) && k(i + 1),
        N::Lit(s) => py::starts_with_at(t, s, i) && k(i + s.len()),
        N::CiLit(s) => {
            i + s.len() <= t.len() && s.iter().zip(&t[i..]).all(|(&p, &c)| ci_eq(c, p)) && k(i + s.len())
        }
        N::Seq(v) => seq_m(v, t, i, k),
        N::Alt(v) => {
            for a in v {
                if m(a, t, i, k) {
                    return true;
                }
            }
            false
        }
        N::Rep(b, min, max) => {
            if let N::C(f) = **b {
                // One character a time: take the longest run, then give back one at a time.
                let mut run = 0;
                while run < *max && i + run < t.len() && f(t[i + run]) {
                    run += 1;
                }
                if run < *min {
                    return false;
                }
                let mut n = run;
                loop {
                    if k(i + n) {
                        return true;
                    }
                    if n == *min {
                        return false;
                    }
                    n -= 1;
                }
            }
            rep_m(b, *min, *max, 0, t, i, k)
        }
        N::Look(b) => m(b, t, i, &mut |_| true) && k(i),
        N::WordB => {
            let a = i > 0 && i <= t.len() && py::is_word(t[i - 1]);
            let b = i < t.len() && py::is_word(t[i]);
            a != b && k(i)
        }
        N::End => (i == t.len() || (i + 1 == t.len() && t[i] == '\n')) && k(i),
    }
}

fn seq_m(v: &[N], t: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match v.split_first() {
        None => k(i),
        Some((first, rest)) => m(first, t, i, &mut |j| seq_m(rest, t, j, k)),
    }
}

fn rep_m(b: &N, min: usize, max: usize, count: usize, t: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    if count < max
        && m(b, t, i, &mut |j| {
            if j == i && count >= min {
                return false;
            }
            rep_m(b, min, max, count + 1, t, j, k)
        })
    {
        return true;
    }
    count >= min && k(i)
}

/// `pattern.match(text, at)`: the end of the match, if any.
pub fn match_at(n: &N, t: &[char], at: usize) -> Option<usize> {
    let mut end = None;
    if m(n, t, at, &mut |j| {
        end = Some(j);
        true
    }) {
        end
    } else {
        None
    }
}

/// `pattern.fullmatch(s)`.
pub fn fullmatch(n: &N, s: &[char]) -> bool {
    m(n, s, 0, &mut |j| j == s.len())
}

/// `pattern.finditer(text)` for a pattern that never matches the empty string; `first` is a cheap
/// test of the first character, to skip positions fast.
pub fn find_all(n: &N, t: &[char], first: fn(char) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if first(t[i]) {
            if let Some(e) = match_at(n, t, i) {
                out.push((i, e));
                i = if e > i { e } else { i + 1 };
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `find_all` with a prefilter that sees the text and the position.
pub fn find_all_pre(n: &N, t: &[char], first: impl Fn(&[char], usize) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if first(t, i) {
            if let Some(e) = match_at(n, t, i) {
                out.push((i, e));
                i = if e > i { e } else { i + 1 };
                continue;
            }
        }
        i += 1;
    }
    out
}

// Python's classes.
pub fn w(ch: char) -> bool {
    py::is_word(ch)
}
pub fn d(ch: char) -> bool {
    py::isdecimal(ch)
}
pub fn s(ch: char) -> bool {
    py::isspace(ch)
}
pub fn letter(ch: char) -> bool {
    py::is_letter(ch)
}
pub fn ascii_digit(ch: char) -> bool {
    ch.is_ascii_digit()
}
pub fn ascii_upper(ch: char) -> bool {
    ch.is_ascii_uppercase()
}
pub fn ascii_alpha(ch: char) -> bool {
    ch.is_ascii_alphabetic()
}
pub fn space(ch: char) -> bool {
    ch == ' '
}
/// people.py `_UPPER`: "A-ZÀ-ÖØ-Þ\u0100-\u017f\u0386-\u03ab\u0400-\u042f".
pub fn upper_set(ch: char) -> bool {
    matches!(ch, 'A'..='Z' | '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{de}' | '\u{100}'..='\u{17f}'
        | '\u{386}'..='\u{3ab}' | '\u{400}'..='\u{42f}')
}
