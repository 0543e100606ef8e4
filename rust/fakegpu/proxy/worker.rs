// SPDX-License-Identifier: GPL-2.0

//! NVIDIA calls made in the caller's worker, so that no real driver file ever enters a fd
//! table a user process can reach.
//!
//! The NVIDIA driver resolves fds inside some parameters with `fget` in the calling task's
//! table, and walks that table for an open file of the GPU at device allocation and
//! UVM_REGISTER_GPU. A container only holds fakegpu files, whose major the driver refuses.
//! Installing the real files in the caller's table, even briefly, would let a sibling thread
//! use, dup, send or `pidfd_getfd` them. So these calls run in a kernel thread of fakegpu's,
//! one per calling process (`worker_shim.c`), with the caller's mm and credentials: the real
//! files behind the caller's fake files are installed in the kernel threads' fd table for
//! the length of the call, the parameters' fds are rewritten to those numbers, and the
//! caller's values are written back before the ioctl returns.
//!
//! One worker per process, not one for all: the driver records the process that creates an
//! RM client and later requires mappings of that client to be set up by the same process, so
//! clients are created in the worker too, which stands for its process (`nv_proxy`).

use crate::forward::{fake_file_of, FakeFile, IoctlFn};
use crate::real_devices::RealFile;
use crate::policy::fronts::Family;
use crate::policy::gpu_set::Visibility;
use crate::abi::nv_frontend::NV_CTL_MINOR;
use crate::policy::nv_proxy::WorkerCall;
use crate::abi::pod::read_pod;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_uint};
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

extern "C" {
    // `struct file *` passes as `void *` (see `fakegpu_main.rs` on rustc's FFI lint).
    fn fakegpu_worker_for_current() -> *mut c_void;
    fn fakegpu_worker_run(
        worker: *mut c_void,
        f: unsafe extern "C" fn(*mut c_void),
        ctx: *mut c_void,
    ) -> c_int;
    fn fakegpu_worker_run_private(
        worker: *mut c_void,
        f: unsafe extern "C" fn(*mut c_void),
        ctx: *mut c_void,
    ) -> c_int;
    fn fakegpu_install_file(file: *mut c_void) -> c_int;
    fn fakegpu_close_fd(fd: c_int);
    fn fakegpu_iterate_caller_fds(
        f: unsafe extern "C" fn(*const c_void, *mut c_void, c_uint) -> c_int,
        ctx: *const c_void,
    ) -> c_int;
    /// Destroys every worker; only when no fake file is open (module exit).
    pub(crate) fn fakegpu_workers_destroy();
}

/// Most fd parameters one call carries.
const MAX_FD_PARAMS: usize = 2;
/// Most GPUs whose files one call installs (the driver's limit of attached GPUs).
const MAX_GPU_FILES: usize = 32;

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
fn real_behind_fd(fd: i32, visible: &Visibility) -> Option<RealFile> {
    let fd = c_uint::try_from(fd).ok()?;
    // SAFETY: `fget` looks the fd up in the caller's table and returns a referenced file.
    let file = NonNull::new(unsafe { bindings::fget(fd) })?;
    // SAFETY: we hold the `fget` reference until the end of this function.
    let real = unsafe { fake_file_of(file.as_ptr()) }.and_then(|fake: &FakeFile| {
        match fake.front.family {
            Family::Nvidia | Family::NvidiaUvm if usable(fake, visible) => {
                let real = NonNull::new(fake.real.as_ptr())?;
                // SAFETY: the fake file (referenced) holds its real file open.
                Some(unsafe { RealFile::new_ref(real) })
            }
            Family::Nvidia | Family::NvidiaUvm | Family::Drm | Family::Generic => None,
        }
    });
    // SAFETY: the reference `fget` returned.
    unsafe { bindings::fput(file.as_ptr()) };
    real
}

/// What the fd-table walk collects: the real file behind one fake file per GPU minor, for
/// the GPUs the caller's cgroup may see.
pub(crate) struct GpuFiles {
    visible: Visibility,
    files: [Option<RealFile>; MAX_GPU_FILES],
    minors: [u32; MAX_GPU_FILES],
    len: usize,
}

/// `iterate_fd` callback: records the real file behind a fake GPU file of a GPU not yet seen.
/// Runs under the fd table's spinlock: takes references, never sleeps or allocates.
///
/// # Safety
///
/// `ctx` is the `GpuFiles` of [`caller_gpu_files`], `file` an open file of the table.
unsafe extern "C" fn collect_gpu_file(ctx: *const c_void, file: *mut c_void, _fd: c_uint) -> c_int {
    // SAFETY: `ctx` points to the `GpuFiles` that `caller_gpu_files` owns and lends to this
    // walk alone (the walk is synchronous and nothing else touches it meanwhile).
    let found = unsafe { &mut *ctx.cast_mut().cast::<GpuFiles>() };
    // SAFETY: the table's lock keeps the file referenced while the callback runs.
    let Some(fake) = (unsafe { fake_file_of(file.cast()) }) else {
        return 0;
    };
    let minor = fake.front.real.minor;
    if fake.front.family != Family::Nvidia || minor == NV_CTL_MINOR || !found.visible.allows(minor)
    {
        return 0;
    }
    let seen = found
        .minors
        .get(..found.len)
        .is_some_and(|m| m.contains(&minor));
    if !seen && found.len < MAX_GPU_FILES {
        if let (Some(slot), Some(m)) = (
            found.files.get_mut(found.len),
            found.minors.get_mut(found.len),
        ) {
            // SAFETY: the fake file is open (the table's lock holds it) and holds its real
            // file open.
            *slot = NonNull::new(fake.real.as_ptr()).map(|real| unsafe { RealFile::new_ref(real) });
            *m = minor;
            found.len += 1;
        }
    }
    0
}

