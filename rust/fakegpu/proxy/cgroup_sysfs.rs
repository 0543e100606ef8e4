// SPDX-License-Identifier: GPL-2.0

//! The sysfs callbacks of `cgroup_shim.c`: `cgroups/control` (add, remove, list entries),
//! each entry's files (`cgroup_files.rs`, and `path`), and the reaper's tick.

use super::cgroup_files;
use super::cgroups::Registry;
use super::page::Page;
use super::state::State;
use super::worker;
use crate::abi::namebuf::NameBuf;
use crate::policy::cgroup_control;
use core::fmt::Write;
use kernel::ffi::c_char;
use kernel::prelude::*;

/// Copies `text` into the sysfs page `buf` of `len` bytes; the length copied.
///
/// # Safety
///
/// `buf` must be writable for `len` bytes.
unsafe fn emit(buf: *mut u8, len: usize, text: &[u8]) -> isize {
    let n = text.len().min(len);
    // SAFETY: `buf` has `len >= n` bytes, per the contract.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), buf, n) };
    n as isize
}

/// The text of a sysfs write (`len` bytes at `buf`), if UTF-8.
///
/// # Safety
///
/// `buf` must be readable for `len` bytes for `'a`.
unsafe fn written<'a>(buf: *const c_char, len: usize) -> Result<&'a str> {
    // SAFETY: per the contract.
    let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|_| EINVAL)
}

/// The registry of the loaded module.
fn registry() -> Result<&'static Registry> {
    State::get().map(|s| &*s.cgroups).ok_or(ENODEV)
}

/// Shows file `attr` of the entry of cgroup `id`.
///
/// # Safety
///
/// Called by `cgroup_shim.c` with a NUL-terminated attribute name and a page `buf` of `len`.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroup_show(
    id: u64,
    attr: *const c_char,
    buf: *mut u8,
    len: usize,
) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: per the contract.
        let attr = unsafe { crate::compat::c_str_bytes(attr) };
        let state = State::get().ok_or(ENODEV)?;
        let mut out = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let n = {
            let acc = state.cgroups.lock();
            let entry = acc.entries.get(&id).ok_or(ENOENT)?;
            if attr == b"path" {
                let n = entry.cgroup().write_path(&mut out)?;
                if let Some(end) = out.get_mut(n) {
                    *end = b'\n';
                }
                n + 1
            } else {
                let mut page = Page::new(&mut out);
                cgroup_files::show(state.personalities, entry, attr, &mut page)?;
                page.len()
            }
        };
        // SAFETY: `buf` is a page of `len` bytes.
        Ok(unsafe { emit(buf, len, out.get(..n).unwrap_or(&[])) })
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// Stores a write of `len` bytes to file `attr` of the entry of cgroup `id` (the writer's
/// privilege is checked by the caller).
///
/// # Safety
///
/// Called by `cgroup_shim.c` with a NUL-terminated attribute name and `len` bytes at `buf`.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroup_store(
    id: u64,
    attr: *const c_char,
    buf: *const c_char,
    len: usize,
) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: per the contract.
        let attr = unsafe { crate::compat::c_str_bytes(attr) };
        // SAFETY: per the contract.
        let text = unsafe { written(buf, len) }?;
        let state = State::get().ok_or(ENODEV)?;
        state.cgroups.change_entry(id, |entry| {
            cgroup_files::store(state.personalities, entry, attr, text)
        })?;
        Ok(len as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// A write to `cgroups/control` (privilege checked by the caller).
///
/// # Safety
///
/// Called by `cgroup_shim.c` with `len` bytes at `buf`.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroups_control(buf: *const c_char, len: usize) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: per the contract.
        let text = unsafe { written(buf, len) }?;
        let cmd = cgroup_control::parse(text).map_err(|_| EINVAL)?;
        registry()?.control(cmd)?;
        Ok(len as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// Reading `cgroups/control`: one line per entry, `ID PATH`.
///
/// # Safety
///
/// Called by `cgroup_shim.c` with a page `buf` of `len` bytes.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroups_list(buf: *mut u8, len: usize) -> isize {
    let result = (|| -> Result<isize> {
        let registry = registry()?;
        let mut out = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let mut written = 0;
        let acc = registry.lock();
        for (id, entry) in acc.entries.iter() {
            let mut head = NameBuf::new();
            write!(head, "{} ", id).map_err(|_| EINVAL)?;
            let head = head.as_str().as_bytes();
            let Some(rest) = out.get_mut(written..) else {
                break;
            };
            // Room for the id, a path and the newline, or the listing stops here.
            let Some(path_room) = rest.get_mut(head.len()..) else {
                break;
            };
            let n = match entry.cgroup().write_path(path_room) {
                Ok(n) if n + 1 < path_room.len() => n,
                _ => break,
            };
            if let Some(nl) = path_room.get_mut(n) {
                *nl = b'\n';
            }
            if let Some(dst) = rest.get_mut(..head.len()) {
                dst.copy_from_slice(head);
            }
            written += head.len() + n + 1;
        }
        drop(acc);
        // SAFETY: `buf` is a page of `len` bytes.
        Ok(unsafe { emit(buf, len, out.get(..written).unwrap_or(&[])) })
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// Once a second (`cgroup_shim.c`): each personality's upkeep (it lets go of what the
/// driver freed meanwhile, and uncharges it), then the entries of removed cgroups with
/// nothing charged, then the workers of exited processes.
#[no_mangle]
extern "C" fn fakegpu_cgroups_reap() {
    if let Some(state) = State::get() {
        for personality in state.personalities {
            personality.reap(&state.cgroups);
        }
        state.cgroups.reap();
        worker::reap_exited();
    }
}
