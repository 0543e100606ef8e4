// SPDX-License-Identifier: GPL-2.0

//! nvsim's RM escapes: RM_ALLOC, RM_FREE and the others on the shared RM store (`State::rm`),
//! RM_CONTROL handed to `control.rs`, with the driver's conventions: a wrong parameter size
//! fails the ioctl (EINVAL), otherwise the ioctl succeeds and the outcome is the RM status
//! written into the parameters.

use crate::abi::nv_rm::{
    self, class, ctxshare_alloc_params, memory_alloc_params, vid_heap, NvUnixEvent, Nvos00, Nvos21,
    Nvos33WithFd, Nvos41, Nvos54, Nvos55, Nvos64,
};
use crate::abi::nv_status::*;
use crate::abi::pod::{read_pod, write_pod};
use crate::caller::{self, caller_holds_gpu};
use crate::control::control;
use crate::nvfile::{NvFile, NvFileRef};
use crate::nvsim_model::frontend::Node;
use crate::nvsim_model::rm::{self, Alloc, Handle, Request};
use crate::pages::{alloc_pages, pin_pages, MmapContext};
use crate::state::State;
use crate::trace::log_unimplemented;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

extern "C" {
    /// The RM status to fail this call with (fault injection, `shim.c`), or NV_OK.
    fn nvsim_fault_take() -> u32;
    /// The errno injected failures use instead of a status (1..4095), or 0.
    fn nvsim_fault_errno() -> kernel::ffi::c_int;
    /// Whether injected failures come after the call's work (`shim.c`): nonzero if so.
    fn nvsim_fault_after() -> kernel::ffi::c_int;
    /// Waits while the debugfs gate holds escape `nr` (`shim.c`): 0, or -EINTR if killed.
    fn nvsim_gate_wait(nr: kernel::ffi::c_uint) -> kernel::ffi::c_int;
}

/// Handles RM escape `nr` on the copied-in parameters `buf`.
pub(crate) fn rm_escape(state: &State, file: &NvFile, nr: u8, buf: &mut [u8]) -> Result {
    // The node rules (RM_ALLOC's hClass is at 12 in both forms) come before fault
    // injection: injected failures are RM statuses of calls the node admits.
    let class_id = buf.get(12..).and_then(read_pod::<u32>);
    if !nv_rm::node_allows(nr, file.node == Node::Ctl, class_id) {
        return Err(EINVAL);
    }
    // SAFETY: waits on the shim's wait queue, holding no lock of nvsim's.
    let gated = unsafe { nvsim_gate_wait(kernel::ffi::c_uint::from(nr)) };
    if gated != 0 {
        return Err(Error::from_errno(gated));
    }
    if let Some(at) = crate::abi::nv_trace::status_offset(nr, buf.len()) {
        // SAFETY: the shim only takes a spinlock and reads its parameters.
        let injected = unsafe { nvsim_fault_take() };
        // SAFETY: reads a module parameter.
        let errno = unsafe { nvsim_fault_errno() };
        // SAFETY: reads a module parameter.
        if injected != NV_OK && unsafe { nvsim_fault_after() } != 0 {
            // The call does its work, then the ioctl fails as the driver's does when copying
            // its answer back faults: the caller never sees the answer (or the new handle).
            run_escape(state, file, nr, buf)?;
            return Err(if errno != 0 {
                Error::from_errno(-errno)
            } else {
                EFAULT
            });
        }
        if injected != NV_OK && errno != 0 {
            return Err(Error::from_errno(-errno));
        }
        if injected != NV_OK {
            if let Some(field) = buf.get_mut(at..) {
                write_pod(field, &injected);
            }
            return Ok(());
        }
    }
    run_escape(state, file, nr, buf)
}

