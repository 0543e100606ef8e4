// SPDX-License-Identifier: GPL-2.0

//! What module init sets up beside the nodes and exit tears down, each undone on drop:
//! `/sys/kernel/fakegpu` (with its `devices` file), the workers and the scratch address space.

use super::cgroup_files;
use super::page::Page;
use super::personality::Personality;
use super::private_call;
use super::state::State;
use super::worker::fakegpu_workers_destroy;
use crate::abi::devnum::DevNum;
use crate::abi::namebuf::NameBuf;
use kernel::prelude::*;

extern "C" {
    /// Creates `/sys/kernel/fakegpu` (`shim.c`).
    fn fakegpu_sysfs_create() -> kernel::ffi::c_int;
    /// Removes it.
    fn fakegpu_sysfs_remove();
    /// Removes `cgroups/control` and stops the reaping of entries (`cgroup_shim.c`).
    fn fakegpu_cgroups_sysfs_stop();
    /// Keeps the loading process's mm as fakegpu's scratch space (`worker_shim.c`).
    fn fakegpu_scratch_init() -> kernel::ffi::c_int;
    /// Lets it go.
    fn fakegpu_scratch_exit();
}

/// `/sys/kernel/fakegpu`, removed on drop.
pub(crate) struct Sysfs;

impl Sysfs {
    /// Creates it, with the per-cgroup files of the core and of `personalities`.
    pub(crate) fn create(personalities: &[&dyn Personality]) -> Result<Self> {
        cgroup_files::register(personalities)?;
        // SAFETY: creates the directory and its files once; `drop` removes them.
        kernel::error::to_result(unsafe { fakegpu_sysfs_create() })?;
        Ok(Sysfs)
    }
}

impl Drop for Sysfs {
    fn drop(&mut self) {
        // SAFETY: no entry can be added after this, and no reaping runs.
        unsafe { fakegpu_cgroups_sysfs_stop() };
        if let Some(state) = State::get() {
            state.cgroups.clear();
        }
        // SAFETY: created in `create`; removal waits for running callbacks.
        unsafe { fakegpu_sysfs_remove() };
    }
}

/// The workers, destroyed when the module goes (no fake file is open then).
pub(crate) struct Workers;

impl Drop for Workers {
    fn drop(&mut self) {
        // SAFETY: module exit runs after the last fake file closed (each pins the module),
        // so no call is under way in any worker.
        unsafe { fakegpu_workers_destroy() };
    }
}

/// fakegpu's scratch address space (see `private_call.rs`), let go on drop.
pub(crate) struct Scratch;

impl Scratch {
    /// Keeps the loading process's mm.
    pub(crate) fn new() -> Result<Self> {
        if !private_call::slots_fit() {
            pr_err!("the scratch slots are smaller than a private call's copy\n");
            return Err(EINVAL);
        }
        // SAFETY: module init runs in the loading process, which has an mm.
        kernel::error::to_result(unsafe { fakegpu_scratch_init() })?;
        Ok(Scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: dropped after the workers, so no call uses it any more.
        unsafe { fakegpu_scratch_exit() };
    }
}

/// `/sys/kernel/fakegpu/calls`: each personality's lines, `PERSONALITY ROUTE COUNT`.
///
/// # Safety
///
/// Called by sysfs only, with a page-sized buffer.
#[no_mangle]
unsafe extern "C" fn fakegpu_format_calls(buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else {
        return 0;
    };
    // SAFETY: sysfs passes a writable page of `len` bytes, ours until we return.
    let page = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut out = Page::new(page);
    for personality in state.personalities {
        if personality.write_calls(&mut out).is_err() {
            break;
        }
    }
    out.len()
}

/// `/sys/kernel/fakegpu/dmem_regions`: each personality's dmem regions, `gpuN NAME BYTES`.
///
/// # Safety
///
/// Called by sysfs only, with a page-sized buffer.
#[no_mangle]
unsafe extern "C" fn fakegpu_format_dmem_regions(buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else {
        return 0;
    };
    // SAFETY: sysfs passes a writable page of `len` bytes, ours until we return.
    let page = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut out = Page::new(page);
    for personality in state.personalities {
        if personality.write_dmem_regions(&mut out).is_err() {
            break;
        }
    }
    out.len()
}

/// `/sys/kernel/fakegpu/devices`: one line per front, `FAKE_PATH FAKE_MAJ:MIN REAL_MAJ:MIN`.
///
/// # Safety
///
/// Called by sysfs only, with a page-sized buffer.
#[no_mangle]
unsafe extern "C" fn fakegpu_format_devices(buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else {
        return 0;
    };
    let mut written = 0;
    for front in state.table.iter() {
        let mut out = NameBuf::new();
        let fake = DevNum::new(state.regions.major(front.family), front.fake_minor);
        let _ = match fake {
            Some(fake) => core::fmt::write(
                &mut out,
                format_args!("{} {} {}\n", front.dev_path().as_str(), fake, front.real),
            ),
            None => Ok(()),
        };
        let line = out.as_str().as_bytes();
        if written + line.len() > len {
            break;
        }
        // SAFETY: `buf` has `len` bytes and `written + line.len() <= len`.
        unsafe { core::ptr::copy_nonoverlapping(line.as_ptr(), buf.add(written), line.len()) };
        written += line.len();
    }
    written
}
