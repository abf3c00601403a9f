//! flagstream_pii: the native core of people.py's PersonDetector and StreetAddressDetector, and
//! the structured detectors of detectors.py, identifiers.py and credentials.py (src/structured/).
//! Spans are (entity type, start, end, score), start/end in code points.
//!
//! Their regexes and constants are defined in src/patterns.rs and run by src/rx.rs (the `regex`
//! crate's engine, `fancy-regex` for the few with look-around or a back-reference).
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::sync::Arc;

mod bytes;
mod context;
mod lex;
mod patterns;
mod person;
mod py;
mod pytables;
mod rx;
mod street;
mod structured;

/// The code points of a Python str, read from its own storage (no UTF-8 copy). A lone surrogate,
/// which no Rust char can hold, becomes U+FFFF: like it, a character no predicate holds for.
fn code_points(text: &Bound<'_, PyString>) -> PyResult<(Vec<char>, Vec<u8>)> {
    use pyo3::types::PyStringData;
    let data = unsafe { text.data()? };
    let t: Vec<char> = match data {
        PyStringData::Ucs1(b) => b.iter().map(|&c| c as char).collect(),
        PyStringData::Ucs2(u) => u.iter().map(|&c| char::from_u32(c as u32).unwrap_or('\u{ffff}')).collect(),
        PyStringData::Ucs4(u) => u.iter().map(|&c| char::from_u32(c).unwrap_or('\u{ffff}')).collect(),
    };
    // One byte per code point, for memchr scans: ASCII as is, anything else 0x80.
    let b: Vec<u8> = t.iter().map(|&c| if (c as u32) < 0x80 { c as u8 } else { 0x80 }).collect();
    Ok((t, b))
}

fn lexicon(consts: &Bound<'_, PyDict>, given: Option<&Bound<'_, PyAny>>, surnames: Option<&Bound<'_, PyAny>>) -> PyResult<Arc<lex::Lex>> {
    let py = consts.py();
    let empty = PyList::empty_bound(py).into_any();
    py::table(); // build the character table once, outside any timed call
    Ok(Arc::new(lex::Lex::from_py(consts, given.unwrap_or(&empty), surnames.unwrap_or(&empty))?))
}

/// PersonDetector(consts, given, surnames): consts maps people.py's constant names to their values.
#[pyclass(name = "PersonDetector", module = "flagstream_pii")]
struct PyPerson {
    inner: person::Person,
}

#[pymethods]
impl PyPerson {
    #[new]
    fn new(consts: &Bound<'_, PyDict>, given: &Bound<'_, PyAny>, surnames: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyPerson { inner: person::Person::new(lexicon(consts, Some(given), Some(surnames))?) })
    }

    /// [(entity_type, start, end, score)] as people.PersonDetector().detect(text) gives them.
    fn detect(&mut self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Vec<(&'static str, usize, usize, f64)>> {
        let (t, b) = code_points(text)?;
        // The GIL stays held: a call is a few µs, less than releasing and taking it back is worth.
        let _ = py;
        let found = self.inner.detect(&t, &b);
        Ok(found.into_iter().map(|(s, e, sc)| ("PERSON", s, e, sc)).collect())
    }
}

/// StreetAddressDetector(consts).
#[pyclass(name = "StreetAddressDetector", module = "flagstream_pii")]
struct PyStreet {
    inner: street::Street,
}

#[pymethods]
impl PyStreet {
    #[new]
    fn new(consts: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(PyStreet { inner: street::Street::new(lexicon(consts, None, None)?) })
    }

    fn detect(&self, text: &Bound<'_, PyString>) -> PyResult<Vec<(&'static str, usize, usize, f64)>> {
        let (t, b) = code_points(text)?;
        Ok(self.inner.detect(&t, &b, text.to_str().ok()).into_iter().map(|(s, e, sc)| ("LOCATION", s, e, sc)).collect())
    }
}

