// SPDX-License-Identifier: GPL-2.0

//! A module's state, published to its file operations for the life of the module.
//!
//! A module's file operations cannot reach the `kernel::Module` value, so they find their
//! state through a static [`Published`]. Every file operation runs with a reference on the
//! module (the fops' owner), and module exit runs only once that count is zero, so a state
//! that is unpublished and freed in module exit is never freed under a running operation.

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// A slot for one `T`, empty while the module loads and after it unloads.
///
/// INVARIANT: when non-null, `ptr` points to a `T` leaked from a `KBox` by [`Published::publish`]
/// and freed only when the returned [`PublishGuard`] drops.
pub(crate) struct Published<T: 'static> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static> Published<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        Self {
            ptr: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// The published value, if the module is loaded. For file operations of the module.
    pub(crate) fn get(&self) -> Option<&T> {
        let ptr = self.ptr.load(Ordering::Acquire);
        // SAFETY: by the type invariant a non-null pointer is a live `T`, not freed while a
        // file operation (which holds a module reference) runs.
        unsafe { ptr.as_ref() }
    }

    /// Publishes `value`; it stays published until the guard drops (in module exit).
    pub(crate) fn publish(&'static self, value: T) -> Result<PublishGuard<T>> {
        let ptr = KBox::into_raw(KBox::new(value, GFP_KERNEL)?);
        // INVARIANT: `ptr` comes from `KBox::into_raw` and is freed only by the guard.
        self.ptr.store(ptr, Ordering::Release);
        Ok(PublishGuard { slot: self })
    }
}

/// Unpublishes and frees the value on drop.
pub(crate) struct PublishGuard<T: 'static> {
    slot: &'static Published<T>,
}

impl<T: 'static> PublishGuard<T> {
    /// The published value.
    pub(crate) fn get(&self) -> &T {
        let ptr = self.slot.ptr.load(Ordering::Acquire);
        // SAFETY: the guard alive means the value is published and not freed.
        unsafe { &*ptr }
    }
}

impl<T: 'static> Drop for PublishGuard<T> {
    fn drop(&mut self) {
        let ptr = self.slot.ptr.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !ptr.is_null() {
            // SAFETY: `ptr` was leaked by `publish`; module exit runs with no file operation
            // in progress, so nothing else uses it.
            drop(unsafe { KBox::from_raw(ptr) });
        }
    }
}
