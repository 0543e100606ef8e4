// SPDX-License-Identifier: GPL-2.0

//! What differs on the 7.x line from 6.12, for both modules (Kbuild builds this file on 7.x
//! and `compat_6_12.rs` on 6.12, as `compat`): the rest of the code calls these and never
//! names a kernel version.

use kernel::uaccess::{UserPtr, UserSlice};

/// The `len` bytes of user memory at `addr` (7.x takes a `UserPtr`).
#[inline]
pub(crate) fn user_slice(addr: usize, len: usize) -> UserSlice {
    UserSlice::new(UserPtr::from_addr(addr), len)
}

/// `module!` with one author (7.x's `authors` list).
macro_rules! module_by {
    (type: $t:tt, name: $n:tt, author: $a:tt, $($rest:tt)*) => {
        ::kernel::prelude::module! { type: $t, name: $n, authors: [$a], $($rest)* }
    };
}
pub(crate) use module_by;