/// Needles(needles, ascii_case_insensitive): the occurrences of some literal strings in one pass
/// (Aho-Corasick, leftmost-longest), for the analyzer's normaliser and context rules (context.py), which would
/// otherwise scan the text once per word they look for.
#[pyclass(name = "Needles", module = "flagstream_pii", frozen)]
struct PyNeedles {
    inner: aho_corasick::AhoCorasick,
}

#[pymethods]
impl PyNeedles {
    #[new]
    fn new(needles: Vec<String>, ascii_case_insensitive: bool) -> PyResult<Self> {
        let inner = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(ascii_case_insensitive)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&needles)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyNeedles { inner })
    }

    /// [(start, needle index)] of the occurrences, left to right, not overlapping: where several
    /// needles start at one place the longest wins; start in code points of `text`.
    fn find(&self, text: &Bound<'_, PyString>) -> PyResult<Vec<(usize, usize)>> {
        // A str with a lone surrogate has no UTF-8 form: it is rebuilt one code point for one, the
        // surrogate as U+FFFD, so positions hold.
        let s: std::borrow::Cow<'_, str> = match text.to_str() {
            Ok(s) => s.into(),
            Err(_) => code_points_u32(text)?
                .into_iter()
                .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
                .collect::<String>()
                .into(),
        };
        let mut positions = bytes::CodePoints::new(&s, s.is_ascii());
        Ok(self.inner.find_iter(&*s).map(|m| (positions.at(m.start()), m.pattern().as_usize())).collect())
    }
}

/// A text's UTF-8 form: Python's own (`utf8`, kept on the str once asked for, so the detectors'
/// calls on one text share it), or for a str with a lone surrogate, which has none, one made from
/// the code points (the surrogate as U+FFFF), so positions hold.
fn utf8_of<'a>(t: &[char], utf8: Option<&'a str>) -> std::borrow::Cow<'a, str> {
    match utf8 {
        Some(u) => u.into(),
        None => t.iter().collect::<String>().into(),
    }
}

/// ContextDetector(given, surnames, ambiguous): the context rules (context.py's docstring), with
/// the PERSON detector's lexicons of given names and surnames and its ambiguous words.
#[pyclass(name = "ContextDetector", module = "flagstream_pii", frozen)]
struct PyContext {
    inner: context::Context,
}

#[pymethods]
impl PyContext {
    #[new]
    fn new(given: &Bound<'_, PyAny>, surnames: &Bound<'_, PyAny>, ambiguous: &Bound<'_, PyAny>) -> PyResult<Self> {
        py::table(); // build the character table once, outside any timed call
        let inner = context::Context::new(lex::to_set(given)?, lex::to_set(surnames)?, lex::to_set(ambiguous)?);
        Ok(PyContext { inner })
    }

    /// [(entity_type, start, end, score)] the rules find in `text`, in their order.
    fn find(&self, text: &Bound<'_, PyString>) -> PyResult<Vec<(&'static str, usize, usize, f64)>> {
        let (t, _) = code_points(text)?;
        let utf8 = text.to_str().ok();
        let h = rx::Txt::new(street::code_points(&t), utf8);
        Ok(self.inner.find(&t, &utf8_of(&t, utf8), &h))
    }
}

/// A span as given, with its start, end and score.
type Given<'py> = (Bound<'py, PyAny>, usize, usize, f64);

/// The spans ([(entity_type, start, end, score)]) that are not look-alikes in `text`'s context.
fn not_lookalikes<'py>(text: &Bound<'py, PyString>, spans: &Bound<'py, PyList>) -> PyResult<Vec<Given<'py>>> {
    let mut t: Option<Vec<char>> = None;
    let mut kept = Vec::with_capacity(spans.len());
    for item in spans.iter() {
        let span = item.downcast::<PyTuple>()?;
        let (start, end, score): (usize, usize, f64) =
            (span.get_item(1)?.extract()?, span.get_item(2)?.extract()?, span.get_item(3)?.extract()?);
        let kind = span.get_item(0)?;
        let kind = kind.downcast::<PyString>()?.to_str()?;
        if kind == "PERSON" || kind == "CREDENTIAL" {
            if t.is_none() {
                t = Some(code_points(text)?.0);
            }
            if context::lookalike(t.as_deref().unwrap_or_default(), kind, start, end) {
                continue;
            }
        }
        kept.push((item, start, end, score));
    }
    Ok(kept)
}

