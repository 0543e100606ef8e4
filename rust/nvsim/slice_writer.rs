// SPDX-License-Identifier: GPL-2.0

//! Text formatted into a buffer `shim.c` hands over (the /proc and debugfs files).

/// Formats into a byte slice, dropping what does not fit.
pub(crate) struct SliceWriter<'a> {
    /// Where the text goes.
    pub(crate) buf: &'a mut [u8],
    /// How much of `buf` is written.
    pub(crate) len: usize,
}

impl core::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + n),
            s.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < s.len() {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}
