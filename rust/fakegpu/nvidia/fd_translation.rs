// SPDX-License-Identifier: GPL-2.0

//! NVIDIA calls made in the caller's worker, so that no real driver file ever enters a fd
//! table a user process can reach.
//!
//! The NVIDIA driver resolves fds inside some parameters with `fget` in the calling task's
//! table, and walks that table for an open file of the GPU at device allocation and
//! UVM_REGISTER_GPU. A container only holds fakegpu files, whose major the driver refuses.
//! Installing the real files in the caller's table, even briefly, would let a sibling thread
//! use, dup, send or `pidfd_getfd` them. So these calls run in the caller's worker
//! (`proxy/worker.rs`) with the caller's mm and credentials: the real files behind the
//! caller's fake files are installed in the kernel threads' fd table for the length of the
//! call, the parameters' fds are rewritten to those numbers, and the caller's values are
//! written back before the ioctl returns.
//!
//! One worker per process, not one for all: the driver records the process that creates an
//! RM client and later requires mappings of that client to be set up by the same process, so
//! clients are created in the worker too, which stands for its process (`nv_proxy`).

use crate::abi::nv_frontend::NV_CTL_MINOR;
use crate::abi::pod::read_pod;
use crate::policy::fronts::Family;
use crate::policy::gpu_set::{GpuSet, Visibility};
use crate::policy::nv_proxy::WorkerCall;
use crate::proxy::forward::fake_file_of;
use crate::proxy::personality::{FakeFile, IoctlFn};
use crate::proxy::private_call::PrivateCall;
use crate::proxy::real_devices::RealFile;
use crate::proxy::state::State;
use crate::proxy::worker::{
    for_each_caller_fake_file, real_ref, run_in_worker, FileSet, Installed, MAX_SET_FILES,
};
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;

/// Most fd parameters one call carries.
const MAX_FD_PARAMS: usize = 2;

/// Whether the fake NVIDIA file `fake` is one the caller may use: not a GPU that its cgroup
/// may not see.
fn usable(fake: &FakeFile, visible: &Visibility) -> bool {
    fake.front.family != Family::Nvidia
        || fake.front.real.minor == NV_CTL_MINOR
        || visible.allows(fake.front.real.minor)
}

/// The real file behind the caller's fd `fd` if that is a fakegpu NVIDIA file (ctl, GPU or
/// UVM; the driver judges the kind on the real file, as it would have without fakegpu) that
/// the caller may use.
pub(crate) fn real_behind_fd(fd: i32, visible: &Visibility) -> Option<RealFile> {
    let fd = c_uint::try_from(fd).ok()?;
    // SAFETY: `fget` looks the fd up in the caller's table and returns a referenced file.
    let file = NonNull::new(unsafe { bindings::fget(fd) })?;
    // SAFETY: we hold the `fget` reference until the end of this function.
    let real = unsafe { fake_file_of(file.as_ptr()) }.and_then(|fake: &FakeFile| {
        match fake.front.family {
            Family::Nvidia | Family::NvidiaUvm if usable(fake, visible) => real_ref(fake),
            Family::Nvidia | Family::NvidiaUvm | Family::Drm | Family::Generic => None,
        }
    });
    // SAFETY: the reference `fget` returned.
    unsafe { bindings::fput(file.as_ptr()) };
    real
}

/// The real files behind the fake GPU files the caller has open, one per GPU its cgroup
/// may see (`visible`), for a call whose driver walks the fd table for them; and the minors
/// of those GPUs.
pub(crate) fn caller_gpu_files(visible: Visibility) -> Result<(KBox<FileSet>, GpuSet)> {
    let mut set = FileSet::new()?;
    let mut minors = [0u32; MAX_SET_FILES];
    for_each_caller_fake_file(|fake| {
        let minor = fake.front.real.minor;
        if fake.front.family != Family::Nvidia || minor == NV_CTL_MINOR || !visible.allows(minor) {
            return 0;
        }
        let len = set.len();
        let seen = minors.get(..len).is_some_and(|m| m.contains(&minor));
        if !seen {
            if let (Some(m), Some(file)) = (minors.get_mut(len), real_ref(fake)) {
                if set.push(file) {
                    *m = minor;
                }
            }
        }
        0
    });
    let mut held = GpuSet::EMPTY;
    for &minor in minors.get(..set.len()).unwrap_or(&[]) {
        held.insert(minor);
    }
    Ok((set, held))
}

/// One call, as the worker makes it.
struct Job<'a> {
    /// The fake file whose real file is called, and the driver's ioctl handler.
    fake: &'a FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    /// The user address of the parameters.
    ptr: usize,
    /// Per fd parameter: its offset, the caller's value, and the real file to install.
    fds: [(usize, i32, Option<RealFile>); MAX_FD_PARAMS],
    nfds: usize,
    gpu_files: Option<KBox<FileSet>>,
    ret: c_long,
}

/// Writes the fd `value` into the parameters at `offset`.
fn write_fd(ptr: usize, offset: usize, value: i32) -> Result {
    let addr = ptr.checked_add(offset).ok_or(EFAULT)?;
    crate::compat::user_slice(addr, 4)
        .writer()
        .write_slice(&value.to_ne_bytes())
}