/// clear_lookalikes(text, spans): `spans` ([(entity_type, start, end, score)], from any detector)
/// without the look-alikes the context shows (context.py).
#[pyfunction]
fn clear_lookalikes<'py>(text: &Bound<'py, PyString>, spans: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
    Ok(PyList::new_bound(text.py(), not_lookalikes(text, spans)?.into_iter().map(|(item, ..)| item)))
}

/// One step of a `Chain`.
enum Step {
    Structured(structured::DetFn),
    Person(Py<PyPerson>),
    Street(Py<PyStreet>),
    Context(Py<PyContext>),
}

/// Chain(steps): several of the crate's detectors run on a text in one call, in order. A step is a
/// structured detector's name (see `detect`) or a PersonDetector, StreetAddressDetector or
/// ContextDetector. The text's code points and its form for the regexes are made once for all of
/// them, and one list comes back: the analyzer runs its detectors through one call.
#[pyclass(name = "Chain", module = "flagstream_pii", frozen)]
struct PyChain {
    steps: Vec<Step>,
}

#[pymethods]
impl PyChain {
    #[new]
    fn new(steps: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut out = Vec::new();
        for step in steps.iter()? {
            let step = step?;
            out.push(if let Ok(name) = step.downcast::<PyString>() {
                Step::Structured(detector(name.to_str()?)?)
            } else if let Ok(p) = step.downcast::<PyPerson>() {
                Step::Person(p.clone().unbind())
            } else if let Ok(p) = step.downcast::<PyStreet>() {
                Step::Street(p.clone().unbind())
            } else if let Ok(p) = step.downcast::<PyContext>() {
                Step::Context(p.clone().unbind())
            } else {
                return Err(PyTypeError::new_err(format!("Chain() takes detector names and the crate's detectors, not {step}")));
            });
        }
        Ok(PyChain { steps: out })
    }

