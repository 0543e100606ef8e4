//! A fixed-size, NUL-terminated name buffer: formatting without an allocator.

use core::fmt;

/// Capacity of a [`NameBuf`] in bytes, including the terminating NUL.
pub const NAME_CAP: usize = 96;

/// A short name (device node, sysfs entry) formatted in place, always NUL-terminated so the
/// kernel can pass it to C.
#[derive(Clone, Copy)]
pub struct NameBuf {
    bytes: [u8; NAME_CAP],
    len: usize,
}

impl NameBuf {
    /// An empty name.
    pub const fn new() -> Self {
        Self {
            bytes: [0; NAME_CAP],
            len: 0,
        }
    }

    /// The name without its NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The name as text (it is only ever written through `fmt::Write`, so always UTF-8).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The name with its terminating NUL.
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        self.bytes.get(..self.len + 1).unwrap_or(&[0])
    }
}

impl Default for NameBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for NameBuf {
    /// Appends `s`; fails, leaving the name unchanged, if it would not fit with its NUL.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        if end >= NAME_CAP || s.as_bytes().contains(&0) {
            return Err(fmt::Error);
        }
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for NameBuf {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn formats_and_terminates() {
        let mut n = NameBuf::new();
        write!(n, "fakedri!card{}", 0).unwrap();
        assert_eq!(n.as_str(), "fakedri!card0");
        assert_eq!(n.as_bytes_with_nul(), b"fakedri!card0\0");
    }

    #[test]
    fn refuses_overflow_without_truncating() {
        let mut n = NameBuf::new();
        n.write_str("abc").unwrap();
        assert!(n.write_str(&"x".repeat(NAME_CAP)).is_err());
        assert_eq!(n.as_str(), "abc");
        assert!(n.write_str("a\0b").is_err());
    }
}
