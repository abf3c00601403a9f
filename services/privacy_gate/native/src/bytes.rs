//! Substring search over the one-byte-per-code-point view of a text: memchr for the needle's first
//! byte, then a comparison. (memchr's memmem Finder cannot be held inside a pyclass: it is 32-byte
//! aligned and PyO3 does not honour that, see lib.rs. The texts are short, so this is as fast.)
pub struct Needle(pub Vec<u8>);

impl Needle {
    pub fn new(s: &str) -> Needle {
        Needle(s.as_bytes().to_vec())
    }
    /// The first occurrence at or after `from`.
    #[inline]
    pub fn find(&self, hay: &[u8], from: usize) -> Option<usize> {
        let n = &self.0;
        let (&first, rest) = n.split_first()?;
        let mut i = from;
        while i + n.len() <= hay.len() {
            let p = i + memchr::memchr(first, &hay[i..hay.len() - rest.len()])?;
            if hay[p + 1..p + n.len()].iter().zip(rest).all(|(a, b)| a == b) {
                return Some(p);
            }
            i = p + 1;
        }
        None
    }
    /// Every occurrence, overlapping ones too (as str.find from at + 1 finds them).
    pub fn find_all(&self, hay: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(p) = self.find(hay, from) {
            out.push(p);
            from = p + 1;
        }
        out
    }
}

/// The first position at or after `from` holding an ASCII digit: eight bytes at a time (each byte is
/// below 0x81 in the one-byte view, so the additions carry into no other byte).
#[inline]
pub fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut i = from;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let ge0 = w.wrapping_add(ONES * (0x80 - 0x30)); // high bit: byte >= '0'
        let ge10 = w.wrapping_add(ONES * (0x80 - 0x3a)); // high bit: byte > '9'
        let digits = ge0 & !ge10 & !w & (ONES * 0x80);
        if digits != 0 {
            return Some(i + (digits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < b.len() {
        if b[i].is_ascii_digit() {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The first position at or after `from` holding 'A'..='Z' or a non-ASCII character (0x80).
#[inline]
pub fn next_upper_or_high(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut i = from;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let ge_a = w.wrapping_add(ONES * (0x80 - 0x41)); // high bit: byte >= 'A'
        let gt_z = w.wrapping_add(ONES * (0x80 - 0x5b)); // high bit: byte > 'Z'
        let hits = ((ge_a & !gt_z) | w) & (ONES * 0x80);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < b.len() {
        if b[i] >= 0x80 || b[i].is_ascii_uppercase() {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Code-point positions of byte offsets into a UTF-8 text, for offsets asked left to right (as
/// matches arrive): each call counts only the bytes since the one before.
pub struct CodePoints<'a> {
    bytes: &'a [u8],
    ascii: bool,
    byte: usize,
    cps: usize,
}

impl<'a> CodePoints<'a> {
    /// `ascii`: the text is all ASCII, so a byte offset is its code-point position.
    pub fn new(utf8: &'a str, ascii: bool) -> Self {
        CodePoints { bytes: utf8.as_bytes(), ascii, byte: 0, cps: 0 }
    }
    /// The code-point position of byte `offset`, at or after the last one asked.
    #[inline]
    pub fn at(&mut self, offset: usize) -> usize {
        if self.ascii {
            return offset;
        }
        self.cps += self.bytes[self.byte..offset].iter().filter(|&&b| (b & 0xC0) != 0x80).count();
        self.byte = offset;
        self.cps
    }
}