/// The worker side of [`run`]: installs the files, rewrites the fds, calls the driver,
/// restores the caller's fds and closes the worker's.
///
/// # Safety
///
/// `ctx` is the `Job` of [`run`], which waits for this to return.
unsafe extern "C" fn job_in_worker(ctx: *mut c_void) {
    // SAFETY: per the contract, `ctx` is the caller's `Job`, lent to us until we return.
    let job = unsafe { &mut *ctx.cast::<Job<'_>>() };
    let mut installed = Installed::new();
    let prepared = (|| -> Result {
        if let Some(gpus) = &job.gpu_files {
            installed.install_set(gpus)?;
        }
        for (offset, _, file) in job.fds.iter().take(job.nfds) {
            // A fd that is not a fakegpu NVIDIA file becomes -1, which resolves to nothing:
            // the driver then answers as it does for any bad fd.
            let value = match file {
                Some(file) => installed.install(file)?,
                None => -1,
            };
            write_fd(job.ptr, *offset, value)?;
        }
        Ok(())
    })();
    job.ret = match prepared {
        // SAFETY: as the VFS would call it on the real file, from a task that has the
        // caller's mm (the parameters are the caller's memory) and credentials.
        Ok(()) => unsafe {
            (job.ioctl)(
                job.fake.real.as_ptr(),
                job.cmd,
                job.ptr as kernel::ffi::c_ulong,
            )
        },
        Err(e) => e.to_errno() as c_long,
    };
    for (offset, original, _) in job.fds.iter().take(job.nfds) {
        // The caller sees its own fds again. If its memory is gone it cannot see them anyway.
        let _ = write_fd(job.ptr, *offset, *original);
    }
    // The worker's fds close as `installed` drops.
}

/// Makes the ioctl `cmd` on the real file of `fake` in the caller's worker, translating the
/// fds of `call` found in `params` (the caller's parameters at `ptr`, as fakegpu read them).
pub(crate) fn run(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    params: &[u8],
    call: WorkerCall,
) -> c_long {
    let result = (|| -> Result<c_long> {
        let mut job = Job {
            fake,
            ioctl,
            cmd,
            ptr,
            fds: [const { (0, -1, None) }; MAX_FD_PARAMS],
            nfds: 0,
            gpu_files: None,
            ret: 0,
        };
        let visible = match State::get() {
            Some(state) => state.cgroups.visibility_of_current(),
            None => return Err(ENXIO),
        };
        for &offset in call.fd_offsets {
            // `params` is the head fakegpu read (`HEAD_MAX` bytes); an fd past it (UVM's
            // MAP_EXTERNAL_ALLOCATION carries one at 1184) is read on its own.
            let original = match params.get(offset..).and_then(read_pod::<u32>) {
                Some(fd) => fd as i32,
                None => {
                    let at = ptr.checked_add(offset).ok_or(EFAULT)?;
                    let mut fd = [0u8; 4];
                    crate::compat::user_slice(at, 4)
                        .reader()
                        .read_slice(&mut fd)?;
                    i32::from_ne_bytes(fd)
                }
            };
            let slot = job.fds.get_mut(job.nfds).ok_or(EINVAL)?;
            *slot = (offset, original, real_behind_fd(original, &visible));
            job.nfds += 1;
        }
        if call.gpu_files {
            job.gpu_files = Some(caller_gpu_files(visible)?.0);
        }
        // SAFETY: `job_in_worker` takes the `Job` it is given; `job` outlives the run.
        unsafe { run_in_worker(job_in_worker, (&raw mut job).cast()) }?;
        Ok(job.ret)
    })();
    result.unwrap_or_else(|e| e.to_errno() as c_long)
}

/// Makes the ioctl `cmd` with the `size`-byte parameters at the caller's `ptr` on fakegpu's
/// private copy of them, in the caller's worker, with the fds of `call` translated in that
/// copy: for the calls that do not work on the caller's address space
/// ([`WorkerCall::caller_memory`] is false). The driver then resolves the files fakegpu
/// chose, whatever the caller's memory says meanwhile, so the call needs the workers' fd
/// table only shared.
pub(crate) fn run_private(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    size: usize,
    call: WorkerCall,
) -> c_long {
    let result = (|| -> Result<c_long> {
        let visible = match State::get() {
            Some(state) => state.cgroups.visibility_of_current(),
            None => return Err(ENXIO),
        };
        let mut private = PrivateCall::new(fake, ioctl, cmd, ptr, size)?;
        for &offset in call.fd_offsets {
            let original = private.fd_at(offset).ok_or(EINVAL)?;
            private.with_fd(offset, real_behind_fd(original, &visible))?;
        }
        if call.gpu_files {
            private.with_files(caller_gpu_files(visible)?.0);
        }
        let ret = private.run()?;
        private.answer(ptr, ret)
    })();
    result.unwrap_or_else(|e| e.to_errno() as c_long)
}