/// Runs RM escape `nr`, admitted for its node, on the copied-in parameters `buf`.
fn run_escape(state: &State, file: &NvFile, nr: u8, buf: &mut [u8]) -> Result {
    match nr {
        nv_rm::esc::RM_ALLOC => rm_alloc(state, file, buf),
        nv_rm::esc::RM_FREE => {
            let mut p: Nvos00 = exact(buf)?;
            let freed = state.rm.lock().free(file.id, p.h_root, p.h_object_old);
            p.status = match freed {
                Ok(_) => NV_OK,
                Err(status) => status,
            };
            if freed.is_ok() && p.h_object_old == p.h_root {
                // Freeing a client frees its OS events.
                state.os_events.forget(Some(p.h_root), None);
            }
            state.drop_freed_pages();
            write_pod(buf, &p);
            Ok(())
        }
        nv_rm::esc::RM_VID_HEAP_CONTROL => vid_heap(state, file, buf),
        nv_rm::esc::RM_ALLOC_MEMORY => alloc_memory(state, file, buf),
        nv_rm::esc::RM_SHARE => {
            // NVOS57: hClient@0 hObject@4 sharePolicy@8 (12 bytes) status@20. Share policies
            // are not simulated (RM_DUP_OBJECT admits any client), so a valid call succeeds.
            if buf.len() != 24 {
                return Err(EINVAL);
            }
            let client = read_pod::<u32>(buf).unwrap_or(0);
            let object = buf.get(4..).and_then(read_pod::<u32>).unwrap_or(0);
            let status = {
                let rm = state.rm.lock();
                match rm.get(client, client) {
                    Some(owner) if owner.file == file.id => {
                        if rm.get(client, object).is_some() {
                            NV_OK
                        } else {
                            NV_ERR_INVALID_OBJECT_HANDLE
                        }
                    }
                    _ => NV_ERR_INVALID_CLIENT,
                }
            };
            if let Some(at) = buf.get_mut(20..) {
                write_pod(at, &status);
            }
            Ok(())
        }
        nv_rm::esc::RM_DUP_OBJECT => {
            let mut p: Nvos55 = exact(buf)?;
            let r = state.rm.lock().dup(
                file.id,
                p.h_client,
                p.h_parent,
                p.h_object,
                p.h_client_src,
                p.h_object_src,
            );
            p.status = match r {
                Ok(handle) => {
                    p.h_object = handle;
                    NV_OK
                }
                Err(status) => status,
            };
            write_pod(buf, &p);
            Ok(())
        }
        nv_rm::esc::RM_MAP_MEMORY => {
            let mut p: Nvos33WithFd = exact(buf)?;
            p.status = match map_memory(state, file, &p) {
                Ok(()) => NV_OK,
                Err(status) => status,
            };
            // mmap maps the context at offset 0: that is the address token.
            p.p_linear_address = 0;
            write_pod(buf, &p);
            Ok(())
        }
        nv_rm::esc::RM_UPDATE_DEVICE_MAPPING_INFO => {
            // NVOS56: where the caller's mapping of a memory object now is. The mapping is
            // the process's VMA, so the RM only checks the handles.
            if buf.len() != 40 {
                return Err(EINVAL);
            }
            let word = |at: usize| buf.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
            let status = check_memory_handle(state, file, word(0), word(8));
            if let Some(at) = buf.get_mut(32..) {
                write_pod(at, &status);
            }
            Ok(())
        }
        nv_rm::esc::RM_UNMAP_MEMORY => {
            // NVOS34: hClient@0 hDevice@4 hMemory@8 pLinearAddress@16 status@24 flags@28. The
            // mapping itself is the process's VMA (munmap ends it), so the RM only checks the
            // handles.
            if buf.len() != 32 {
                return Err(EINVAL);
            }
            let word = |at: usize| buf.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
            let status = check_memory_handle(state, file, word(0), word(8));
            if let Some(at) = buf.get_mut(24..) {
                write_pod(at, &status);
            }
            Ok(())
        }
        crate::abi::nv_frontend::esc::REGISTER_FD => register_fd(state, file, buf),
        nv_rm::esc::RM_GET_EVENT_DATA => get_event_data(file, buf),
        crate::abi::nv_frontend::esc::ALLOC_OS_EVENT
        | crate::abi::nv_frontend::esc::FREE_OS_EVENT => {
            let mut p: crate::abi::nv_frontend::NvIoctlOsEvent = exact(buf)?;
            p.status = os_event(
                state,
                file,
                nr == crate::abi::nv_frontend::esc::ALLOC_OS_EVENT,
                &p,
            );
            write_pod(buf, &p);
            Ok(())
        }
        nv_rm::esc::RM_CONTROL => {
            let mut p: Nvos54 = exact(buf)?;
            p.status = control(state, file, &p);
            write_pod(buf, &p);
            Ok(())
        }
        _ => {
            log_unimplemented("escape", nr.into(), buf.len());
            Err(EINVAL)
        }
    }
}

/// The check of calls about a mapping the process made (RM_UNMAP_MEMORY,
/// UPDATE_DEVICE_MAPPING_INFO): the client is this file's and `memory` is an object of it
/// (memory, or the usermode region).
fn check_memory_handle(state: &State, file: &NvFile, client: Handle, memory: Handle) -> NvStatus {
    let rm = state.rm.lock();
    match rm.get(client, client) {
        Some(owner) if owner.file == file.id => match rm.get(client, memory) {
            Some(_) => NV_OK,
            None => NV_ERR_INVALID_OBJECT_HANDLE,
        },
        _ => NV_ERR_INVALID_CLIENT,
    }
}

