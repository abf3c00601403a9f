//! Python `str` semantics over code points: predicates and case maps generated from the Python
//! that runs the detectors (see gen_tables.py), so they never differ from it.
use crate::pytables::{FLAG_RUNS, LOWER_MAP, TITLE_MAP};
use std::sync::OnceLock;

pub const ALPHA: u8 = 1;
pub const DECIMAL: u8 = 2;
pub const DIGIT: u8 = 4;
pub const ALNUM: u8 = 8;
pub const UPPER: u8 = 16;
pub const LOWER: u8 = 32;
pub const TITLE: u8 = 64;
pub const SPACE: u8 = 128;

static TABLE: OnceLock<Vec<u8>> = OnceLock::new();

pub fn table() -> &'static [u8] {
    TABLE.get_or_init(|| {
        let mut t = vec![0u8; 0x110000];
        for (i, &(start, f)) in FLAG_RUNS.iter().enumerate() {
            let stop = FLAG_RUNS.get(i + 1).map(|r| r.0).unwrap_or(0x110000);
            for cp in start..stop {
                t[cp as usize] = f;
            }
        }
        t
    })
}

/// The flags of the Basic Multilingual Plane, worked out at compile time from the runs.
static BMP: [u8; 0x10000] = bmp();

const fn bmp() -> [u8; 0x10000] {
    let mut t = [0u8; 0x10000];
    let mut i = 0;
    while i < FLAG_RUNS.len() {
        let (start, f) = FLAG_RUNS[i];
        let stop = if i + 1 < FLAG_RUNS.len() { FLAG_RUNS[i + 1].0 } else { 0x110000 };
        let mut cp = start;
        while cp < stop && cp < 0x10000 {
            t[cp as usize] = f;
            cp += 1;
        }
        i += 1;
    }
    t
}

#[inline]
pub fn flags(c: char) -> u8 {
    let cp = c as usize;
    if cp < 0x10000 {
        BMP[cp]
    } else {
        table()[cp]
    }
}
/// The flags of a code point given as a number, as the structured detectors read texts: lone
/// surrogates (which no `char` can hold) included, for which no predicate holds.
#[inline]
pub fn flags_cp(cp: u32) -> u8 {
    if cp < 0x10000 {
        BMP[cp as usize]
    } else if cp < 0x110000 {
        table()[cp as usize]
    } else {
        0
    }
}
#[inline]
pub fn isalpha(c: char) -> bool {
    flags(c) & ALPHA != 0
}
#[inline]
pub fn isdigit(c: char) -> bool {
    flags(c) & DIGIT != 0
}
#[inline]
pub fn isalnum(c: char) -> bool {
    flags(c) & ALNUM != 0
}
#[inline]
pub fn isupper(c: char) -> bool {
    flags(c) & UPPER != 0
}
#[inline]
pub fn islower(c: char) -> bool {
    flags(c) & LOWER != 0
}
#[inline]
pub fn isspace(c: char) -> bool {
    flags(c) & SPACE != 0
}
/// `re` `\w`: isalnum or '_'.
#[inline]
pub fn is_word(c: char) -> bool {
    c == '_' || isalnum(c)
}
/// `re` `[^\W\d_]`: a word character that is neither a decimal digit nor '_'.
#[inline]
pub fn is_letter(c: char) -> bool {
    flags(c) & (ALNUM | DECIMAL) == ALNUM
}

/// `str.isupper()`: no lower- or title-case character and at least one upper-case one.
pub fn str_isupper(s: &[char]) -> bool {
    if s.len() == 1 {
        return isupper(s[0]);
    }
    let mut cased = false;
    for &c in s {
        let f = flags(c);
        if f & (LOWER | TITLE) != 0 {
            return false;
        }
        if f & UPPER != 0 {
            cased = true;
        }
    }
    cased
}
/// `str.islower()`.
pub fn str_islower(s: &[char]) -> bool {
    if s.len() == 1 {
        return islower(s[0]);
    }
    let mut cased = false;
    for &c in s {
        let f = flags(c);
        if f & (UPPER | TITLE) != 0 {
            return false;
        }
        if f & LOWER != 0 {
            cased = true;
        }
    }
    cased
}
pub fn str_isalpha(s: &[char]) -> bool {
    !s.is_empty() && s.iter().all(|&c| isalpha(c))
}