/// The real files behind the fake GPU files the caller has open, one per GPU it may see.
pub(crate) fn caller_gpu_files(visible: Visibility) -> Result<KBox<GpuFiles>> {
    let found = KBox::new(
        GpuFiles {
            visible,
            files: [const { None }; MAX_GPU_FILES],
            minors: [0; MAX_GPU_FILES],
            len: 0,
        },
        GFP_KERNEL,
    )?;
    // SAFETY: the callback matches the contract above and `found` outlives the walk.
    unsafe { fakegpu_iterate_caller_fds(collect_gpu_file, (&raw const *found).cast()) };
    Ok(found)
}

/// The fds a worker call installed in the worker's table, closed on drop.
pub(crate) struct Installed(KVec<c_int>);

impl Installed {
    /// None yet.
    pub(crate) fn new() -> Self {
        Installed(KVec::new())
    }

    /// Installs `file` in the worker's table; its fd.
    pub(crate) fn install(&mut self, file: &RealFile) -> Result<c_int> {
        self.0.push(-1, GFP_KERNEL)?;
        // SAFETY: `file` is referenced; the new fd takes its own reference.
        let fd = unsafe { fakegpu_install_file(file.as_ptr().cast()) };
        if fd < 0 {
            return Err(Error::from_errno(fd));
        }
        if let Some(last) = self.0.last_mut() {
            *last = fd;
        }
        Ok(fd)
    }

    /// Installs the real file of each GPU of `gpus`.
    pub(crate) fn install_gpus(&mut self, gpus: &GpuFiles) -> Result {
        for file in gpus.files.iter().flatten() {
            self.install(file)?;
        }
        Ok(())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        for &fd in self.0.iter().filter(|&&fd| fd >= 0) {
            // SAFETY: an fd this call installed in the worker's table.
            unsafe { fakegpu_close_fd(fd) };
        }
    }
}

/// Runs `f(ctx)` in the calling process's worker, with fakegpu's scratch mm when `private`,
/// else the caller's, and the caller's credentials; waits for it.
///
/// # Safety
///
/// `f` must be safe to call with `ctx`, in a worker, while the caller waits.
pub(crate) unsafe fn run_in_worker(
    f: unsafe extern "C" fn(*mut c_void),
    ctx: *mut c_void,
    private: bool,
) -> Result {
    // SAFETY: reads `current`'s thread group.
    let worker = unsafe { fakegpu_worker_for_current() };
    if worker.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `worker` stays valid while the calling process lives; the caller keeps `ctx`
    // alive until the run returns, which waits for `f` to return.
    let ret = unsafe {
        if private {
            fakegpu_worker_run_private(worker, f, ctx)
        } else {
            fakegpu_worker_run(worker, f, ctx)
        }
    };
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(())
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
    gpu_files: Option<KBox<GpuFiles>>,
    ret: c_long,
}

/// Writes the fd `value` into the parameters at `offset`.
fn write_fd(ptr: usize, offset: usize, value: i32) -> Result {
    let addr = ptr.checked_add(offset).ok_or(EFAULT)?;
    UserSlice::new(addr, 4)
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
            installed.install_gpus(gpus)?;
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
        Ok(()) => unsafe { (job.ioctl)(job.fake.real.as_ptr(), job.cmd, job.ptr as _) },
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
        let visible = match crate::State::get() {
            Some(state) => state.cgroups.visibility_of_current(),
            None => return Err(ENXIO),
        };
        for &offset in call.fd_offsets {
            let original = params
                .get(offset..)
                .and_then(read_pod::<u32>)
                .ok_or(EINVAL)? as i32;
            let slot = job.fds.get_mut(job.nfds).ok_or(EINVAL)?;
            *slot = (offset, original, real_behind_fd(original, &visible));
            job.nfds += 1;
        }
        if call.gpu_files {
            job.gpu_files = Some(caller_gpu_files(visible)?);
        }
        // SAFETY: `job_in_worker` takes the `Job` it is given; `job` outlives the run.
        unsafe { run_in_worker(job_in_worker, (&raw mut job).cast(), false) }?;
        Ok(job.ret)
    })();
    result.unwrap_or_else(|e| e.to_errno() as c_long)
}
