//! The crate's regex engine: a small backtracking matcher with CPython `sre` semantics for the
//! patterns of gen.rs (compiled by gen_patterns.py from the Python modules' `re` patterns):
//! leftmost-first alternation, greedy/lazy repeats with backtracking, fixed-width lookbehind that
//! sees before `pos`, lookahead and `$`/`\b` that see only up to `endpos`, group references.
//! Texts are slices of code points, so positions are Python str indices.

use crate::gen::CLASSES;
use std::sync::OnceLock;

// The whole of sre's syntax the generator may emit, used by today's patterns or not.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug)]
pub enum At {
    Boundary,
    NonBoundary,
    End,
    EndString,
    Begin,
}

#[allow(dead_code)]
#[derive(Clone, Debug)]
pub enum Node {
    Char(u32),
    NotChar(u32),
    Class(usize),
    Seq(Vec<usize>),
    Branch(Vec<usize>),
    Group(usize, usize),
    Repeat(usize, usize, usize, bool),
    Ahead(usize, bool),
    Behind(usize, usize, bool),
    At(At),
    GroupRef(usize),
}

pub struct Cls {
    ascii: u128,
    ranges: &'static [(u32, u32)],
}

impl Cls {
    #[inline(always)]
    pub fn has(&self, c: u32) -> bool {
        if c < 128 {
            (self.ascii >> c) & 1 == 1
        } else {
            let r = self.ranges;
            // binary search for the last range with start <= c
            let mut lo = 0usize;
            let mut hi = r.len();
            while lo < hi {
                let mid = (lo + hi) / 2;
                if r[mid].0 <= c {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo > 0 && c <= r[lo - 1].1
        }
    }
}

static CLS: OnceLock<Vec<Cls>> = OnceLock::new();

pub fn classes() -> &'static [Cls] {
    CLS.get_or_init(|| {
        CLASSES
            .iter()
            .map(|ranges| {
                let mut ascii = 0u128;
                for &(a, b) in ranges.iter() {
                    let mut c = a;
                    while c <= b && c < 128 {
                        ascii |= 1u128 << c;
                        c += 1;
                    }
                }
                Cls { ascii, ranges }
            })
            .collect()
    })
}

pub type Caps = Vec<(usize, usize)>;
pub const UNSET: usize = usize::MAX;

pub struct St<'a> {
    t: &'a [u32],
    end: usize,
    caps: Caps,
    cls: &'static [Cls],
}

pub struct Regex {
    nodes: Vec<Node>,
    root: usize,
    ngroups: usize,
    /// Single-char nodes one of which must match the first character (prefilter), if known.
    first: Option<Vec<usize>>,
    /// The ASCII characters that can start a match, and whether a non-ASCII one can.
    first_ascii: u128,
    first_nonascii: bool,
    /// Per node: for a Branch, each alternative's ASCII first characters (all ones when unknown),
    /// so alternatives that cannot start with the current character are skipped.
    alt_first: Vec<Vec<u128>>,
    /// For each ASCII first character, the ASCII characters that can follow it at a match start
    /// (all ones when unknown); a non-ASCII second character is always let through.
    second: Vec<u128>,
    /// A leading `(?<!class)` of width one: positions whose previous character is in it are skipped.
    lead_not_behind: Option<usize>,
    /// Per node: the ASCII characters that can stand right after a match of it, where what follows
    /// it goes on matching (all ones when unknown), so a greedy repeat gives back only to positions
    /// its continuation can start at (sre's check of the literal after a repeat, generalised).
    follow: Vec<u128>,
}

type K<'k, 'a> = &'k mut dyn FnMut(&mut St<'a>, usize) -> bool;