    /// [(entity_type, start, end, score)]: each step's spans, one step after the other.
    fn find(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Found> {
        let (t, b) = code_points(text)?;
        let utf8 = text.to_str().ok();
        // The structured detectors read lone surrogates as themselves (their classes were `re`'s over
        // every code point); the others as U+FFFF. Only a str with one has no UTF-8 form.
        let surrogates: Vec<u32>;
        let cps: &[u32] = if utf8.is_some() {
            street::code_points(&t)
        } else {
            surrogates = code_points_u32(text)?;
            &surrogates
        };
        let tx = structured::Text::new(cps, utf8);
        let u = utf8_of(&t, utf8);
        let mut found: Vec<structured::Span> = Vec::new();
        let mut out: Found = Vec::new();
        for step in &self.steps {
            match step {
                Step::Structured(f) => {
                    f(&tx, &mut found);
                    out.extend(found.drain(..).map(|s| (s.ty.name(), s.start, s.end, s.score)));
                }
                Step::Person(p) => {
                    let spans = p.bind(py).borrow_mut().inner.detect(&t, &b);
                    out.extend(spans.into_iter().map(|(s, e, sc)| ("PERSON", s, e, sc)));
                }
                Step::Street(p) => {
                    let spans = p.bind(py).borrow().inner.detect_in(&t, &b, &tx.rx);
                    out.extend(spans.into_iter().map(|(s, e, sc)| ("LOCATION", s, e, sc)));
                }
                Step::Context(p) => out.extend(p.get().inner.find(&t, &u, &tx.rx)),
            }
        }
        Ok(out)
    }
}

/// resolve(text, spans): the analyzer's last step over spans of `text` from every detector
/// ([(entity_type, start, end, score)]): look-alikes cleared (as `clear_lookalikes`), then sorted
/// by start (the longest first) and overlapping spans merged into one covering them all, typed by
/// the longest (then the highest-scoring, then the first). Spans not merged come back as given.
#[pyfunction]
fn resolve<'py>(text: &Bound<'py, PyString>, spans: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
    let py = text.py();
    let mut kept = not_lookalikes(text, spans)?;
    let resolved = PyList::empty_bound(py);
    if kept.len() < 2 {
        for (item, ..) in kept {
            resolved.append(item)?;
        }
        return Ok(resolved);
    }
    // Stable, as Python's sort: spans with the same start and end keep their order.
    kept.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
    let mut spans = kept.into_iter();
    let mut best = spans.next().expect("two spans or more");
    let (mut start, mut end, mut merged) = (best.1, best.2, false);
    let emit = |best: &Given<'py>, start: usize, end: usize, merged: bool| -> PyResult<()> {
        if merged {
            let kind = best.0.get_item(0)?;
            let score = best.0.get_item(3)?;
            resolved.append(PyTuple::new_bound(py, [kind, start.into_py(py).into_bound(py), end.into_py(py).into_bound(py), score]))
        } else {
            resolved.append(&best.0)
        }
    };
    for span in spans {
        if span.1 < end {
            merged = true;
            end = end.max(span.2);
            let (len, best_len) = (span.2 - span.1, best.2 - best.1);
            if len > best_len || (len == best_len && span.3 > best.3) {
                best = span;
            }
            continue;
        }
        emit(&best, start, end, merged)?;
        (start, end, merged) = (span.1, span.2, false);
        best = span;
    }
    emit(&best, start, end, merged)?;
    Ok(resolved)
}

// PyO3 places a pyclass's value inside the Python object, which Python aligns to 16 bytes only
// (PyO3 issue #3607): a field with a larger alignment, such as memchr's memmem::Finder with its AVX2
// vectors, is misaligned there and its aligned loads fault (the process crashes). So the structs
// must stay at most 16-aligned (a Finder would have to be boxed).
const _: () = assert!(
    std::mem::align_of::<PyPerson>() <= 16
        && std::mem::align_of::<PyStreet>() <= 16
        && std::mem::align_of::<PyNeedles>() <= 16
        && std::mem::align_of::<PyContext>() <= 16
        && std::mem::align_of::<PyChain>() <= 16
);

// ------------------------------------------------------------------------ structured detectors

/// The code points of a Python str as numbers, lone surrogates kept (the structured detectors'
/// regex classes were evaluated by `re` over every code point, surrogates included).
fn code_points_u32(s: &Bound<'_, PyString>) -> PyResult<Vec<u32>> {
    use pyo3::types::PyStringData;
    // SAFETY: the data is copied out while the GIL is held and `s` is alive.
    let data = unsafe { s.data()? };
    Ok(match data {
        PyStringData::Ucs1(b) => b.iter().map(|&c| c as u32).collect(),
        PyStringData::Ucs2(b) => b.iter().map(|&c| c as u32).collect(),
        PyStringData::Ucs4(b) => b.to_vec(),
    })
}

type Found = Vec<(&'static str, usize, usize, f64)>;

fn detector(name: &str) -> PyResult<structured::DetFn> {
    structured::DETECTORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|d| d.1)
        .ok_or_else(|| PyValueError::new_err(format!("unknown detector {name:?}")))
}

