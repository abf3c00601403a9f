//! Hand-written equivalents of the simple whole-text scanners (same matches as Python's finditer
//! with its backtracking). They start from the text's ASCII digit runs, computed once, so text
//! without digits costs nothing.

#[inline(always)]
fn digit(c: u32) -> bool {
    (48..=57).contains(&c)
}

/// Maximal runs of ASCII digits, as (start, end).
pub fn digit_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = b.len();
    while i < n {
        if b[i].is_ascii_digit() {
            let s = i;
            i += 1;
            while i < n && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((s, i));
        }
        i += 1;
    }
    out
}

/// `[0-9][0-9 -]{11,}[0-9]` (CreditCardDetector._CANDIDATES).finditer(t).
/// A candidate starts at a digit; after a match or a failure the scan resumes at a non-digit, so
/// only run starts can start one.
pub fn cc_candidates(t: &[u32], runs: &[(usize, usize)], mut f: impl FnMut(usize, usize)) {
    let end = t.len();
    let mut cursor = 0;
    for &(i, _) in runs {
        if i < cursor {
            continue;
        }
        let mut j = i + 1;
        while j < end && (digit(t[j]) || t[j] == 32 || t[j] == 45) {
            j += 1;
        }
        // The last digit of the stretch, at least 12 characters after the start.
        let mut k = j - 1;
        while k >= i + 12 && !digit(t[k]) {
            k -= 1;
        }
        if k >= i + 12 {
            f(i, k + 1);
            cursor = k + 1;
        } else {
            cursor = j; // every later start in this stretch shares its last digit: also too short
        }
    }
}