impl Regex {
    pub fn new(nodes: Vec<Node>, root: usize, ngroups: usize) -> Regex {
        let mut r =
            Regex {
            nodes,
            root,
            ngroups,
            first: None,
            first_ascii: 0,
            first_nonascii: false,
            alt_first: vec![],
            second: vec![u128::MAX; 128],
            lead_not_behind: None,
            follow: vec![],
        };
        if let Node::Seq(v) = &r.nodes[root] {
            if let Node::Behind(child, 1, true) = r.nodes[v[0]] {
                if r.is_single(child) {
                    r.lead_not_behind = Some(child);
                }
            }
        }
        r.first = r.first_of(root);
        let cls = classes();
        let alt_first: Vec<Vec<u128>> = (0..r.nodes.len())
            .map(|n| match &r.nodes[n] {
                Node::Branch(v) => v
                    .iter()
                    .map(|&k| match r.first_of(k) {
                        None => u128::MAX,
                        Some(f) => {
                            let mut bits = 0u128;
                            for c in 0..128u32 {
                                if f.iter().any(|&x| r.single(x, c, cls).unwrap()) {
                                    bits |= 1u128 << c;
                                }
                            }
                            bits
                        }
                    })
                    .collect(),
                _ => vec![],
            })
            .collect();
        r.alt_first = alt_first;
        let mut follow = vec![0u128; r.nodes.len()];
        r.set_follow(root, u128::MAX, &mut follow, cls);
        r.follow = follow;
        if let Some(pairs) = r.prefix2(root) {
            let mut second = vec![0u128; 128];
            for (a, b) in pairs {
                for c1 in 0..128u32 {
                    if !r.single(a, c1, cls).unwrap() {
                        continue;
                    }
                    match b {
                        None => second[c1 as usize] = u128::MAX,
                        Some(b) => {
                            for c2 in 0..128u32 {
                                if r.single(b, c2, cls).unwrap() {
                                    second[c1 as usize] |= 1u128 << c2;
                                }
                            }
                        }
                    }
                }
            }
            r.second = second;
        }
        if let Some(f) = &r.first {
            let cls = classes();
            for c in 0..128u32 {
                if f.iter().any(|&n| r.single(n, c, cls).unwrap()) {
                    r.first_ascii |= 1u128 << c;
                }
            }
            r.first_nonascii = f.iter().any(|&n| match &r.nodes[n] {
                Node::Char(x) => *x >= 128,
                Node::NotChar(_) => true,
                Node::Class(id) => !CLASSES[*id].is_empty() && CLASSES[*id].last().unwrap().1 >= 128,
                _ => true,
            });
        }
        r
    }

    /// (bits, nullable): at a position before the end, a match of the node can start only where the
    /// character is non-ASCII or in bits, unless the node can match without consuming one (nullable).
    /// Zero-width assertions consume nothing, but `$` needs a line break there, a positive lookahead
    /// needs its own first character, and `\Z` matches only at the end.
    fn first_set(&self, n: usize, cls: &[Cls]) -> (u128, bool) {
        match &self.nodes[n] {
            Node::Char(_) | Node::NotChar(_) | Node::Class(_) => {
                let mut bits = 0u128;
                for c in 0..128u32 {
                    if self.single(n, c, cls).unwrap() {
                        bits |= 1u128 << c;
                    }
                }
                (bits, false)
            }
            Node::Seq(v) => {
                let mut bits = 0u128;
                for &k in v {
                    let (b, nullable) = self.first_set(k, cls);
                    bits |= b;
                    if !nullable {
                        return (bits, false);
                    }
                }
                (bits, true)
            }
            Node::Branch(v) => {
                let mut bits = 0u128;
                let mut nullable = false;
                for &k in v {
                    let (b, nl) = self.first_set(k, cls);
                    bits |= b;
                    nullable |= nl;
                }
                (bits, nullable)
            }
            Node::Group(_, k) => self.first_set(*k, cls),
            Node::Repeat(k, lo, _, _) => {
                let (b, nullable) = self.first_set(*k, cls);
                (b, nullable || *lo == 0)
            }
            Node::Ahead(k, false) => self.first_set(*k, cls),
            Node::Ahead(_, true) | Node::Behind(..) => (0, true),
            Node::At(At::End) => (1u128 << 10, false),
            Node::At(At::EndString) => (0, false),
            Node::At(_) => (0, true),
            Node::GroupRef(_) => (u128::MAX, true),
        }
    }

    /// Fills `out` with each node's follow set (see `follow`), `f` being what may follow node `n`.
    fn set_follow(&self, n: usize, f: u128, out: &mut [u128], cls: &[Cls]) {
        out[n] |= f;
        let f = out[n];
        match &self.nodes[n] {
            Node::Seq(v) => {
                let mut acc = f;
                for &k in v.iter().rev() {
                    self.set_follow(k, acc, out, cls);
                    let (b, nullable) = self.first_set(k, cls);
                    acc = if nullable { b | acc } else { b };
                }
            }
            Node::Branch(v) => {
                for &k in v {
                    self.set_follow(k, f, out, cls);
                }
            }
            Node::Group(_, k) => self.set_follow(*k, f, out, cls),
            Node::Repeat(k, _, _, _) => {
                let (b, _) = self.first_set(*k, cls);
                self.set_follow(*k, b | f, out, cls);
            }
            // What a lookaround's match is followed by is not looked at.
            Node::Ahead(k, _) | Node::Behind(k, _, _) => self.set_follow(*k, u128::MAX, out, cls),
            _ => {}
        }
    }

