// SPDX-License-Identifier: GPL-2.0

//! /proc/driver/nvidia, as the driver has it: the directory and files while the module is
//! loaded (`shim.c`), and their text (`nvsim_model::procfs`) when read. `registry` is
//! writable by root as the driver's is; nvsim only counts its writes.

use crate::nvsim_model::frontend::SimGpu;
use crate::slice_writer::SliceWriter;
use crate::state::State;
use kernel::prelude::*;

extern "C" {
    /// Creates /proc/driver/nvidia with `version`, `params`, `registry` and an empty `gpus/`
    /// (`shim.c`).
    fn nvsim_procfs_create() -> kernel::ffi::c_int;
    /// Adds `gpus/<bus_id>/information` for GPU `index`.
    fn nvsim_procfs_add_gpu(
        index: kernel::ffi::c_uint,
        bus_id: *const kernel::ffi::c_char,
    ) -> kernel::ffi::c_int;
    /// Removes what the two calls above made.
    fn nvsim_procfs_remove();
    /// How many writes `registry` has taken.
    fn nvsim_procfs_registry_writes() -> kernel::ffi::c_uint;
}

/// How many writes /proc/driver/nvidia/registry has taken since the module loaded.
pub(crate) fn registry_writes() -> u32 {
    // SAFETY: reads an atomic counter.
    unsafe { nvsim_procfs_registry_writes() }
}

/// /proc/driver/nvidia while it exists (`nvsim_model::procfs` has its files' text).
pub(crate) struct Procfs;

impl Procfs {
    /// Creates the directory and its files, with a directory per GPU of `gpus` (by bus id).
    pub(crate) fn create(gpus: &[SimGpu]) -> Result<Self> {
        // SAFETY: creates the directory and its files; on failure nothing is left.
        kernel::error::to_result(unsafe { nvsim_procfs_create() })?;
        let procfs = Procfs;
        for (i, gpu) in gpus.iter().enumerate() {
            let mut name = crate::abi::namebuf::NameBuf::new();
            core::fmt::Write::write_fmt(
                &mut name,
                format_args!("{}", crate::nvsim_model::procfs::bus_id(gpu)),
            )
            .map_err(|_| EINVAL)?;
            // SAFETY: `name` is NUL-terminated and outlives the call (procfs copies it); on
            // failure `procfs` drops and removes what exists.
            kernel::error::to_result(unsafe {
                nvsim_procfs_add_gpu(
                    i as kernel::ffi::c_uint,
                    name.as_bytes_with_nul().as_ptr().cast(),
                )
            })?;
        }
        Ok(procfs)
    }
}

impl Drop for Procfs {
    fn drop(&mut self) {
        // SAFETY: removes what `create` made; procfs waits for readers in progress.
        unsafe { nvsim_procfs_remove() };
    }
}

/// Called by `shim.c` to fill a /proc/driver/nvidia file (`file` as
/// `procfs::ProcFile::from_number` numbers them): formats into `buf` (`len` bytes) and
/// returns the length written.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[no_mangle]
unsafe extern "C" fn nvsim_format_proc(file: u32, buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else { return 0 };
    let Some(file) = crate::nvsim_model::procfs::ProcFile::from_number(file) else {
        return 0;
    };
    // SAFETY: per the contract, `buf` is writable for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut writer = SliceWriter { buf: out, len: 0 };
    let _ = crate::nvsim_model::procfs::format(file, &state.gpus, state.version, &mut writer);
    writer.len
}