/// REGISTER_FD: links this file to the caller's nvidiactl fd, once. The fd must be an open
/// nvidiactl file (major 195, minor 255: a pipe, /dev/null, a GPU node or any fakegpu node is
/// refused), not this file, and not itself linked. Failures are RM errors: EINVAL.
fn register_fd(state: &State, file: &NvFile, buf: &[u8]) -> Result {
    let p: crate::abi::nv_frontend::NvIoctlRegisterFd = exact(buf)?;
    let _api = state.api_lock.lock();
    let ctl = NvFileRef::from_fd(state, p.ctl_fd, true).ok_or(EINVAL)?;
    if ctl.nv_file().id == file.id || ctl.nv_file().inner.lock().ctl_link.is_some() {
        return Err(EINVAL);
    }
    let mut inner = file.inner.lock();
    if inner.ctl_link.is_some() {
        return Err(EINVAL);
    }
    inner.ctl_link = Some(ctl);
    Ok(())
}

/// The RM identity of the file `client` may be used through: this file if the client was
/// made on it or, for a device file, the nvidiactl file it is linked to by REGISTER_FD (the
/// RM's clientOSInfo). `None` if the client may not be used here.
fn client_file(state: &State, file: &NvFile, client: Handle) -> Option<u64> {
    let linked = file.inner.lock().ctl_link.as_ref().map(|l| l.nv_file().id);
    let owner = state.rm.lock().get(client, client).map(|c| c.file)?;
    (owner == file.id || Some(owner) == linked).then_some(owner)
}

/// NVOS02 `flags` fields an OS descriptor must carry (`nvos.h`): LOCATION (11:8) PCI,
/// MAPPING (31:30) NO_MAP, COHERENCY (15:12) uncached, cached or write-back.
const OS02_LOCATION_PCI: u32 = 0;
const OS02_MAPPING_NO_MAP: u32 = 1;
const OS02_OS_DESCRIPTOR_COHERENCIES: [u32; 3] = [0, 1, 5];

/// RM_ALLOC_MEMORY (NVOS02 + fd; `rm_escape` admits it on device files only): system memory
/// (0x3E) of `limit + 1` bytes, or the caller's own pages at `pMemory` (0x71, an OS
/// descriptor, with the flags and alignment the RM requires: pinned, as the driver pins
/// them, and charged to the system pool), for a client of
/// the linked nvidiactl file. With an fd (>= 0) and system memory it also sets the mmap
/// context on that nvidiactl file; if that fails the ioctl fails with EINVAL while the status
/// still reports the allocation, which stays (as the 535 driver does).
fn alloc_memory(state: &State, file: &NvFile, buf: &mut [u8]) -> Result {
    if buf.len() != 56 {
        return Err(EINVAL);
    }
    let word = |buf: &[u8], at: usize| buf.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
    let (client, parent, handle, class_id) =
        (word(buf, 0), word(buf, 4), word(buf, 8), word(buf, 12));
    let limit = buf.get(32..).and_then(read_pod::<u64>).unwrap_or(0);
    let fd = word(buf, 48) as i32;
    let result = (|| -> Result<(Handle, u32), NvStatus> {
        let rm_file = client_file(state, file, client).ok_or(NV_ERR_INVALID_CLIENT)?;
        match class_id {
            class::NV01_MEMORY_SYSTEM => {}
            // As RmAllocOsDescriptor: the memory is PCI memory the RM does not map (flags
            // LOCATION_PCI, MAPPING_NO_MAP, a cached or uncached coherency), and the
            // descriptor names page-aligned memory of the caller.
            class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => {
                let flags = word(buf, 16);
                let (location, coherency, mapping) =
                    (flags >> 8 & 0xf, flags >> 12 & 0xf, flags >> 30);
                if location != OS02_LOCATION_PCI
                    || mapping != OS02_MAPPING_NO_MAP
                    || !OS02_OS_DESCRIPTOR_COHERENCIES.contains(&coherency)
                {
                    return Err(NV_ERR_INVALID_FLAGS);
                }
                let at = buf.get(24..).and_then(read_pod::<u64>).unwrap_or(0);
                if at % PAGE_SIZE as u64 != 0 {
                    return Err(NV_ERR_NOT_SUPPORTED);
                }
                if at == 0 {
                    return Err(NV_ERR_INVALID_ADDRESS);
                }
            }
            _ => return Err(NV_ERR_INVALID_CLASS),
        }
        let size = limit.checked_add(1).ok_or(NV_ERR_INVALID_LIMIT)?;
        let call = Nvos21 {
            h_root: client,
            h_object_parent: parent,
            h_object_new: handle,
            h_class: class_id,
            ..Default::default()
        };
        let request = Alloc::Object(Request::Memory { system: true, size });
        let descriptor = buf.get(24..).and_then(read_pod::<u64>);
        let (_, handle, _) = alloc_object(state, rm_file, &call, request, descriptor)?;
        let id = match state.rm.lock().get(client, handle).map(|o| o.kind) {
            Some(rm::Kind::Memory { id, .. }) => id,
            _ => return Err(NV_ERR_INVALID_STATE),
        };
        Ok((handle, id))
    })();
    let (status, context) = match result {
        Ok((handle, id)) => {
            if let Some(at) = buf.get_mut(8..) {
                write_pod(at, &handle);
            }
            (NV_OK, Some(id))
        }
        Err(status) => (status, None),
    };
    if let Some(at) = buf.get_mut(40..) {
        write_pod(at, &status);
    }
    // The mapping context, on the nvidiactl file the fd names (system memory: an OS
    // descriptor is the caller's memory already).
    if let (Some(id), true) = (context, fd >= 0 && class_id == class::NV01_MEMORY_SYSTEM) {
        let pages = usize::try_from(limit / PAGE_SIZE as u64 + 1).map_err(|_| EINVAL)?;
        let target = NvFileRef::from_fd(state, fd, true).ok_or(EINVAL)?;
        let target_file = target.nv_file();
        let mut inner = target_file.inner.lock();
        if inner.mmap_context.is_some() {
            return Err(EINVAL);
        }
        inner.mmap_context = Some(MmapContext {
            memory: id,
            doorbell: false,
            first_page: 0,
            pages,
            fb_pages: 0,
        });
    }
    Ok(())
}