    fn first_of(&self, n: usize) -> Option<Vec<usize>> {
        match &self.nodes[n] {
            Node::Char(_) | Node::NotChar(_) | Node::Class(_) => Some(vec![n]),
            Node::Seq(v) => {
                let mut out = vec![];
                for &k in v {
                    match &self.nodes[k] {
                        Node::Ahead(..) | Node::Behind(..) | Node::At(_) => continue,
                        Node::Repeat(inner, 0, _, _) => {
                            out.extend(self.first_of(*inner)?);
                            continue;
                        }
                        _ => {
                            out.extend(self.first_of(k)?);
                            return Some(out);
                        }
                    }
                }
                None
            }
            Node::Branch(v) => {
                let mut out = vec![];
                for &k in v {
                    out.extend(self.first_of(k)?);
                }
                Some(out)
            }
            Node::Group(_, k) => self.first_of(*k),
            Node::Repeat(k, lo, _, _) if *lo >= 1 => self.first_of(*k),
            _ => None,
        }
    }

    /// (first, second) single-char nodes a match must start with (second None: unknown), if known.
    fn prefix2(&self, n: usize) -> Option<Vec<(usize, Option<usize>)>> {
        let fallback = |r: &Self| r.first_of(n).map(|f| f.into_iter().map(|x| (x, None)).collect());
        match &self.nodes[n] {
            Node::Char(_) | Node::NotChar(_) | Node::Class(_) => Some(vec![(n, None)]),
            Node::Seq(v) => {
                let mut i = 0;
                while i < v.len() && matches!(self.nodes[v[i]], Node::Ahead(..) | Node::Behind(..) | Node::At(_)) {
                    i += 1;
                }
                if i == v.len() {
                    return None;
                }
                let k = v[i];
                if self.is_single(k) {
                    let second = v.get(i + 1).copied().filter(|&x| self.is_single(x));
                    return Some(vec![(k, second)]);
                }
                match &self.nodes[k] {
                    Node::Branch(_) | Node::Group(..) => self.prefix2(k),
                    Node::Repeat(inner, lo, _, _) if *lo >= 1 && self.is_single(*inner) => {
                        Some(vec![(*inner, if *lo >= 2 { Some(*inner) } else { None })])
                    }
                    _ => fallback(self),
                }
            }
            Node::Branch(v) => {
                let mut out = vec![];
                for &k in v {
                    out.extend(self.prefix2(k)?);
                }
                Some(out)
            }
            Node::Group(_, k) => self.prefix2(*k),
            _ => fallback(self),
        }
    }

    #[inline(always)]
    fn single(&self, n: usize, c: u32, cls: &[Cls]) -> Option<bool> {
        match &self.nodes[n] {
            Node::Char(x) => Some(c == *x),
            Node::NotChar(x) => Some(c != *x),
            Node::Class(id) => Some(cls[*id].has(c)),
            _ => None,
        }
    }

    fn is_single(&self, n: usize) -> bool {
        matches!(self.nodes[n], Node::Char(_) | Node::NotChar(_) | Node::Class(_))
    }

    fn word(st: &St, i: usize) -> bool {
        crate::structured::is_word(st.t[i])
    }