/// `[0-9]+(?:[ -][0-9]+)*` (CreditCardDetector._RUN).finditer(t, pos, end).
pub fn cc_runs(t: &[u32], pos: usize, end: usize, mut f: impl FnMut(usize, usize)) {
    let mut i = pos;
    while i < end {
        if !digit(t[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < end && digit(t[i]) {
            i += 1;
        }
        while i + 1 < end && (t[i] == 32 || t[i] == 45) && digit(t[i + 1]) {
            i += 1;
            while i < end && digit(t[i]) {
                i += 1;
            }
        }
        f(s, i);
    }
}

#[inline(always)]
fn phone_mid(c: u32) -> bool {
    // [0-9 ().\-\u00a0xet]
    digit(c) || matches!(c, 32 | 40 | 41 | 46 | 45 | 0xA0 | 120 | 101 | 116)
}

/// `[+(0-9][0-9 ().\-\u00a0xet]{4,}[0-9]` (_PHONE_CANDIDATES).finditer(t).
/// Starts are '+', '(' and digits; after a match or a failure the scan resumes at a non-digit, so
/// only digit-run starts and the '+'/'(' positions (`marks`) can start one.
pub fn phone_candidates(t: &[u32], runs: &[(usize, usize)], marks: &[usize], mut f: impl FnMut(usize, usize)) {
    let end = t.len();
    let mut cursor = 0;
    let (mut a, mut m) = (0, 0);
    loop {
        // Merge the two sorted start lists.
        let i = match (runs.get(a), marks.get(m)) {
            (Some(&(r, _)), Some(&k)) => {
                if r < k {
                    a += 1;
                    r
                } else {
                    m += 1;
                    k
                }
            }
            (Some(&(r, _)), None) => {
                a += 1;
                r
            }
            (None, Some(&k)) => {
                m += 1;
                k
            }
            (None, None) => break,
        };
        if i < cursor {
            continue;
        }
        let mut j = i + 1;
        while j < end && phone_mid(t[j]) {
            j += 1;
        }
        let mut k = j - 1;
        while k >= i + 5 && !digit(t[k]) {
            k -= 1;
        }
        if k >= i + 5 {
            f(i, k + 1);
            cursor = k + 1;
        } else {
            // Later starts in the stretch share its last digit: also too short. The stretch holds
            // no '+', so the next possible start is at j or after.
            cursor = j;
        }
    }
}

#[inline(always)]
fn upper(c: u32) -> bool {
    (65..=90).contains(&c)
}

/// `[A-Z]{2}[0-9]{2}[ A-Z0-9]{11,}` (_IBAN_CANDIDATES).finditer(t): a start is two letters right
/// before a digit run of two or more.
pub fn iban_candidates(t: &[u32], runs: &[(usize, usize)], mut f: impl FnMut(usize, usize)) {
    let end = t.len();
    let mut cursor = 0;
    for &(rs, re) in runs {
        if rs < 2 || re - rs < 2 || rs - 2 < cursor {
            continue;
        }
        let i = rs - 2;
        if !(upper(t[i]) && upper(t[i + 1])) {
            continue;
        }
        let mut j = i + 4;
        while j < end && (t[j] == 32 || upper(t[j]) || digit(t[j])) {
            j += 1;
        }
        if j - (i + 4) >= 11 {
            f(i, j);
            cursor = j;
        }
    }
}

/// `([0-9]{3})([- .]?)([0-9]{2})\2([0-9]{4})` (_SSN).finditer(t): (start, end, separator length).
pub fn ssn(t: &[u32], runs: &[(usize, usize)], mut f: impl FnMut(usize, usize, usize)) {
    let end = t.len();
    let d = |i: usize| i < end && digit(t[i]);
    let mut cursor = 0;
    for &(rs, re) in runs {
        let mut i = rs.max(cursor);
        while i + 3 <= re {
            let p = i + 3;
            // With a separator (greedy '?'), then without.
            if p < end && matches!(t[p], 45 | 32 | 46) {
                let sep = t[p];
                let g = p + 1;
                if d(g) && d(g + 1) && g + 2 < end && t[g + 2] == sep && (0..4).all(|k| d(g + 3 + k)) {
                    f(i, g + 7, 1);
                    cursor = g + 7;
                    break;
                }
            }
            if d(p) && d(p + 1) && (0..4).all(|k| d(p + 2 + k)) {
                f(i, p + 6, 0);
                cursor = p + 6;
                i = cursor;
                continue;
            }
            i += 1;
        }
    }
}

/// `[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}` (_IPV4).finditer(t).
pub fn ipv4(t: &[u32], runs: &[(usize, usize)], mut f: impl FnMut(usize, usize)) {
    let end = t.len();
    let run3 = |p: usize| {
        let mut n = 0;
        while n < 3 && p + n < end && digit(t[p + n]) {
            n += 1;
        }
        n
    };
    let mut cursor = 0;
    for &(rs, re) in runs {
        let mut i = rs.max(cursor);
        'pos: while i < re {
            let mut p = i;
            for _ in 0..3 {
                let n = run3(p);
                if n == 0 || p + n >= end || t[p + n] != 46 {
                    i += 1;
                    continue 'pos;
                }
                p += n + 1;
            }
            let n = run3(p);
            if n == 0 {
                i += 1;
                continue;
            }
            f(i, p + n);
            cursor = p + n;
            i = cursor;
        }
    }
}

/// `[0-9]{12}` (_TWELVE).finditer(t).
pub fn twelve(runs: &[(usize, usize)], mut f: impl FnMut(usize, usize)) {
    for &(s, e) in runs {
        let mut p = s;
        while p + 12 <= e {
            f(p, p + 12);
            p += 12;
        }
    }
}

/// Finds occurrences (overlapping) of several ASCII needles of two bytes or more in one pass,
/// through a 64K-bit table of their first two bytes.
pub struct PairScan {
    table: Vec<u64>,
    /// (first two bytes, needle index), sorted.
    heads: Vec<(u16, usize)>,
    needles: Vec<Vec<u8>>,
}

impl PairScan {
    pub fn new(needles: &[&str]) -> PairScan {
        let mut table = vec![0u64; 1024];
        let mut heads = vec![];
        for (i, n) in needles.iter().enumerate() {
            let b = n.as_bytes();
            assert!(b.len() >= 2);
            let key = (b[0] as u16) << 8 | b[1] as u16;
            table[(key >> 6) as usize] |= 1u64 << (key & 63);
            heads.push((key, i));
        }
        heads.sort();
        PairScan { table, heads, needles: needles.iter().map(|s| s.as_bytes().to_vec()).collect() }
    }

    /// Calls f(position, needle index) for each occurrence, in position order.
    #[inline]
    pub fn each(&self, b: &[u8], mut f: impl FnMut(usize, usize)) {
        if b.len() < 2 {
            return;
        }
        let table: &[u64; 1024] = self.table[..].try_into().unwrap();
        let mut key = b[0] as u16;
        for i in 0..b.len() - 1 {
            key = (key << 8) | b[i + 1] as u16;
            if (table[(key >> 6) as usize] >> (key & 63)) & 1 == 0 {
                continue;
            }
            let from = self.heads.partition_point(|h| h.0 < key);
            for &(k, n) in &self.heads[from..] {
                if k != key {
                    break;
                }
                let nd = &self.needles[n];
                if i + nd.len() <= b.len() && b[i + 2..i + nd.len()] == nd[2..] {
                    f(i, n);
                }
            }
        }
    }
}

/// Length of the ASCII digit run at p, not past end.
#[inline]
/// The length of the run of digits at p, counted up to `cap` (each caller needs to know no more:
/// counting a long run whole at each of its matches would make a run of digits quadratic).
fn run_len(t: &[u32], p: usize, end: usize, cap: usize) -> usize {
    let mut q = p;
    let stop = end.min(p.saturating_add(cap));
    while q < stop && digit(t[q]) {
        q += 1;
    }
    q - p
}

/// `\([0-9]{1,5}\)[ ]?` at p: the position after it.
#[inline]
fn paren_code(t: &[u32], p: usize, end: usize) -> Option<usize> {
    if p >= end || t[p] != 40 {
        return None;
    }
    let r = run_len(t, p + 1, end, 6);
    if !(1..=5).contains(&r) || p + 1 + r >= end || t[p + 1 + r] != 41 {
        return None;
    }
    let q = p + 2 + r;
    Some(if q < end && t[q] == 32 { q + 1 } else { q })
}

/// `_LOOSE_PHONE.match(text, p, end)` (end only). Nothing after the alternation can fail (the
/// extension is optional), so the first solution of the first matching alternative is the match;
/// each greedy digit repeat either takes its maximum or fails (a separator or ')' must follow).
pub fn loose_phone_at(t: &[u32], p: usize, end: usize) -> Option<usize> {
    let alt_a = || -> Option<usize> {
        // (?:\([0-9]{1,5}\)[ ]?)?[0-9]{1,6}(?:[ .\-][0-9]{2,8}){1,4}
        let q = if p < end && t[p] == 40 { paren_code(t, p, end)? } else { p };
        let d = run_len(t, q, end, 7);
        if d == 0 || d > 6 {
            return None;
        }
        let mut e = q + d;
        let mut groups = 0;
        while groups < 4 && e < end && matches!(t[e], 32 | 46 | 45) {
            let r = run_len(t, e + 1, end, 9);
            if r < 2 {
                break;
            }
            e += 1 + r.min(8);
            groups += 1;
        }
        if groups == 0 { None } else { Some(e) }
    };
    let alt_b = || -> Option<usize> {
        // \([0-9]{1,5}\)[ ]?[0-9]{5,10}
        let q = paren_code(t, p, end)?;
        let r = run_len(t, q, end, 11);
        if r >= 5 { Some(q + r.min(10)) } else { None }
    };
    let alt_c = || -> Option<usize> {
        // [0-9]{6,15}
        let r = run_len(t, p, end, 16);
        if r >= 6 { Some(p + r.min(15)) } else { None }
    };
    let e = alt_a().or_else(alt_b).or_else(alt_c)?;
    // (?:[ ]?(?:x|ext\.?)[ ]?[0-9]{1,5})?
    let ext = || -> Option<usize> {
        let mut s = e;
        if s < end && t[s] == 32 {
            s += 1;
        }
        if s < end && t[s] == 120 {
            s += 1;
        } else if s + 3 <= end && t[s] == 101 && t[s + 1] == 120 && t[s + 2] == 116 {
            s += 3;
            if s < end && t[s] == 46 {
                s += 1;
            }
        } else {
            return None;
        }
        if s < end && t[s] == 32 {
            s += 1;
        }
        let r = run_len(t, s, end, 6);
        if r >= 1 { Some(s + r.min(5)) } else { None }
    };
    Some(ext().unwrap_or(e))
}

/// `_LOOSE_PHONE.finditer(text, start, end)`: (start, end) of each match.
pub fn loose_phone(t: &[u32], start: usize, end: usize, mut f: impl FnMut(usize, usize)) {
    let mut p = start;
    while p < end {
        let c = t[p];
        if digit(c) || c == 40 {
            if let Some(e) = loose_phone_at(t, p, end) {
                f(p, e);
                p = e;
                continue;
            }
        }
        p += 1;
    }
}
