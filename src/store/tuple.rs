//! Tuple-encoded keys, compatible with FoundationDB's tuple layer for the element types we
//! use: unicode strings (type code 0x02) and non-negative integers (0x14..0x1c).
//!
//! The encoding preserves order: tuples compare element by element, strings bytewise,
//! integers numerically, and a tuple is a prefix of every tuple that extends it — so all of
//! a conversation's messages, `("msg", cid, seq)`, form one contiguous range ordered by seq.

const STRING: u8 = 0x02;
const INT_ZERO: u8 = 0x14;

/// Builds a packed tuple.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuple(Vec<u8>);

impl Tuple {
    pub fn new() -> Self {
        Tuple(Vec::with_capacity(48))
    }

    /// Appends a string element: 0x02, the bytes with every 0x00 written as 0x00 0xff, 0x00.
    pub fn str(mut self, s: &str) -> Self {
        self.0.push(STRING);
        for &b in s.as_bytes() {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xff);
            }
        }
        self.0.push(0);
        self
    }

    /// Appends a non-negative integer: 0x14 + the number of big-endian bytes, then the bytes.
    pub fn u64(mut self, n: u64) -> Self {
        let len = 8 - (n.leading_zeros() / 8) as usize;
        self.0.push(INT_ZERO + len as u8);
        self.0.extend_from_slice(&n.to_be_bytes()[8 - len..]);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Reads the elements of a packed tuple in order.
#[derive(Debug, Clone)]
pub struct Unpack<'a> {
    rest: &'a [u8],
}

impl<'a> Unpack<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Unpack { rest: bytes }
    }

    /// The next element as a string, or `None` if it is not one.
    pub fn str(&mut self) -> Option<String> {
        let (&code, body) = self.rest.split_first()?;
        if code != STRING {
            return None;
        }
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match *body.get(i)? {
                0 if body.get(i + 1) == Some(&0xff) => {
                    out.push(0);
                    i += 2;
                }
                0 => break,
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.rest = &body[i + 1..];
        String::from_utf8(out).ok()
    }

    /// The next element as a non-negative integer, or `None` if it is not one.
    pub fn u64(&mut self) -> Option<u64> {
        let (&code, body) = self.rest.split_first()?;
        let len = code.checked_sub(INT_ZERO).filter(|&len| len <= 8)? as usize;
        let digits = body.get(..len)?;
        let mut buf = [0u8; 8];
        buf[8 - len..].copy_from_slice(digits);
        self.rest = &body[len..];
        Some(u64::from_be_bytes(buf))
    }

    /// Whether every element was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_foundationdb_encoding() {
        // Reference bytes from FoundationDB's tuple layer specification.
        assert_eq!(Tuple::new().str("hello").into_bytes(), b"\x02hello\x00");
        assert_eq!(Tuple::new().str("a\0b").into_bytes(), b"\x02a\x00\xffb\x00");
        assert_eq!(Tuple::new().u64(0).into_bytes(), b"\x14");
        assert_eq!(Tuple::new().u64(1).into_bytes(), b"\x15\x01");
        assert_eq!(Tuple::new().u64(256).into_bytes(), b"\x16\x01\x00");
        assert_eq!(Tuple::new().u64(u64::MAX).into_bytes(), b"\x1c\xff\xff\xff\xff\xff\xff\xff\xff");
    }

    #[test]
    fn order_is_preserved() {
        let numbers = [0u64, 1, 9, 255, 256, 65_535, 65_536, 1 << 40, u64::MAX];
        let keys: Vec<Vec<u8>> = numbers.iter().map(|&n| Tuple::new().str("msg").u64(n).into_bytes()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let strings = ["", "\0", "a", "a\0", "ab", "b"];
        let keys: Vec<Vec<u8>> = strings.iter().map(|s| Tuple::new().str(s).u64(0).into_bytes()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn a_tuple_prefixes_its_extensions() {
        let prefix = Tuple::new().str("msg").str("conv1").into_bytes();
        let key = Tuple::new().str("msg").str("conv1").u64(7).into_bytes();
        let other = Tuple::new().str("msg").str("conv10").u64(7).into_bytes();
        assert!(key.starts_with(&prefix));
        assert!(!other.starts_with(&prefix));
    }

    #[test]
    fn unpacks_what_it_packs() {
        let key = Tuple::new().str("dt").str("c\0id").u64(123_456).str("").into_bytes();
        let mut r = Unpack::new(&key);
        assert_eq!(r.str().as_deref(), Some("dt"));
        assert_eq!(r.str().as_deref(), Some("c\0id"));
        assert_eq!(r.u64(), Some(123_456));
        assert_eq!(r.str().as_deref(), Some(""));
        assert!(r.is_empty());
        assert_eq!(Unpack::new(b"\x15").u64(), None, "truncated integer");
        assert_eq!(Unpack::new(b"\x02abc").str(), None, "unterminated string");
    }
}
