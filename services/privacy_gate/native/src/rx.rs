//! The crate's regexes over Python str positions: `regex-automata`'s meta engine (the `regex`
//! crate's, linear in the text) for patterns without look-around or back-references, `fancy-regex`
//! (backtracking, Python's leftmost-first semantics) for the few that have them. Patterns are in
//! src/patterns.rs.
//!
//! The detectors work on code points (positions are Python str indices); a regex runs on the
//! text's UTF-8 form and byte offsets are mapped back. That form is Python's own (kept on the str
//! once asked for, so the detector calls on one text share it), with the code points' byte offsets
//! counted when a regex first needs them; a str with a lone surrogate has none, so its form is
//! built from the code points, the surrogate as U+FFFF: like it, outside every class the patterns
//! name and inside every negated one.
//!
//! Each method takes Python's `pos`/`endpos`: look-behind and `\b` see the text before `pos`, while
//! the text is cut at `endpos` (look-ahead, `\b` and `\z` see only up to it).

use regex_automata::util::captures::Captures;
use regex_automata::util::pool::Pool;
use regex_automata::{meta, Anchored, Input};
use std::borrow::Cow;
use std::cell::OnceCell;

/// A text as code points, with its UTF-8 form made on first use.
pub struct Txt<'a> {
    pub cps: &'a [u32],
    /// The text's UTF-8 form when the caller has it (Python's own, for a str without a lone
    /// surrogate): the regexes then search it in place.
    utf8: Option<&'a str>,
    hay: OnceCell<Hay<'a>>,
}

struct Hay<'a> {
    s: Cow<'a, str>,
    /// Byte offset of each code point, and of the end (empty when the text is ASCII).
    offsets: Vec<u32>,
}

impl<'a> Txt<'a> {
    /// `utf8`: the text's UTF-8 form when at hand, the same code points as `cps` one for one (so
    /// never for a str with a lone surrogate, which has none); else it is made from `cps`.
    pub fn new(cps: &'a [u32], utf8: Option<&'a str>) -> Txt<'a> {
        debug_assert!(utf8.is_none_or(|u| u.chars().count() == cps.len()));
        Txt { cps, utf8, hay: OnceCell::new() }
    }

    fn hay(&self) -> &Hay<'a> {
        self.hay.get_or_init(|| {
            if let Some(u) = self.utf8 {
                // Python keeps a str's UTF-8 form once asked for it, so the detectors' calls on
                // one text encode it once; only the offsets are counted here, from the lead bytes.
                let bytes = u.as_bytes();
                let mut offsets = Vec::new();
                if !bytes.is_ascii() {
                    // Without a branch per byte: each byte's offset is written at the next slot,
                    // which moves on only after a lead byte (not 0b10xxxxxx).
                    let mut slots = vec![0u32; bytes.len() + 1];
                    let mut k = 0;
                    for (i, &x) in bytes.iter().enumerate() {
                        slots[k] = i as u32;
                        k += usize::from((x & 0xC0) != 0x80);
                    }
                    slots[k] = bytes.len() as u32;
                    slots.truncate(k + 1);
                    offsets = slots;
                }
                return Hay { s: Cow::Borrowed(u), offsets };
            }
            let ascii = self.cps.iter().all(|&c| c < 0x80);
            let mut offsets = Vec::new();
            if ascii {
                let bytes: Vec<u8> = self.cps.iter().map(|&c| c as u8).collect();
                // SAFETY: every byte is below 0x80, so the bytes are ASCII, which is UTF-8.
                let s = unsafe { String::from_utf8_unchecked(bytes) };
                return Hay { s: Cow::Owned(s), offsets };
            }
            let mut s = String::with_capacity(self.cps.len() * 2);
            {
                offsets.reserve(self.cps.len() + 1);
                for &c in self.cps {
                    offsets.push(s.len() as u32);
                    s.push(char::from_u32(c).unwrap_or('\u{ffff}'));
                }
                offsets.push(s.len() as u32);
            }
            Hay { s: Cow::Owned(s), offsets }
        })
    }
}

impl Hay<'_> {
    #[inline]
    fn byte(&self, cp: usize) -> usize {
        if self.offsets.is_empty() {
            cp
        } else {
            self.offsets[cp] as usize
        }
    }

    #[inline]
    fn cp(&self, byte: usize) -> usize {
        if self.offsets.is_empty() {
            byte
        } else {
            self.offsets.partition_point(|&o| (o as usize) < byte)
        }
    }
}

/// A match: group spans in code points (group 0 the whole match), `None` for a group that did
/// not take part.
pub struct Match {
    caps: Vec<Option<(usize, usize)>>,
}

impl Match {
    pub fn start(&self) -> usize {
        self.caps[0].unwrap().0
    }
    pub fn end(&self) -> usize {
        self.caps[0].unwrap().1
    }
    pub fn group(&self, g: usize) -> Option<(usize, usize)> {
        self.caps.get(g).copied().flatten()
    }
}

/// A compiled pattern. When it has a group named `m`, that group is the match (group 0): what
/// follows it is a look-ahead written as consumed context (src/patterns.rs).
pub struct Rx {
    engine: Engine,
    m: Option<usize>,
    /// The pattern opens with one consumed character of look-behind context (or `\A`): searches
    /// and anchored tries start one character before the position asked.
    lead: bool,
    /// The pattern has capture groups: without, a search runs without capture slots (for the
    /// meta engine, its DFAs alone).
    groups: bool,
}

type CapturesPool = Pool<Captures, Box<dyn Fn() -> Captures + Send + Sync>>;

