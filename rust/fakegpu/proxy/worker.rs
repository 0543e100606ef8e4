// SPDX-License-Identifier: GPL-2.0

//! Per-process workers: calls made in a kernel thread of fakegpu's that stands for the
//! calling process (`worker_shim.c`), with the caller's credentials and either the caller's
//! mm or fakegpu's scratch mm. The kernel threads share one fd table, reachable by no user
//! process: a personality installs real files there for the length of one call (a driver
//! that resolves fds or walks the fd table then finds them) and they are closed before the
//! call returns, so no real driver file ever enters a table a user process can reach.

use super::forward::fake_file_of;
use super::personality::FakeFile;
use super::real_devices::RealFile;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::ffi::{c_int, c_uint};
use kernel::prelude::*;

extern "C" {
    // `struct file *` passes as `void *` (see `task.rs` on rustc's FFI lint).
    fn fakegpu_worker_for_current(err: *mut c_int) -> *mut c_void;
    fn fakegpu_worker_run(
        worker: *mut c_void,
        f: unsafe extern "C" fn(*mut c_void),
        ctx: *mut c_void,
    ) -> c_int;
    fn fakegpu_worker_run_private(worker: *mut c_void, f: PrivateFn, ctx: *mut c_void) -> c_int;
    fn fakegpu_worker_run_sealed(worker: *mut c_void, f: PrivateFn, ctx: *mut c_void) -> c_int;
    fn fakegpu_run_in_scratch(cred: *const c_void, f: PrivateFn, ctx: *mut c_void) -> c_int;
    fn fakegpu_cred_get_current() -> *const c_void;
    fn fakegpu_cred_put(cred: *const c_void);
    fn fakegpu_scratch_slot_size() -> usize;
    fn fakegpu_governor_slot_size() -> usize;
    fn fakegpu_install_file(file: *mut c_void) -> c_int;
    fn fakegpu_close_fd(fd: c_int);
    fn fakegpu_iterate_caller_fds(
        f: unsafe extern "C" fn(*const c_void, *mut c_void, c_uint) -> c_int,
        ctx: *const c_void,
    ) -> c_int;
    /// Destroys every worker; only when no fake file is open (module exit).
    pub(crate) fn fakegpu_workers_destroy();
    /// Destroys the workers of processes that have exited.
    fn fakegpu_workers_reap_exited();
}

/// Most files one call installs besides its fd parameters (the NVIDIA driver's limit of
/// attached GPUs).
pub(crate) const MAX_SET_FILES: usize = 32;

/// Real files a call installs in the worker's table before the driver runs.
pub(crate) struct FileSet {
    files: [Option<RealFile>; MAX_SET_FILES],
    len: usize,
}

impl FileSet {
    /// An empty set, boxed: it is too large for a kernel stack.
    pub(crate) fn new() -> Result<KBox<Self>> {
        Ok(KBox::new(
            FileSet {
                files: [const { None }; MAX_SET_FILES],
                len: 0,
            },
            GFP_KERNEL,
        )?)
    }

