// SPDX-License-Identifier: GPL-2.0

//! `file_operations` tables in statics, owned by the module that defines them.

use kernel::bindings;
use kernel::types::Opaque;

/// A `file_operations` table that may live in a static: never written after
/// initialisation, only read by the kernel.
#[repr(transparent)]
pub(crate) struct FileOps(pub(crate) bindings::file_operations);

// SAFETY: the table is immutable; its raw pointers (owner module, callbacks) are only read.
unsafe impl Sync for FileOps {}

impl FileOps {
    /// Pointer for C APIs, valid for the module's lifetime.
    pub(crate) const fn get(&self) -> *const bindings::file_operations {
        &self.0
    }
}

extern "C" {
    /// This module, as `THIS_MODULE` in C (defined by modpost's generated `.mod.c`). Declared
    /// as bytes: `struct module` reaches empty structs that rustc's FFI lint flags on some
    /// configs.
    static __this_module: Opaque<u8>;
}

/// This module's `struct module`, for a table's `owner`: the VFS takes a reference on it
/// for every open file, so the module stays loaded while any file is open.
pub(crate) const fn this_module() -> *mut bindings::module {
    // SAFETY: only the address of the module's `struct module` is taken; it lives as long
    // as the module.
    unsafe { __this_module.get() }.cast::<bindings::module>()
}
