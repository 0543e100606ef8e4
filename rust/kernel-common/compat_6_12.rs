// SPDX-License-Identifier: GPL-2.0

//! What differs on the 6.12 line from 7.x, for both modules (Kbuild builds this file on
//! 6.12 and `compat_7.rs` on 7.x, as `compat`): the rest of the code calls these and never
//! names a kernel version.

use kernel::uaccess::UserSlice;

/// The `len` bytes of user memory at `addr`.
#[inline]
pub(crate) fn user_slice(addr: usize, len: usize) -> UserSlice {
    UserSlice::new(addr, len)
}

/// `module!` with one author (6.12's `author` key).
macro_rules! module_by {
    (type: $t:tt, name: $n:tt, author: $a:tt, $($rest:tt)*) => {
        ::kernel::prelude::module! { type: $t, name: $n, author: $a, $($rest)* }
    };
}
pub(crate) use module_by;