/// ALLOC_OS_EVENT / FREE_OS_EVENT: (client, fd) registered to this file, or unregistered
/// whichever file registered it. As in the driver, neither the client nor the fd is looked
/// up: the pair is only a key that event objects name.
fn os_event(
    state: &State,
    file: &NvFile,
    alloc: bool,
    p: &crate::abi::nv_frontend::NvIoctlOsEvent,
) -> NvStatus {
    if alloc {
        state
            .os_events
            .register(p.h_client, p.fd, file.id, &file.events)
    } else {
        state.os_events.unregister(p.h_client, p.fd)
    }
}

/// GET_EVENT_DATA (NVOS41): the oldest event posted to this file, written to `pEvent`;
/// NV_ERR_OPERATING_SYSTEM if none waits or the address is bad (the event is taken either
/// way, as the driver takes it before copying out).
fn get_event_data(file: &NvFile, buf: &mut [u8]) -> Result {
    let mut p: Nvos41 = exact(buf)?;
    p.status = match file.events.take() {
        None => NV_ERR_OPERATING_SYSTEM,
        Some((event, more)) => {
            p.more_events = u32::from(more);
            let mut bytes = [0u8; core::mem::size_of::<NvUnixEvent>()];
            write_pod(&mut bytes, &event);
            let written = usize::try_from(p.p_event).ok().is_some_and(|at| {
                crate::compat::user_slice(at, bytes.len())
                    .writer()
                    .write_slice(&bytes)
                    .is_ok()
            });
            if written {
                NV_OK
            } else {
                NV_ERR_OPERATING_SYSTEM
            }
        }
    };
    write_pod(buf, &p);
    Ok(())
}

/// The parameters as `T`, which must be exactly their size (EINVAL otherwise, as the RM's
/// escape layer answers).
fn exact<T: crate::abi::pod::Pod>(buf: &[u8]) -> Result<T> {
    if buf.len() != core::mem::size_of::<T>() {
        return Err(EINVAL);
    }
    read_pod(buf).ok_or(EINVAL)
}

/// RM_ALLOC in its 32-byte (NVOS21) or 48-byte (NVOS64) form.
fn rm_alloc(state: &State, file: &NvFile, buf: &mut [u8]) -> Result {
    // The two forms share their first 20 bytes; only the status moves.
    let (mut p, status_at) = if buf.len() == core::mem::size_of::<Nvos21>() {
        (exact::<Nvos21>(buf)?, core::mem::offset_of!(Nvos21, status))
    } else {
        let p64: Nvos64 = exact(buf)?;
        let p = Nvos21 {
            h_root: p64.h_root,
            h_object_parent: p64.h_object_parent,
            h_object_new: p64.h_object_new,
            h_class: p64.h_class,
            p_alloc_parms: p64.p_alloc_parms,
            params_size: p64.params_size,
            status: 0,
        };
        (p, core::mem::offset_of!(Nvos64, status))
    };
    let status = match alloc(state, file, &p) {
        Ok((client, handle)) => {
            p.h_root = client;
            p.h_object_new = handle;
            NV_OK
        }
        Err(status) => status,
    };
    // Write back the handles (the first 16 bytes, same in both forms) and the status.
    let head = Nvos21 { status: 0, ..p };
    if let Some(front) = buf.get_mut(..16) {
        let mut bytes = [0u8; 32];
        write_pod(&mut bytes, &head);
        front.copy_from_slice(&bytes[..16]);
    }
    if let Some(at) = buf.get_mut(status_at..) {
        write_pod(at, &status);
    }
    Ok(())
}