    /// Adds `file`; false if the set is full.
    pub(crate) fn push(&mut self, file: RealFile) -> bool {
        match self.files.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(file);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// How many files it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The fake file behind an open file of the caller's fd table, if it is a fakegpu file, to
/// `f` for each; the walk stops at the first non-zero return.
///
/// `f` runs under the fd table's spinlock: it may take references but never sleep or
/// allocate.
pub(crate) fn for_each_caller_fake_file<F: FnMut(&FakeFile) -> c_int>(mut f: F) {
    /// `iterate_fd` callback: hands each fake file to the closure.
    ///
    /// # Safety
    ///
    /// `ctx` is the closure of the walk below, `file` an open file of the table.
    unsafe extern "C" fn visit<G: FnMut(&FakeFile) -> c_int>(
        ctx: *const c_void,
        file: *mut c_void,
        _fd: c_uint,
    ) -> c_int {
        // SAFETY: `ctx` is the closure `for_each_caller_fake_file` owns and lends to this
        // walk alone (the walk is synchronous and nothing else touches it meanwhile).
        let f = unsafe { &mut *ctx.cast_mut().cast::<G>() };
        // SAFETY: the table's lock keeps the file referenced while the callback runs.
        match unsafe { fake_file_of(file.cast()) } {
            Some(fake) => f(fake),
            None => 0,
        }
    }
    // SAFETY: the callback matches the contract above and `f` outlives the walk.
    unsafe { fakegpu_iterate_caller_fds(visit::<F>, (&raw mut f).cast_const().cast()) };
}

/// A new reference on the real file behind the open fake file `fake`.
pub(crate) fn real_ref(fake: &FakeFile) -> Option<RealFile> {
    let real = NonNull::new(fake.real.as_ptr())?;
    // SAFETY: the fake file (open, so referenced by the caller) holds its real file open.
    Some(unsafe { RealFile::new_ref(real) })
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

    /// Installs each file of `set`.
    pub(crate) fn install_set(&mut self, set: &FileSet) -> Result {
        for file in set.files.iter().flatten() {
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

/// The calling process's worker, made on its first call.
fn worker_for_current() -> Result<*mut c_void> {
    let mut err: c_int = 0;
    // SAFETY: reads `current`'s thread group; `err` is writable.
    let worker = unsafe { fakegpu_worker_for_current(&mut err) };
    if worker.is_null() {
        // EAGAIN when the cgroup has `max_workers_per_cgroup` workers already.
        return Err(Error::from_errno(if err < 0 { err } else { -12 }));
    }
    Ok(worker)
}

/// Runs `f(ctx)` in the calling process's worker, with the caller's mm and credentials;
/// waits for it.
///
/// # Safety
///
/// `f` must be safe to call with `ctx`, in a worker, while the caller waits.
pub(crate) unsafe fn run_in_worker(
    f: unsafe extern "C" fn(*mut c_void),
    ctx: *mut c_void,
) -> Result {
    let worker = worker_for_current()?;
    // SAFETY: `worker` stays valid while the calling process lives; the caller keeps `ctx`
    // alive until the run returns, which waits for `f` to return.
    let ret = unsafe { fakegpu_worker_run(worker, f, ctx) };
    kernel::error::to_result(ret)
}

/// A call on a private copy, as the worker makes it: `f(ctx, slot, kslot)`, where `slot` is
/// the user address the driver is given and `kslot`, if not null, the kernel address
/// through which the copy must be written and read (see [`PrivateSpace::CallerSealed`]).
pub(crate) type PrivateFn = unsafe extern "C" fn(*mut c_void, usize, *mut c_void);

/// Where a private call's copy lies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrivateSpace {
    /// The worker's own slot of fakegpu's scratch mm ([`scratch_slot_size`] bytes), with
    /// that mm: no user process can reach it. `kslot` is null.
    Scratch,
    /// The worker's sealed page in the caller's own mm (`sealed_page.c`), with that mm, for
    /// a call the driver must make there: the tenant can neither write nor replace that
    /// page, but a write through its user address would let the tenant write it too, so the
    /// worker writes and reads it through `kslot` only. A page that cannot be made gives a
    /// null `slot` and `kslot`.
    CallerSealed,
    /// The governor's own slot of the scratch mm ([`governor_slot_size`] bytes), for a call
    /// fakegpu makes itself from the governor's thread ([`run_in_scratch`]).
    Governor,
}

/// Runs `f` in the calling process's worker, with the mm of `space` and the caller's
/// credentials. Waits for it.
///
/// # Safety
///
/// `f` must be safe to call with `ctx`, in a worker, while the caller waits.
pub(crate) unsafe fn run_private(f: PrivateFn, ctx: *mut c_void, space: PrivateSpace) -> Result {
    let worker = worker_for_current()?;
    // SAFETY: as in `run_in_worker`.
    let ret = unsafe {
        match space {
            PrivateSpace::Scratch => fakegpu_worker_run_private(worker, f, ctx),
            PrivateSpace::CallerSealed => fakegpu_worker_run_sealed(worker, f, ctx),
            // Only the governor's thread uses that slot, through `run_in_scratch`.
            PrivateSpace::Governor => return Err(EINVAL),
        }
    };
    kernel::error::to_result(ret)
}

/// A reference on a task's credentials (`struct cred`), dropped with the value.
///
/// INVARIANT: `self.0` is a credential this value holds one reference on.
pub(crate) struct CredRef(NonNull<c_void>);

// SAFETY: a `struct cred` reference may be used and dropped from any thread.
unsafe impl Send for CredRef {}
// SAFETY: credentials are immutable once published.
unsafe impl Sync for CredRef {}

impl CredRef {
    /// The calling task's credentials.
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: takes a reference on the current task's credentials.
        let cred = unsafe { fakegpu_cred_get_current() };
        // INVARIANT: the reference just taken.
        NonNull::new(cred.cast_mut()).map(CredRef)
    }

    /// Another reference on the same credentials.
    pub(crate) fn clone_ref(&self) -> Self {
        // SAFETY: `get_cred` on credentials we hold a reference on, through the same shim.
        unsafe { fakegpu_get_cred(self.0.as_ptr()) };
        // INVARIANT: the reference just taken.
        CredRef(self.0)
    }
}

impl Drop for CredRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one reference.
        unsafe { fakegpu_cred_put(self.0.as_ptr()) };
    }
}

extern "C" {
    /// `get_cred` (`shim.c`).
    fn fakegpu_get_cred(cred: *mut c_void) -> *mut c_void;
}

/// Runs `f(ctx, slot, null)` in the calling kernel thread, with fakegpu's scratch mm, the
/// governor's own slot of the scratch range (its alone) and the credentials `cred`: a call
/// fakegpu makes on its own behalf, which no tenant's worker can delay.
///
/// # Safety
///
/// Only one thread may use this (it owns the slot), and `f` must be safe to call with `ctx`.
pub(crate) unsafe fn run_in_scratch(cred: &CredRef, f: PrivateFn, ctx: *mut c_void) -> Result {
    // SAFETY: per the contract; `cred` is referenced for the call.
    let ret = unsafe { fakegpu_run_in_scratch(cred.0.as_ptr(), f, ctx) };
    kernel::error::to_result(ret)
}

/// Bytes a private call may use from its slot's address.
pub(crate) fn scratch_slot_size() -> usize {
    // SAFETY: returns a constant of the shim.
    unsafe { fakegpu_scratch_slot_size() }
}

/// Bytes a call of the governor's may use from its slot's address ([`run_in_scratch`]).
pub(crate) fn governor_slot_size() -> usize {
    // SAFETY: returns a constant of the shim.
    unsafe { fakegpu_governor_slot_size() }
}

/// Lets the worker threads of exited processes go (once a second, from the reaper).
pub(crate) fn reap_exited() {
    // SAFETY: takes the workers' lock; a worker is destroyed only once its process has no
    // task left, so no call of that process is under way.
    unsafe { fakegpu_workers_reap_exited() };
}

extern "C" {
    fn fakegpu_scratch_map(file: *mut c_void, len: usize) -> kernel::ffi::c_long;
    fn fakegpu_scratch_unmap(addr: usize, len: usize) -> c_int;
}

/// Maps `len` bytes of `file` from its start, read-only and shared, into fakegpu's scratch
/// mm; the address. Fails (EINVAL) unless the calling thread runs with that mm: a job of
/// [`run_private`] in [`PrivateSpace::Scratch`], or of [`run_in_scratch`].
pub(crate) fn map_in_scratch(file: &RealFile, len: usize) -> Result<usize> {
    // SAFETY: `file` is referenced; the mapping takes its own reference. The shim checks
    // that the mm is the scratch mm, which no user process can reach.
    let ret = unsafe { fakegpu_scratch_map(file.as_ptr().cast(), len) };
    if ret < 0 {
        return Err(Error::from_errno(ret as c_int));
    }
    Ok(ret as usize)
}

/// Unmaps what [`map_in_scratch`] mapped at `addr`, `len` bytes, on the same terms.
pub(crate) fn unmap_in_scratch(addr: usize, len: usize) -> Result {
    // SAFETY: the shim only acts on the scratch mm, where only fakegpu maps anything.
    kernel::error::to_result(unsafe { fakegpu_scratch_unmap(addr, len) })
}