enum Engine {
    /// The regex, and capture slots kept for its searches (no allocation per search).
    Linear(meta::Regex, CapturesPool),
    Fancy(fancy_regex::Regex),
}

impl Rx {
    /// A pattern with no look-around and no back-reference (meta engine, linear time).
    pub fn linear(pattern: &str) -> Rx {
        let re = meta::Regex::new(pattern).unwrap_or_else(|e| panic!("bad pattern {pattern:?}: {e}"));
        let m = re.group_info().to_index(regex_automata::PatternID::ZERO, "m");
        let groups = re.group_info().group_len(regex_automata::PatternID::ZERO) > 1;
        let for_pool = re.clone();
        let pool: CapturesPool = Pool::new(Box::new(move || for_pool.create_captures()));
        Rx { engine: Engine::Linear(re, pool), m, lead: false, groups }
    }

    /// `linear` for a pattern that opens with one consumed character of context before the match
    /// (src/patterns.rs `lead_b`), which may be the character before the position asked. Its
    /// match spans include that character; callers read only whether it matches, or a group.
    pub fn linear_lead(pattern: &str) -> Rx {
        Rx { lead: true, ..Rx::linear(pattern) }
    }

    /// A pattern with look-around or a back-reference (fancy-regex, backtracking). The patterns
    /// are written so that each start position costs a bounded amount of work or cannot overlap
    /// another start's (tests/unit/privacy_gate/test_native.py measures it); the backtracking
    /// limit is lifted so a long text never turns a match into an error.
    pub fn fancy(pattern: &str) -> Rx {
        let re = fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(usize::MAX)
            .build()
            .unwrap_or_else(|e| panic!("bad pattern {pattern:?}: {e}"));
        let m = re.capture_names().position(|n| n == Some("m"));
        let groups = re.captures_len() > 1;
        Rx { engine: Engine::Fancy(re), m, lead: false, groups }
    }

    /// One match starting at or after `pos` (anchored: at `pos` only), the text cut at `endpos`.
    fn find(&self, t: &Txt, pos: usize, endpos: usize, anchored: bool) -> Option<Match> {
        let endpos = endpos.min(t.cps.len());
        if pos > endpos {
            return None;
        }
        let h = t.hay();
        let s = &h.s[..h.byte(endpos)];
        let from = h.byte(if self.lead { pos.saturating_sub(1) } else { pos });
        let mut spans: Vec<Option<(usize, usize)>> = match &self.engine {
            Engine::Linear(re, _) if !self.groups => {
                let input = Input::new(s)
                    .range(from..)
                    .anchored(if anchored { Anchored::Yes } else { Anchored::No });
                let m = re.search(&input)?;
                vec![Some((m.start(), m.end()))]
            }
            Engine::Fancy(re) if !self.groups => {
                let input = fancy_regex::RegexInput::new(s).from_pos(from).anchored(anchored);
                // An error is only the backtracking limit, which `fancy` lifts.
                let m = re.find_input(input).ok().flatten()?;
                vec![Some((m.start(), m.end()))]
            }
            Engine::Linear(re, pool) => {
                let input = Input::new(s)
                    .range(from..)
                    .anchored(if anchored { Anchored::Yes } else { Anchored::No });
                let mut caps = pool.get();
                re.search_captures(&input, &mut *caps);
                if !caps.is_match() {
                    return None;
                }
                (0..caps.group_len()).map(|g| caps.get_group(g).map(|sp| (sp.start, sp.end))).collect()
            }
            Engine::Fancy(re) => {
                let input = fancy_regex::RegexInput::new(s).from_pos(from).anchored(anchored);
                // An error is only the backtracking limit, which `fancy` lifts.
                let caps = re.captures_input(input).ok().flatten()?;
                (0..caps.len()).map(|g| caps.get(g).map(|m| (m.start(), m.end()))).collect()
            }
        };
        if let Some(g) = self.m {
            spans[0] = spans[g];
        }
        // Byte offsets to code points, in place (one allocation per match).
        for g in spans.iter_mut().flatten() {
            *g = (h.cp(g.0), h.cp(g.1));
        }
        Some(Match { caps: spans })
    }

    /// `pattern.match(text, pos, endpos)`.
    pub fn match_at(&self, t: &Txt, pos: usize, endpos: usize) -> Option<Match> {
        self.find(t, pos, endpos, true)
    }

    /// `pattern.search(text, pos, endpos)`.
    pub fn search(&self, t: &Txt, pos: usize, endpos: usize) -> Option<Match> {
        self.find(t, pos, endpos, false)
    }

    /// `pattern.finditer(text, pos, endpos)` (no pattern here matches the empty string).
    pub fn finditer(&self, t: &Txt, pos: usize, endpos: usize, mut f: impl FnMut(&Match)) {
        let mut p = pos;
        while let Some(m) = self.find(t, p, endpos, false) {
            f(&m);
            p = if m.end() > m.start() { m.end() } else { m.end() + 1 };
        }
    }

    /// `pattern.finditer(text, 0, endpos)` when every match can only start at one of `starts`
    /// (sorted ascending): tries only those positions, in order, skipping those inside a match.
    pub fn finditer_at(&self, t: &Txt, starts: &[usize], endpos: usize, mut f: impl FnMut(&Match)) {
        let mut next = 0usize;
        for &p in starts {
            if p < next {
                continue;
            }
            if let Some(m) = self.find(t, p, endpos, true) {
                if m.end() > p {
                    next = m.end();
                    f(&m);
                }
            }
        }
    }
}