/// Allocates what `request` decodes to, with the RM's checks, for the call `p` (client,
/// parent, handle, class): the device's fd-table walk, and real pages behind system memory
/// (for an OS descriptor, the caller's pages at `descriptor`, pinned).
/// Returns (client, new handle, memory size if it is memory).
fn alloc_object(
    state: &State,
    file_id: u64,
    p: &Nvos21,
    request: Alloc,
    descriptor: Option<u64>,
) -> Result<(Handle, Handle, Option<u64>), NvStatus> {
    if let Alloc::Object(Request::Device { device_id }) = request {
        // The driver allocates a device only for a caller that holds the GPU's node open
        // (it walks the caller's fd table): a proxy calling from elsewhere is refused.
        if usize::try_from(device_id).map_or(true, |i| i >= state.gpus.len()) {
            return Err(NV_ERR_INVALID_ARGUMENT);
        }
        if !caller_holds_gpu(state, device_id) {
            return Err(NV_ERR_INSUFFICIENT_PERMISSIONS);
        }
    }
    // System memory gets real pages, which an mmap of it shows; an OS descriptor (0x71) at a
    // page-aligned address gets the caller's own pages, pinned, so the engine's copies reach
    // them (at another address it is charged but has no pages: engine access faults). They
    // are allocated before anything is charged, and charged and recorded under the page
    // table's and rm locks together (in that order, as `Pages::drop_freed`), so no free can
    // slip in between.
    let mut pages = match request {
        Alloc::Object(Request::Memory { system: true, size }) => {
            // Never allocate or pin pages for more than the pool has room for.
            if size > state.rm.lock().sys_room() {
                return Err(NV_ERR_NO_MEMORY);
            }
            match (p.h_class, descriptor) {
                (class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR, Some(at))
                    if at % PAGE_SIZE as u64 == 0 =>
                {
                    Some(pin_pages(at, size)?)
                }
                (class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR, _) => None,
                _ => Some(alloc_pages(size)?),
            }
        }
        _ => None,
    };
    let mut table = state.pages.lock();
    let mut rm = state.rm.lock();
    let (client, handle) = match request {
        Alloc::Client => {
            let pid = caller::tgid();
            let h = rm.alloc_client(file_id, pid, p.h_root, p.h_class)?;
            (h, h)
        }
        Alloc::Object(request) => {
            let h = rm.alloc(
                file_id,
                p.h_root,
                p.h_object_parent,
                p.h_object_new,
                p.h_class,
                request,
            )?;
            (p.h_root, h)
        }
    };
    let size = match rm.get(client, handle).map(|o| o.kind) {
        Some(rm::Kind::Memory { size, id, .. }) => {
            if let Some(pages) = pages.take() {
                if table.insert(id, pages).is_err() {
                    let _ = rm.free(file_id, client, handle);
                    return Err(NV_ERR_NO_MEMORY);
                }
            }
            Some(size)
        }
        _ => None,
    };
    Ok((client, handle, size))
}

