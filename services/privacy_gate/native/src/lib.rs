#![allow(dead_code)] // helpers kept for the patterns and semantics they document
//! flagstream_pii: the native core of people.py's PersonDetector and
//! StreetAddressDetector. Spans are (entity type, start, end, score), start/end in code points.
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::sync::Arc;

mod bytes;
mod lex;
mod person;
mod py;
mod pytables;
mod rx;
mod street;

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
        Ok(self.inner.detect(&t, &b).into_iter().map(|(s, e, sc)| ("LOCATION", s, e, sc)).collect())
    }
}

// PyO3 places a pyclass's value inside the Python object, which Python aligns to 16 bytes only
// (PyO3 issue #3607): a field with a larger alignment, such as memchr's memmem::Finder with its AVX2
// vectors, is misaligned there and its aligned loads fault. This is what crashed the first version
// of this module; the structs must stay at most 16-aligned (a Finder would have to be boxed).
const _: () = assert!(std::mem::align_of::<PyPerson>() <= 16 && std::mem::align_of::<PyStreet>() <= 16);

#[pymodule]
fn flagstream_pii(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPerson>()?;
    m.add_class::<PyStreet>()?;
    Ok(())
}
