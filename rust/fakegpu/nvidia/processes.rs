// SPDX-License-Identifier: GPL-2.0

//! GPU_GET_PIDS and GPU_GET_PID_INFO through fakegpu: the processes using a GPU, and the
//! video memory of each (what `nvidia-smi --query-compute-apps` shows).
//!
//! The driver records the process that made a client, which for a client made through
//! fakegpu is the caller's worker, and answers in the pid namespace of the task that asks.
//! So fakegpu asks from the worker (the initial namespace: global pids), on its private copy
//! of the parameters (the caller never holds the driver's list of every tenant's
//! processes), and translates (`worker_shim.c`): a worker's pid becomes its process's, pids
//! become the caller's view of them, and processes outside the caller's cgroup (and below)
//! are left out, unless the operator wrote `all` to the `processes` file of its cgroup (or
//! an ancestor's) for a monitoring agent. GET_PID_INFO's pids go the other way first; one the caller cannot see goes
//! to the driver as 0, which names no process.

use crate::abi::nv_rm::{ctrl, Nvos54};
use crate::abi::nv_status::NV_OK;
use crate::abi::pod::{read_pod, write_pod};
use crate::proxy::private_call::PrivateCall;
use core::mem::offset_of;
use kernel::ffi::{c_int, c_long};
use kernel::prelude::*;

extern "C" {
    fn fakegpu_pid_for_caller(nr: c_int, any_cgroup: c_int) -> c_int;
    fn fakegpu_driver_pid_for(vnr: c_int, any_cgroup: c_int) -> c_int;
}

/// GPU_GET_PIDS' parameters: idType, id, pidTblCount, then the pids.
pub(crate) const GET_PIDS_SIZE: usize = 12 + 4 * ctrl::GET_PIDS_MAX;
const PIDS_COUNT_AT: usize = 8;
const PIDS_AT: usize = 12;
/// GPU_GET_PID_INFO's parameters: pidInfoListCount, then the entries (pid first).
pub(crate) const GET_PID_INFO_SIZE: usize = 8 + ctrl::PID_INFO_ENTRY * ctrl::GET_PID_INFO_MAX;
const ENTRIES_AT: usize = 8;

fn word(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..).and_then(read_pod::<u32>).unwrap_or(0)
}

fn put(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = bytes.get_mut(at..) {
        write_pod(slot, &value);
    }
}

/// The caller's view of global pid `nr` (0: not one of its processes, or of any process if
/// `all`, the operator's opt-in for the caller's cgroup).
pub(crate) fn pid_for_caller(nr: u32, all: bool) -> u32 {
    let nr = c_int::try_from(nr).unwrap_or(0);
    // SAFETY: looks the pid up under the workers' lock and RCU; no pointer is passed.
    let vnr = unsafe { fakegpu_pid_for_caller(nr, c_int::from(all)) };
    u32::try_from(vnr).unwrap_or(0)
}

/// The global pid the driver knows the caller's process `vnr` by (0: none it may ask about;
/// any process it sees if `all`).
fn driver_pid_for(vnr: u32, all: bool) -> u32 {
    let vnr = c_int::try_from(vnr).unwrap_or(0);
    // SAFETY: as in `pid_for_caller`.
    let nr = unsafe { fakegpu_driver_pid_for(vnr, c_int::from(all)) };
    u32::try_from(nr).unwrap_or(0)
}

/// Whether the driver answered `call` (ioctl result `ret`) with success.
fn answered(call: &PrivateCall<'_>, ret: c_long) -> bool {
    ret == 0 && word(call.outer(), offset_of!(Nvos54, status)) == NV_OK
}

/// GPU_GET_PIDS: the driver's list, each pid the caller's view of it, the caller's
/// processes only unless `all` (its cgroup's `processes` file says `all`).
pub(crate) fn get_pids(copy: PrivateCall<'_>, ptr: usize, all: bool) -> Result<c_long> {
    let params_at = offset_of!(Nvos54, params);
    let mut call = copy;
    call.follow(params_at, GET_PIDS_SIZE)?;
    let ret = call.run()?;
    let ok = answered(&call, ret);
    if let Some(p) = call.block_mut(params_at) {
        let listed = (word(p, PIDS_COUNT_AT) as usize).min(ctrl::GET_PIDS_MAX);
        let mut shown = 0usize;
        for i in 0..listed {
            let vnr = if ok {
                pid_for_caller(word(p, PIDS_AT + 4 * i), all)
            } else {
                0
            };
            // Several clients of one process (or its worker) name it once.
            let seen = (0..shown).any(|j| word(p, PIDS_AT + 4 * j) == vnr);
            if vnr != 0 && !seen {
                put(p, PIDS_AT + 4 * shown, vnr);
                shown += 1;
            }
        }
        // No pid of the driver's list stays behind.
        for i in shown..ctrl::GET_PIDS_MAX {
            put(p, PIDS_AT + 4 * i, 0);
        }
        put(p, PIDS_COUNT_AT, shown as u32);
    }
    call.answer(ptr, ret)
}

/// GPU_GET_PID_INFO: each entry's pid as the driver knows it, then put back.
pub(crate) fn get_pid_info(copy: PrivateCall<'_>, ptr: usize, all: bool) -> Result<c_long> {
    let params_at = offset_of!(Nvos54, params);
    let mut call = copy;
    call.follow(params_at, GET_PID_INFO_SIZE)?;
    let mut asked = [0u32; ctrl::GET_PID_INFO_MAX];
    let mut count = 0;
    if let Some(p) = call.block_mut(params_at) {
        // More entries than fit: the driver refuses the call, and reads none of them.
        count = (word(p, 0) as usize).min(ctrl::GET_PID_INFO_MAX);
        for (i, asked) in asked.iter_mut().enumerate().take(count) {
            let at = ENTRIES_AT + ctrl::PID_INFO_ENTRY * i;
            *asked = word(p, at);
            put(p, at, driver_pid_for(*asked, all));
        }
    }
    let ret = call.run()?;
    if let Some(p) = call.block_mut(params_at) {
        for (i, &asked) in asked.iter().enumerate().take(count) {
            put(p, ENTRIES_AT + ctrl::PID_INFO_ENTRY * i, asked);
        }
    }
    call.answer(ptr, ret)
}