/// Performs an allocation; returns (client, new handle) or the RM status.
fn alloc(state: &State, file: &NvFile, p: &Nvos21) -> Result<(Handle, Handle), NvStatus> {
    let params_len = rm::class_params_len(p.h_class, state.family);
    // The largest class parameters nvsim reads: a channel's.
    let mut params = [0u8; nv_rm::channel_alloc_params::SIZE];
    let params = params
        .get_mut(..params_len)
        .ok_or(NV_ERR_INVALID_ARGUMENT)?;
    if params_len > 0 {
        let ptr = usize::try_from(p.p_alloc_parms).map_err(|_| NV_ERR_INVALID_POINTER)?;
        if ptr == 0 {
            return Err(NV_ERR_INVALID_ARGUMENT);
        }
        crate::compat::user_slice(ptr, params_len)
            .reader()
            .read_slice(params)
            .map_err(|_| NV_ERR_INVALID_POINTER)?;
    }
    let mut request = rm::decode_alloc(p.h_class, params)?;
    // An OS event object names an OS event its client registered (`osUserHandleToKernelPtr`).
    if let Alloc::Object(Request::Event {
        notify,
        fd,
        ref mut registration,
    }) = request
    {
        if crate::trace::enabled() {
            pr_info!(
                "trace: event {:#x} on {:#x} notify {:#010x} key {}\n",
                p.h_object_new,
                p.h_object_parent,
                notify,
                fd
            );
        }
        *registration = state
            .os_events
            .registration(p.h_root, fd)
            .ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
    }
    // Privileged classes need the admin level, checked on each call as the RM does.
    if class::PRIVILEGED.contains(&p.h_class) && !caller::is_admin() {
        return Err(NV_ERR_INSUFFICIENT_PERMISSIONS);
    }
    // On a GPU file (OS events only) the client is that of the nvidiactl file it is linked
    // to, as the RM's REGISTER_FD makes it.
    let owner = match file.node {
        Node::Ctl => file.id,
        Node::Gpu(_) => client_file(state, file, p.h_root).unwrap_or(file.id),
    };
    let descriptor = (p.h_class == class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR)
        .then(|| params.get(nv_rm::os_desc_alloc_params::DESCRIPTOR_OFFSET..))
        .flatten()
        .and_then(read_pod::<u64>);
    let (client, handle, size) = alloc_object(state, owner, p, request, descriptor)?;
    if class::GPFIFO_CHANNELS.contains(&p.h_class) {
        if let Err(status) = add_channel(state, client, handle, params) {
            let _ = state.rm.lock().free(owner, client, handle);
            return Err(status);
        }
    }
    if p.h_class == class::KEPLER_CHANNEL_GROUP_A {
        let gpu = state.rm.lock().get(client, handle).and_then(|o| o.gpu);
        let group = crate::channels::Group::new(client, handle, gpu.unwrap_or(0));
        if state.channels.add_group(group).is_err() {
            let _ = state.rm.lock().free(owner, client, handle);
            return Err(NV_ERR_NO_MEMORY);
        }
    }
    // What some classes report in their parameters: a context share its VEID; memory
    // classes with NV_MEMORY_ALLOCATION_PARAMS the size they allocated (rounded up).
    let report = match (p.h_class, size) {
        (class::FERMI_CONTEXT_SHARE_A, _) => {
            match state.rm.lock().get(client, handle).map(|o| o.kind) {
                Some(rm::Kind::ContextShare { subctx_id }) => Some((
                    ctxshare_alloc_params::SUBCTX_ID_OFFSET,
                    u64::from(subctx_id),
                    4,
                )),
                _ => None,
            }
        }
        (class::NV01_MEMORY_LOCAL_USER | class::NV01_MEMORY_SYSTEM, Some(size)) => {
            Some((memory_alloc_params::SIZE_OFFSET, size, 8))
        }
        _ => None,
    };
    if let Some((at, value, width)) = report {
        // A u32 field holds a value that came from a u32.
        let bytes = value.to_ne_bytes();
        let narrow = (value as u32).to_ne_bytes();
        let value: &[u8] = if width == 4 { &narrow } else { &bytes };
        if let Some(field) = params.get_mut(at..at + value.len()) {
            field.copy_from_slice(value);
        }
        let ptr = usize::try_from(p.p_alloc_parms).unwrap_or(0);
        if crate::compat::user_slice(ptr, params.len())
            .writer()
            .write_slice(params)
            .is_err()
        {
            // The RM frees what it cannot report.
            let _ = state.rm.lock().free(file.id, client, handle);
            state.drop_freed_pages();
            return Err(NV_ERR_INVALID_POINTER);
        }
    }
    Ok((client, handle))
}