    fn m<'a>(&self, n: usize, pos: usize, st: &mut St<'a>, k: K<'_, 'a>) -> bool {
        match &self.nodes[n] {
            Node::Char(_) | Node::NotChar(_) | Node::Class(_) => {
                if pos < st.end && self.single(n, st.t[pos], st.cls).unwrap() {
                    k(st, pos + 1)
                } else {
                    false
                }
            }
            Node::Seq(v) => self.seq(v, 0, pos, st, k),
            Node::Branch(v) => {
                let c = if pos < st.end { st.t[pos] } else { u32::MAX };
                let firsts = &self.alt_first[n];
                for (i, &b) in v.iter().enumerate() {
                    // An alternative that must start with an ASCII character other than c cannot match.
                    if c < 128 && (firsts[i] >> c) & 1 == 0 {
                        continue;
                    }
                    if self.m(b, pos, st, k) {
                        return true;
                    }
                }
                false
            }
            Node::Group(g, child) => {
                let g = *g;
                self.m(*child, pos, st, &mut |st: &mut St<'a>, p| {
                    let old = st.caps[g];
                    st.caps[g] = (pos, p);
                    if k(st, p) {
                        true
                    } else {
                        st.caps[g] = old;
                        false
                    }
                })
            }
            Node::Repeat(child, lo, hi, greedy) => {
                let (child, lo, hi, greedy) = (*child, *lo, *hi, *greedy);
                if self.is_single(child) {
                    if greedy {
                        let mut count = 0usize;
                        while count < hi
                            && pos + count < st.end
                            && self.single(child, st.t[pos + count], st.cls).unwrap()
                        {
                            count += 1;
                        }
                        if count < lo {
                            return false;
                        }
                        let follow = self.follow[n];
                        let mut c = count;
                        loop {
                            // Give back only to where the continuation can start.
                            let p = pos + c;
                            let next = if p < st.end { st.t[p] } else { u32::MAX };
                            if (next >= 128 || (follow >> next) & 1 == 1) && k(st, p) {
                                return true;
                            }
                            if c == lo {
                                return false;
                            }
                            c -= 1;
                        }
                    } else {
                        let mut c = 0usize;
                        while c < lo {
                            if pos + c < st.end && self.single(child, st.t[pos + c], st.cls).unwrap() {
                                c += 1;
                            } else {
                                return false;
                            }
                        }
                        loop {
                            if k(st, pos + c) {
                                return true;
                            }
                            if c >= hi
                                || pos + c >= st.end
                                || !self.single(child, st.t[pos + c], st.cls).unwrap()
                            {
                                return false;
                            }
                            c += 1;
                        }
                    }
                } else {
                    self.rep(child, lo, hi, greedy, 0, pos, st, k)
                }
            }
            Node::Ahead(child, neg) => {
                let (child, neg) = (*child, *neg);
                let saved = if neg { None } else { Some(st.caps.clone()) };
                let r = self.m(child, pos, st, &mut |_, _| true);
                if neg {
                    if r { false } else { k(st, pos) }
                } else if r {
                    if k(st, pos) {
                        true
                    } else {
                        st.caps = saved.unwrap();
                        false
                    }
                } else {
                    false
                }
            }
            Node::Behind(child, width, neg) => {
                let (child, width, neg) = (*child, *width, *neg);
                let r = if pos < width {
                    false
                } else {
                    // The lookbehind sees the real text before pos, bounded by pos.
                    let end = st.end;
                    st.end = pos;
                    let r = self.m(child, pos - width, st, &mut |_, p| p == pos);
                    st.end = end;
                    r
                };
                if r != neg { k(st, pos) } else { false }
            }
            Node::At(kind) => {
                if Self::at(kind, pos, st) { k(st, pos) } else { false }
            }
            Node::GroupRef(g) => {
                let (s, e) = st.caps[*g];
                if s == UNSET {
                    return false;
                }
                let len = e - s;
                if pos + len > st.end || st.t[s..e] != st.t[pos..pos + len] {
                    return false;
                }
                k(st, pos + len)
            }
        }
    }

    /// Whether an anchor holds at `pos`: ^, \Z, $ (also before a final line break), \b and \B
    /// (never true in an empty window, as in sre).
    fn at(kind: &At, pos: usize, st: &St) -> bool {
        match kind {
            At::Begin => pos == 0,
            At::EndString => pos == st.end,
            At::End => pos == st.end || (pos + 1 == st.end && st.t[pos] == 10),
            At::Boundary | At::NonBoundary => {
                if st.end == 0 {
                    false
                } else {
                    let that = pos > 0 && Self::word(st, pos - 1);
                    let this = pos < st.end && Self::word(st, pos);
                    (this != that) == matches!(kind, At::Boundary)
                }
            }
        }
    }

    /// Zero-width assertions evaluated in place (sre never backtracks into them).
    fn assertion(&self, n: usize, pos: usize, st: &mut St) -> Option<bool> {
        Some(match &self.nodes[n] {
            Node::Ahead(child, neg) => self.m(*child, pos, st, &mut |_, _| true) != *neg,
            Node::Behind(child, width, neg) => {
                let r = if pos < *width {
                    false
                } else {
                    let end = st.end;
                    st.end = pos;
                    let r = self.m(*child, pos - width, st, &mut |_, p| p == pos);
                    st.end = end;
                    r
                };
                r != *neg
            }
            Node::At(kind) => Self::at(kind, pos, st),
            _ => return None,
        })
    }

    fn seq<'a>(&self, v: &[usize], i: usize, pos: usize, st: &mut St<'a>, k: K<'_, 'a>) -> bool {
        // Elements with a single way to match (characters, fixed repeats of one, assertions)
        // are matched in a loop; only the others need a continuation.
        let (mut i, mut pos) = (i, pos);
        loop {
            if i == v.len() {
                return k(st, pos);
            }
            let n = v[i];
            match &self.nodes[n] {
                Node::Char(_) | Node::NotChar(_) | Node::Class(_) => {
                    if pos < st.end && self.single(n, st.t[pos], st.cls).unwrap() {
                        pos += 1;
                        i += 1;
                        continue;
                    }
                    return false;
                }
                Node::Repeat(child, lo, hi, _) if lo == hi && self.is_single(*child) => {
                    let (child, lo) = (*child, *lo);
                    if pos + lo > st.end {
                        return false;
                    }
                    for j in pos..pos + lo {
                        if !self.single(child, st.t[j], st.cls).unwrap() {
                            return false;
                        }
                    }
                    pos += lo;
                    i += 1;
                    continue;
                }
                Node::Ahead(..) | Node::Behind(..) | Node::At(_) => {
                    if !self.assertion(n, pos, st).unwrap() {
                        return false;
                    }
                    i += 1;
                    continue;
                }
                _ => break,
            }
        }
        if i + 1 == v.len() {
            return self.m(v[i], pos, st, k);
        }
        self.m(v[i], pos, st, &mut |st: &mut St<'a>, p| self.seq(v, i + 1, p, st, k))
    }

    #[allow(clippy::too_many_arguments)]
    fn rep<'a>(
        &self,
        child: usize,
        lo: usize,
        hi: usize,
        greedy: bool,
        count: usize,
        pos: usize,
        st: &mut St<'a>,
        k: K<'_, 'a>,
    ) -> bool {
        if greedy {
            if count < hi
                && self.m(child, pos, st, &mut |st: &mut St<'a>, p| {
                    if p == pos {
                        return false; // zero-width iteration
                    }
                    self.rep(child, lo, hi, greedy, count + 1, p, st, k)
                })
            {
                return true;
            }
            count >= lo && k(st, pos)
        } else {
            if count >= lo && k(st, pos) {
                return true;
            }
            count < hi
                && self.m(child, pos, st, &mut |st: &mut St<'a>, p| {
                    if p == pos {
                        return false;
                    }
                    self.rep(child, lo, hi, greedy, count + 1, p, st, k)
                })
        }
    }

    fn state<'a>(&self, t: &'a [u32], endpos: usize) -> St<'a> {
        St { t, end: endpos.min(t.len()), caps: vec![(UNSET, UNSET); self.ngroups.max(1)], cls: classes() }
    }

    fn try_at<'a>(&self, st: &mut St<'a>, pos: usize) -> Option<usize> {
        for c in st.caps.iter_mut() {
            *c = (UNSET, UNSET);
        }
        let mut out = UNSET;
        if self.m(self.root, pos, st, &mut |_, p| {
            out = p;
            true
        }) {
            Some(out)
        } else {
            None
        }
    }

    /// `pattern.match(text, pos, endpos)`: (end, captures) of a match starting at pos.
    pub fn match_at(&self, t: &[u32], pos: usize, endpos: usize) -> Option<Match> {
        let mut st = self.state(t, endpos);
        if pos > st.end {
            return None;
        }
        let end = self.try_at(&mut st, pos)?;
        let mut caps = st.caps;
        caps[0] = (pos, end);
        Some(Match { caps })
    }

    fn search_from<'a>(&self, st: &mut St<'a>, pos: usize) -> Option<(usize, usize)> {
        let mut p = pos;
        let firsts = self.first.as_deref();
        while p <= st.end {
            if let Some(f) = firsts {
                // Skip to the next position whose character can start a match.
                loop {
                    if p >= st.end {
                        return None;
                    }
                    let c = st.t[p];
                    if c < 128 {
                        if (self.first_ascii >> c) & 1 == 1 {
                            let c2 = if p + 1 < st.end { st.t[p + 1] } else { u32::MAX };
                            if c2 >= 128 || (self.second[c as usize] >> c2) & 1 == 1 {
                                break;
                            }
                        }
                    } else if self.first_nonascii && f.iter().any(|&n| self.single(n, c, st.cls).unwrap()) {
                        break;
                    }
                    p += 1;
                }
            }
            if let Some(nb) = self.lead_not_behind {
                if p > 0 && self.single(nb, st.t[p - 1], st.cls).unwrap() {
                    p += 1;
                    continue;
                }
            }
            if let Some(e) = self.try_at(st, p) {
                return Some((p, e));
            }
            p += 1;
        }
        None
    }

    /// A state without captures for a pattern without groups: nothing to allocate per call.
    fn bare_state<'a>(&self, t: &'a [u32], endpos: usize) -> St<'a> {
        if self.ngroups == 0 {
            St { t, end: endpos.min(t.len()), caps: Vec::new(), cls: classes() }
        } else {
            self.state(t, endpos)
        }
    }

    /// `pattern.match(text, pos, endpos).end()`, without the captures.
    pub fn match_end(&self, t: &[u32], pos: usize, endpos: usize) -> Option<usize> {
        let mut st = self.bare_state(t, endpos);
        if pos > st.end {
            return None;
        }
        let mut out = UNSET;
        if self.m(self.root, pos, &mut st, &mut |_, p| {
            out = p;
            true
        }) {
            Some(out)
        } else {
            None
        }
    }

    /// `pattern.fullmatch(text) is not None`.
    pub fn fullmatch(&self, t: &[u32]) -> bool {
        let mut st = self.bare_state(t, t.len());
        self.m(self.root, 0, &mut st, &mut |st, p| p == st.end)
    }

    /// `pattern.search(text, pos, endpos)`.
    pub fn search(&self, t: &[u32], pos: usize, endpos: usize) -> Option<Match> {
        let mut st = self.state(t, endpos);
        if pos > st.end {
            return None;
        }
        let (s, e) = self.search_from(&mut st, pos)?;
        let mut caps = st.caps;
        caps[0] = (s, e);
        Some(Match { caps })
    }

    /// `pattern.finditer(text, 0, endpos)` when every match can only start at one of `starts`
    /// (sorted ascending): tries only those positions, in order, skipping those inside a match.
    pub fn finditer_at(&self, t: &[u32], starts: &[usize], endpos: usize, mut f: impl FnMut(&Match)) {
        let mut st = self.state(t, endpos);
        let mut next = 0usize;
        for &p in starts {
            if p < next || p > st.end {
                continue;
            }
            if let Some(e) = self.try_at(&mut st, p) {
                if e == p {
                    continue; // (no pattern here matches empty)
                }
                let mut caps = std::mem::take(&mut st.caps);
                caps[0] = (p, e);
                let m = Match { caps };
                f(&m);
                st.caps = m.caps;
                next = e;
            }
        }
    }

    /// `pattern.finditer(text, pos, endpos)`, calling `f` on each match.
    pub fn finditer(&self, t: &[u32], pos: usize, endpos: usize, mut f: impl FnMut(&Match)) {
        let mut st = self.state(t, endpos);
        let mut p = pos;
        let mut last_empty_at = UNSET;
        while p <= st.end {
            let Some((s, e)) = self.search_from(&mut st, p) else { break };
            if s == e && last_empty_at == s {
                p = s + 1;
                continue;
            }
            let mut caps = std::mem::take(&mut st.caps);
            caps[0] = (s, e);
            let m = Match { caps };
            f(&m);
            st.caps = m.caps;
            if s == e {
                last_empty_at = s;
                p = e;
            } else {
                p = e;
            }
        }
    }
}

pub struct Match {
    pub caps: Caps,
}

impl Match {
    pub fn start(&self) -> usize {
        self.caps[0].0
    }
    pub fn end(&self) -> usize {
        self.caps[0].1
    }
    pub fn group(&self, g: usize) -> Option<(usize, usize)> {
        let c = self.caps[g];
        if c.0 == UNSET { None } else { Some(c) }
    }
}

/// A text of chars as the engine's code points: a char is a u32 (same size and alignment) holding a
/// Unicode scalar value, so the slice is read in place.
#[inline]
pub fn code_points(t: &[char]) -> &[u32] {
    // SAFETY: char has the size and alignment of u32, and every char is a valid u32.
    unsafe { std::slice::from_raw_parts(t.as_ptr() as *const u32, t.len()) }
}