fn lookup(map: &'static [(u32, &'static str)], c: char) -> Option<&'static str> {
    map.binary_search_by_key(&(c as u32), |e| e.0).ok().map(|i| map[i].1)
}

/// Push `c.lower()` (the full mapping; a capital sigma always becomes 'σ': Python's final-sigma rule
/// only chooses between 'σ' and 'ς', which no caller can tell apart).
#[inline]
pub fn push_lower(out: &mut Vec<char>, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if let Some(m) = lookup(LOWER_MAP, c) {
        out.extend(m.chars());
    } else {
        out.push(c);
    }
}
pub fn lower(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        push_lower(&mut out, c);
    }
    out
}
/// `str.capitalize()`: the first character in title case, the rest lower-cased.
pub fn capitalize(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len());
    if let Some((&first, rest)) = s.split_first() {
        if first.is_ascii() {
            out.push(first.to_ascii_uppercase());
        } else if let Some(m) = lookup(TITLE_MAP, first) {
            out.extend(m.chars());
        } else {
            out.push(first);
        }
        for &c in rest {
            push_lower(&mut out, c);
        }
    }
    out
}

// ---- slicing and searching with Python's semantics (indices clamp; -1 for "not found") ----

/// `text[a:b]` with a, b already non-negative; clamped like Python.
#[inline]
pub fn sl(t: &[char], a: usize, b: usize) -> &[char] {
    let n = t.len();
    let a = a.min(n);
    let b = b.min(n);
    if a >= b {
        &t[0..0]
    } else {
        &t[a..b]
    }
}
#[inline]
pub fn eq(s: &[char], lit: &str) -> bool {
    let mut it = s.iter();
    for c in lit.chars() {
        match it.next() {
            Some(&x) if x == c => {}
            _ => return false,
        }
    }
    it.next().is_none()
}
/// Slice equality by a loop: the slices compared are a few characters long, shorter than a call
/// to memcmp is worth.
#[inline]
pub fn same(a: &[char], b: &[char]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
#[inline]
pub fn starts_with(s: &[char], p: &[char]) -> bool {
    s.len() >= p.len() && same(&s[..p.len()], p)
}
#[inline]
pub fn ends_with(s: &[char], p: &[char]) -> bool {
    s.len() >= p.len() && same(&s[s.len() - p.len()..], p)
}
/// `text.startswith(p, at)`.
#[inline]
pub fn starts_with_at(t: &[char], p: &[char], at: usize) -> bool {
    at <= t.len() && starts_with(&t[at..], p)
}
/// `text.endswith(p, 0, end)`.
#[inline]
pub fn ends_with_at(t: &[char], p: &[char], end: usize) -> bool {
    ends_with(&t[..end.min(t.len())], p)
}
/// `text.rfind(c, a, b)` for one character.
pub fn rfind_char(t: &[char], c: char, a: usize, b: usize) -> isize {
    let b = b.min(t.len());
    let mut i = b;
    while i > a {
        i -= 1;
        if t[i] == c {
            return i as isize;
        }
    }
    -1
}
/// `s.rstrip(chars)`.
pub fn rstrip<'a>(s: &'a [char], chars: &str) -> &'a [char] {
    let mut e = s.len();
    while e > 0 && chars.contains(s[e - 1]) {
        e -= 1;
    }
    &s[..e]
}
/// `s.rstrip()` (whitespace).
pub fn rstrip_ws(s: &[char]) -> &[char] {
    let mut e = s.len();
    while e > 0 && isspace(s[e - 1]) {
        e -= 1;
    }
    &s[..e]
}
/// `s.split(None, 1)[0]` when s holds a non-space character, else None (`s.split()` is empty).
pub fn first_token(s: &[char]) -> Option<&[char]> {
    let a = s.iter().position(|&c| !isspace(c))?;
    let b = s[a..].iter().position(|&c| isspace(c)).map(|p| a + p).unwrap_or(s.len());
    Some(&s[a..b])
}
/// `s.split()`.
pub fn split_ws(s: &[char]) -> Vec<&[char]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && isspace(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        let a = i;
        while i < s.len() && !isspace(s[i]) {
            i += 1;
        }
        out.push(&s[a..i]);
    }
    out
}