/// RM_VID_HEAP_CONTROL (NVOS32): ALLOC_SIZE (framebuffer by attr location, system memory
/// otherwise, nothing for virtual allocations), FREE and INFO; other functions get
/// `NV_ERR_NOT_SUPPORTED`, logged.
fn vid_heap(state: &State, file: &NvFile, buf: &mut [u8]) -> Result {
    if buf.len() != vid_heap::SIZE {
        return Err(EINVAL);
    }
    let word = |buf: &[u8], at: usize| buf.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
    let (client, parent, function) = (
        word(buf, vid_heap::H_ROOT),
        word(buf, vid_heap::H_PARENT),
        word(buf, vid_heap::FUNCTION),
    );
    let h_memory = word(buf, vid_heap::H_MEMORY);
    let status = match function {
        vid_heap::FUNCTION_ALLOC_SIZE => {
            let flags = word(buf, vid_heap::FLAGS);
            let attr = word(buf, vid_heap::ATTR);
            let asked = buf
                .get(vid_heap::ALLOC_SIZE..)
                .and_then(read_pod::<u64>)
                .unwrap_or(0);
            let size = rm::vid_heap_size(asked).unwrap_or(asked);
            let (class_id, request) = if flags & vid_heap::FLAGS_VIRTUAL != 0 {
                (class::NV50_MEMORY_VIRTUAL, Request::Plain)
            } else if vid_heap::location(attr) == 0 {
                (
                    class::NV01_MEMORY_LOCAL_USER,
                    Request::Memory {
                        system: false,
                        size,
                    },
                )
            } else {
                (
                    class::NV01_MEMORY_SYSTEM,
                    Request::Memory { system: true, size },
                )
            };
            let call = Nvos21 {
                h_root: client,
                h_object_parent: parent,
                h_object_new: h_memory,
                h_class: class_id,
                ..Default::default()
            };
            match alloc_object(state, file.id, &call, Alloc::Object(request), None) {
                Ok((_, handle, size)) => {
                    if let Some(at) = buf.get_mut(vid_heap::H_MEMORY..) {
                        write_pod(at, &handle);
                    }
                    if let (Some(size), Some(at)) = (size, buf.get_mut(vid_heap::ALLOC_SIZE..)) {
                        write_pod(at, &size);
                    }
                    NV_OK
                }
                Err(status) => status,
            }
        }
        vid_heap::FUNCTION_FREE => {
            // FREE takes memory objects only (RM_FREE frees anything else).
            let freed = {
                let mut rm = state.rm.lock();
                match rm.get(client, h_memory).map(|o| o.kind) {
                    Some(rm::Kind::Memory { .. }) => rm.free(file.id, client, h_memory),
                    Some(_) => Err(NV_ERR_INVALID_OBJECT_HANDLE),
                    None => rm.free(file.id, client, h_memory),
                }
            };
            state.drop_freed_pages();
            freed.err().unwrap_or(NV_OK)
        }
        vid_heap::FUNCTION_INFO => {
            let usage = {
                let rm = state.rm.lock();
                match rm.get(client, client) {
                    Some(owner) if owner.file == file.id => rm
                        .get(client, parent)
                        .and_then(|o| o.gpu)
                        .and_then(|g| rm.gpu(usize::from(g)).copied())
                        .ok_or(NV_ERR_INVALID_OBJECT_PARENT),
                    _ => Err(NV_ERR_INVALID_CLIENT),
                }
            };
            match usage {
                Ok(u) => {
                    if let Some(at) = buf.get_mut(vid_heap::TOTAL..) {
                        write_pod(at, &u.fb_size);
                    }
                    if let Some(at) = buf.get_mut(vid_heap::FREE..) {
                        write_pod(at, &(u.fb_size - u.fb_used));
                    }
                    NV_OK
                }
                Err(status) => status,
            }
        }
        other => {
            log_unimplemented("vid heap function", other, buf.len());
            NV_ERR_NOT_SUPPORTED
        }
    };
    if let Some(at) = buf.get_mut(vid_heap::STATUS..) {
        write_pod(at, &status);
    }
    Ok(())
}

/// RM_MAP_MEMORY: validates the mapping and sets the mmap context on the file `p.fd` names,
/// which for system memory must be an nvidiactl file (libcuda opens a new one per mapping)
/// and for what the driver maps through a BAR (video memory, the usermode region) a file of
/// that GPU; it must have no context yet: one per file, until it closes.
fn map_memory(state: &State, file: &NvFile, p: &Nvos33WithFd) -> Result<(), NvStatus> {
    let page = PAGE_SIZE as u64;
    // (first page, pages, allocation id, the GPU a BAR mapping needs, fb pages, doorbell)
    let (first_page, pages, memory, bar_gpu, fb_pages, doorbell) = {
        let rm = state.rm.lock();
        let owner = rm
            .get(p.h_client, p.h_client)
            .ok_or(NV_ERR_INVALID_CLIENT)?;
        let caller = caller::tgid();
        // The file check admits a file shared by fork or SCM_RIGHTS; creating an mmap
        // context also needs the process that created the client.
        if owner.file != file.id || owner.pid != caller {
            return Err(NV_ERR_INVALID_CLIENT);
        }
        let memory = rm
            .get(p.h_client, p.h_memory)
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
        // The usermode region: where a process rings its channels' doorbells, one page shared
        // by every process (the engine watches the channels' GPPut, not the doorbell).
        if class::USERMODE.contains(&memory.class) {
            if p.offset != 0 || p.length == 0 || p.length % page != 0 || p.length > USERMODE_SIZE {
                return Err(NV_ERR_INVALID_LIMIT);
            }
            let count = usize::try_from(p.length / page).map_err(|_| NV_ERR_INVALID_LIMIT)?;
            let gpu = memory.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            (0, count, 0, Some(gpu), 0, true)
        } else {
            let (pool, size, id) = match memory.kind {
                rm::Kind::Memory { pool, size, id, .. } => (pool, size, id),
                _ => return Err(NV_ERR_INVALID_OBJECT_HANDLE),
            };
            // The RM maps whole pages: those the range touches (libcuda asks for unaligned
            // lengths and maps the rounded-up size).
            let end = p.offset.checked_add(p.length).ok_or(NV_ERR_INVALID_LIMIT)?;
            if p.length == 0 || end > size {
                return Err(NV_ERR_INVALID_LIMIT);
            }
            let first = usize::try_from(p.offset / page).map_err(|_| NV_ERR_INVALID_LIMIT)?;
            let last = usize::try_from(end.div_ceil(page)).map_err(|_| NV_ERR_INVALID_LIMIT)?;
            let count = last - first;
            match pool {
                rm::Pool::Sys => (first, count, id, None, 0, false),
                // Video memory, which the driver maps through BAR1 of its GPU.
                rm::Pool::Fb(gpu) => {
                    let total = usize::try_from(size / page).map_err(|_| NV_ERR_NO_MEMORY)?;
                    (first, count, id, Some(gpu), total, false)
                }
            }
        }
    };
    // A BAR mapping goes on a file of that GPU, system memory on an nvidiactl file, as the
    // RM's nv_add_mapping_context_to_file has it.
    let target =
        NvFileRef::from_fd(state, p.fd, bar_gpu.is_none()).ok_or(NV_ERR_INVALID_ARGUMENT)?;
    let target_file = target.nv_file();
    if let Some(gpu) = bar_gpu {
        if target_file.node != Node::Gpu(u32::from(gpu)) {
            return Err(NV_ERR_INVALID_ARGUMENT);
        }
    }
    let mut inner = target_file.inner.lock();
    if inner.mmap_context.is_some() {
        return Err(NV_ERR_STATE_IN_USE);
    }
    inner.mmap_context = Some(MmapContext {
        memory,
        doorbell,
        first_page,
        pages,
        fb_pages,
    });
    Ok(())
}

