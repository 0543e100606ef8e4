// SPDX-License-Identifier: GPL-2.0

//! A sysfs page being filled by a show callback, as a `core::fmt::Write` that refuses to
//! write past the page.

use core::fmt::{self, Write};

/// A page being filled by a show callback.
pub(crate) struct Page<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Page<'a> {
    /// An empty page over `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Page { buf, len: 0 }
    }

    /// Bytes written.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
