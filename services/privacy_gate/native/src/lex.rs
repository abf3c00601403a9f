//! The word lists of people.py, passed in from Python (one source of truth).
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash: a fast hash for short keys.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);
impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}
pub type FxB = BuildHasherDefault<Fx>;
pub type Set = HashSet<Vec<char>, FxB>;
pub type Map<V> = HashMap<Vec<char>, V, FxB>;
pub type USet = HashSet<usize, FxB>;

pub fn to_chars_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<char>>> {
    let mut out = Vec::new();
    for item in obj.iter()? {
        let s: String = item?.extract()?;
        out.push(s.chars().collect());
    }
    Ok(out)
}
pub fn to_set(obj: &Bound<'_, PyAny>) -> PyResult<Set> {
    Ok(to_chars_list(obj)?.into_iter().collect())
}

pub struct Lex {
    // PersonDetector
    pub given: Set,
    pub surnames: Set,
    pub not_surnames: Set,
    pub never_surnames: Set,
    pub titles: Set,
    pub cues: Vec<Vec<char>>,
    pub greetings: Vec<Vec<char>>,
    pub cue_endings: Set,
    pub cue_tails: Set,
    pub quotes: Vec<char>,
    pub possessive: Vec<Vec<char>>,
    pub surname_endings: Vec<Vec<char>>,
    pub not_surname_shapes: Set,
    pub name_kinds: Vec<Vec<char>>,
    pub given_words: Set,
    pub before_places: Set,
    pub person_verbs: Set,
    pub not_listed: Set,
    pub list_joins: Vec<Vec<char>>,
    pub joins_after: Set,
    pub joins_before: Set,
    // StreetAddressDetector
    pub street_suffixes: Set,
    pub directions: Set,
    pub street_first_words: Set,
    pub street_particles: Set,
    pub compound_suffixes: Vec<Vec<char>>,
    pub headline_words: Set,
    pub abbreviations: Set,
    pub unit_words: Set,
    pub calendar: Set,
}

impl Lex {
    /// From a dict of people.py's constants (by their names there) and the two lexicons.
    pub fn from_py(consts: &Bound<'_, PyDict>, given: &Bound<'_, PyAny>, surnames: &Bound<'_, PyAny>) -> PyResult<Lex> {
        let get = |name: &str| -> PyResult<Bound<'_, PyAny>> {
            consts
                .get_item(name)?
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))
        };
        let set = |name: &str| -> PyResult<Set> { to_set(&get(name)?) };
        let list = |name: &str| -> PyResult<Vec<Vec<char>>> { to_chars_list(&get(name)?) };
        let quotes: String = get("_QUOTES")?.extract()?;
        Ok(Lex {
            given: to_set(given)?,
            surnames: to_set(surnames)?,
            not_surnames: set("_NOT_SURNAMES")?,
            never_surnames: set("_NEVER_SURNAMES")?,
            titles: set("_TITLES")?,
            cues: list("_CUES")?,
            greetings: list("_GREETINGS")?,
            cue_endings: set("_CUE_ENDINGS")?,
            cue_tails: set("_CUE_TAILS")?,
            quotes: quotes.chars().collect(),
            possessive: list("_POSSESSIVE")?,
            surname_endings: list("_SURNAME_ENDINGS")?,
            not_surname_shapes: set("_NOT_SURNAME_SHAPES")?,
            name_kinds: list("_NAME_KINDS")?,
            given_words: set("_GIVEN_WORDS")?,
            before_places: set("_BEFORE_PLACES")?,
            person_verbs: set("_PERSON_VERBS")?,
            not_listed: set("_NOT_LISTED")?,
            list_joins: list("_LIST_JOINS")?,
            joins_after: set("_JOINS_AFTER")?,
            joins_before: set("_JOINS_BEFORE")?,
            street_suffixes: set("_STREET_SUFFIXES")?,
            directions: set("_DIRECTIONS")?,
            street_first_words: set("_STREET_FIRST_WORDS")?,
            street_particles: set("_STREET_PARTICLES")?,
            compound_suffixes: list("_COMPOUND_SUFFIXES")?,
            headline_words: set("_HEADLINE_WORDS")?,
            abbreviations: set("_ABBREVIATIONS")?,
            unit_words: set("_UNIT_WORDS")?,
            calendar: set("_CALENDAR")?,
        })
    }

    pub fn ends_with_any(s: &[char], list: &[Vec<char>]) -> bool {
        list.iter().any(|p| crate::py::ends_with(s, p))
    }

    /// `_is_suffix`.
    pub fn is_suffix(&self, word: &[char]) -> bool {
        self.street_suffixes.contains(word)
            || (word.last() == Some(&'s') && self.street_suffixes.contains(&word[..word.len() - 1]))
    }

    /// `_compound_street`.
    pub fn compound_street(&self, word: &[char]) -> bool {
        if !(word.first().map_or(false, |&c| crate::py::isupper(c))) {
            return false;
        }
        if word.iter().all(|c| c.is_ascii()) {
            // ASCII lower-cases in place: compare the ends without building the lower-case copy.
            let ends = |suffix: &Vec<char>| {
                suffix.len() <= word.len()
                    && word[word.len() - suffix.len()..].iter().zip(suffix).all(|(c, x)| c.to_ascii_lowercase() == *x)
            };
            return self.compound_suffixes.iter().any(|x| ends(x) && word.len() >= x.len() + 3);
        }
        let lowered = crate::py::lower(word);
        if !Self::ends_with_any(&lowered, &self.compound_suffixes) {
            return false;
        }
        self.compound_suffixes
            .iter()
            .any(|s| crate::py::ends_with(&lowered, s) && word.len() >= s.len() + 3)
    }
}