/// Records channel `handle` of `client` for the engine: its GPFIFO ring and USERD from its
/// allocation parameters `params`. A USERD handle must name memory of the client with room
/// for USERD (512 bytes) at its offset.
fn add_channel(
    state: &State,
    client: Handle,
    handle: Handle,
    params: &[u8],
) -> Result<(), NvStatus> {
    use crate::abi::nv_rm::channel_alloc_params as chan;
    use crate::channels::{Channel, MemoryWindow};
    let word = |at: usize| params.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
    let wide = |at: usize| params.get(at..).and_then(read_pod::<u64>).unwrap_or(0);
    let (gpu, chid, engine_type, userd, error_notifier, group, pid) = {
        let rm = state.rm.lock();
        let channel = rm.get(client, handle).ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
        let group = rm
            .get(client, channel.parent)
            .filter(|o| o.class == class::KEPLER_CHANNEL_GROUP_A)
            .map_or(0, |o| o.handle);
        let pid = rm.get(client, client).map_or(0, |o| o.pid);
        // The engine as the RM settled it (0 in the parameters is GR0).
        let (rm::Kind::Channel { chid, engine_type }, Some(gpu)) = (channel.kind, channel.gpu)
        else {
            return Err(NV_ERR_INVALID_OBJECT_HANDLE);
        };
        // `len` bytes at `offset` of memory `h` of the client.
        let window = |h: u32, offset: u64, len: u64| -> Option<MemoryWindow> {
            match rm.get(client, h).map(|o| o.kind) {
                Some(rm::Kind::Memory { pool, size, id, .. })
                    if offset.checked_add(len).is_some_and(|end| end <= size) =>
                {
                    let fb_pages = match pool {
                        rm::Pool::Fb(_) => usize::try_from(size / PAGE_SIZE as u64).ok()?,
                        rm::Pool::Sys => 0,
                    };
                    Some(MemoryWindow {
                        client,
                        handle: h,
                        memory: id,
                        fb_pages,
                        offset,
                    })
                }
                _ => None,
            }
        };
        let h_userd = word(chan::H_USERD);
        let userd = if h_userd == 0 {
            None
        } else {
            let at = wide(chan::USERD_OFFSET);
            Some(window(h_userd, at, USERD_SIZE).ok_or(NV_ERR_INVALID_ARGUMENT)?)
        };
        // The RM only asserts on a bad error notifier; the channel then has none.
        let error_notifier = window(word(chan::H_OBJECT_ERROR), 0, ERROR_NOTIFIER_SIZE);
        (
            gpu,
            chid,
            u32::from(engine_type),
            userd,
            error_notifier,
            group,
            pid,
        )
    };
    state
        .channels
        .add(Channel {
            gpu,
            chid,
            client,
            handle,
            group,
            pid,
            gpu_ns: 0,
            launches: 0,
            vaspace: word(chan::H_VASPACE),
            gpfifo: wide(chan::GPFIFO_OFFSET),
            entries: word(chan::GPFIFO_ENTRIES),
            userd,
            error_notifier,
            engine_type,
            gp_get: 0,
            extended_base: 0,
            stream: Default::default(),
            methods: Default::default(),
            stall: None,
            error: None,
            methods_run: 0,
            interrupts: 0,
            noted: None,
        })
        .map_err(|_| NV_ERR_NO_MEMORY)
}

/// Bytes of a channel's USERD (`Nvc86fControl`).
const USERD_SIZE: u64 = 0x200;
/// Bytes of an error notifier (one `NvNotification`).
const ERROR_NOTIFIER_SIZE: u64 = 16;

/// Size of Hopper's usermode region (`NVC661`): 64 KiB.
const USERMODE_SIZE: u64 = 0x10000;