/// detect(name, text): one structured detector's raw output on the text, in the Python detector's
/// order (the analyzer does unescaping and overlap resolution). `name` may also be a tuple or list
/// of names: their outputs one after the other, for one copy of the text.
#[pyfunction]
fn detect(name: &Bound<'_, PyAny>, text: &Bound<'_, PyString>) -> PyResult<Found> {
    let mut run: Vec<structured::DetFn> = Vec::new();
    if let Ok(one) = name.downcast::<PyString>() {
        run.push(detector(one.to_str()?)?);
    } else if name.is_instance_of::<PyTuple>() || name.is_instance_of::<PyList>() {
        for item in name.iter()? {
            run.push(detector(item?.downcast::<PyString>()?.to_str()?)?);
        }
    } else {
        return Err(PyTypeError::new_err("detect() takes a detector name or a tuple or list of names"));
    }
    let t = code_points_u32(text)?;
    // Python's UTF-8 form of the str (kept on it, so the street detector's call reuses it); a str
    // with a lone surrogate has none, and the regexes' text is then made from the code points.
    let tx = structured::Text::new(&t, text.to_str().ok());
    let mut out = Vec::new();
    for f in run {
        f(&tx, &mut out);
    }
    Ok(out.into_iter().map(|s| (s.ty.name(), s.start, s.end, s.score)).collect())
}

/// The names detect() takes, in the analyzer's default order.
#[pyfunction]
fn detector_names() -> Vec<&'static str> {
    structured::DETECTORS.iter().map(|(n, _)| *n).collect()
}

/// Parity hook (feature `parity`, test builds only): a hand-written scanner that replaces a Python regex, run on the whole text, as
/// (start, end) pairs (`domain`: (at, match end) per '@' where `_EMAIL_DOMAIN.match(text, at + 1)`
/// succeeds; `date_like`/`not_phone_marks`: (i, 1) for each i where a search over [i, len) does).
#[cfg(feature = "parity")]
#[pyfunction]
fn _scan(name: &str, text: &Bound<'_, PyString>) -> PyResult<Vec<(usize, usize)>> {
    use structured::scan;
    let t = code_points_u32(text)?;
    let tx = structured::Text::new(&t, text.to_str().ok());
    let n = t.len();
    let mut out = vec![];
    match name {
        "cc_candidates" => scan::cc_candidates(&t, &tx.runs, |a, b| out.push((a, b))),
        "cc_run" => scan::cc_runs(&t, 0, n, |a, b| out.push((a, b))),
        "phone_candidates" => {
            let marks: Vec<usize> = memchr::memchr2_iter(b'+', b'(', &tx.b).collect();
            scan::phone_candidates(&t, &tx.runs, &marks, |a, b| out.push((a, b)))
        }
        "iban_candidates" => scan::iban_candidates(&t, &tx.runs, |a, b| out.push((a, b))),
        "ssn" => scan::ssn(&t, &tx.runs, |a, b, _| out.push((a, b))),
        "ipv4" => scan::ipv4(&t, &tx.runs, |a, b| out.push((a, b))),
        "twelve" => scan::twelve(&tx.runs, |a, b| out.push((a, b))),
        "loose_phone" => scan::loose_phone(&t, 0, n, |a, b| out.push((a, b))),
        "domain" => {
            for at in 0..n {
                if t[at] == '@' as u32 {
                    if let Some(e) = structured::domain_match(&t, at + 1) {
                        out.push((at, e));
                    }
                }
            }
        }
        "date_like" => out.extend((0..n).filter(|&i| structured::date_like(&t, i, n)).map(|i| (i, 1))),
        "not_phone_marks" => out.extend((0..n).filter(|&i| structured::not_phone_marks(&t, i, n)).map(|i| (i, 1))),
        _ => return people_scan(name, text),
    }
    Ok(out)
}

/// `_scan` for the hand-coded patterns of people.py: `capitalised`, `house_number`,
/// `continental_number`: their finditer spans; `initial`, `street_words`: (pos, match end) for each
/// pos where `match(text, pos)` succeeds; `next_word`, `initial_name`: group 1's span of each such
/// match; `name_after`: (pos, 1) for each such pos; `contraction`: (i, 1) for each i where a search
/// over [i, len) finds one.
#[cfg(feature = "parity")]
fn people_scan(name: &str, text: &Bound<'_, PyString>) -> PyResult<Vec<(usize, usize)>> {
    let (t, b) = code_points(text)?;
    let n = t.len();
    let mut out = vec![];
    match name {
        "capitalised" => out = person::capitalised(&t, &b),
        "house_number" => out = street::house_numbers(&t, &b),
        "continental_number" => out = street::continental_numbers(&t, &b),
        "initial" => out.extend((0..=n).filter_map(|i| person::initial(&t, i).map(|e| (i, e)))),
        "street_words" => out.extend((0..=n).filter_map(|i| street::street_words_end(&t, i).map(|e| (i, e)))),
        "next_word" => out.extend((0..=n).filter_map(|i| person::next_word(&t, i))),
        "initial_name" => out.extend((0..=n).filter_map(|i| person::initial_name(&t, i))),
        "name_after" => out.extend((0..=n).filter(|&i| person::name_after(&t, i)).map(|i| (i, 1))),
        "contraction" => out.extend((0..n).filter(|&i| person::contracted(&t[i..])).map(|i| (i, 1))),
        _ => return Err(PyValueError::new_err(format!("unknown scanner {name:?}"))),
    }
    Ok(out)
}

/// ValueError as int() raises it for a character it cannot read as a digit.
fn int_error(py: Python<'_>, c: u32, base: u32) -> PyErr {
    let repr = char::from_u32(c)
        .and_then(|ch| PyString::new_bound(py, &ch.to_string()).repr().ok().map(|r| r.to_string()))
        .unwrap_or_else(|| format!("'\\u{c:04x}'"));
    PyValueError::new_err(format!("invalid literal for int() with base {base}: {repr}"))
}

/// luhn_valid(digits): True when the digit string passes the Luhn (mod 10) check.
#[pyfunction]
fn luhn_valid(py: Python<'_>, digits: &Bound<'_, PyString>) -> PyResult<bool> {
    structured::luhn_valid_py(&code_points_u32(digits)?).map_err(|c| int_error(py, c, 10))
}

/// iban_valid(iban): True when a compact IBAN has its country's length and passes mod 97-10.
#[pyfunction]
fn iban_valid(py: Python<'_>, iban: &Bound<'_, PyString>) -> PyResult<bool> {
    structured::iban_valid(&code_points_u32(iban)?).map_err(|c| int_error(py, c, 36))
}

/// ssn_valid(area, group, serial): True when the parts could be an issued SSN.
#[pyfunction]
fn ssn_valid(area: &Bound<'_, PyString>, group: &Bound<'_, PyString>, serial: &Bound<'_, PyString>) -> PyResult<bool> {
    structured::ssn_valid(&code_points_u32(area)?, &code_points_u32(group)?, &code_points_u32(serial)?)
        .map_err(|_| PyIndexError::new_err("string index out of range"))
}

#[pymodule]
fn flagstream_pii(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPerson>()?;
    m.add_class::<PyStreet>()?;
    m.add_class::<PyNeedles>()?;
    m.add_class::<PyContext>()?;
    m.add_class::<PyChain>()?;
    m.add_function(wrap_pyfunction!(clear_lookalikes, m)?)?;
    m.add_function(wrap_pyfunction!(resolve, m)?)?;
    structured::res(); // build the patterns once, at import
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(detector_names, m)?)?;
    #[cfg(feature = "parity")]
    m.add_function(wrap_pyfunction!(_scan, m)?)?;
    m.add_function(wrap_pyfunction!(luhn_valid, m)?)?;
    m.add_function(wrap_pyfunction!(iban_valid, m)?)?;
    m.add_function(wrap_pyfunction!(ssn_valid, m)?)?;
    Ok(())
}
