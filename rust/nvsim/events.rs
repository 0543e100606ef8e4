// SPDX-License-Identifier: GPL-2.0

//! OS events, as the driver keeps them: ALLOC_OS_EVENT registers a client and an fd key,
//! bound to the file the call was made on (the fd is never resolved); an event object
//! (NV01_EVENT_OS_EVENT) names that key, and when its notifier fires the event is posted
//! to that file. Each file has a queue of posted events: `poll` waits on it and is ready
//! while it holds data or a dataless event is pending (reading it clears the latter, as
//! `nvidia_poll` does), and GET_EVENT_DATA takes events from it (`nv_get_event`).
//!
//! What fires here: non-stall interrupts, which the engine raises for a channel's engine
//! (`NON_STALL_INTERRUPT`, a copy launch's interrupt, a compute report's TRAP); the model
//! finds the events armed for them ([`RmStore::nonstall_events`]).
//!
//! [`RmStore::nonstall_events`]: crate::nvsim_model::rm::RmStore::nonstall_events

use crate::abi::nv_rm::NvUnixEvent;
use crate::abi::nv_status::*;
use crate::layout::POLLIN_PRI;
use crate::store::KernelRm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::types::Opaque;

extern "C" {
    /// `init_waitqueue_head` (`shim.c`).
    fn nvsim_waitqueue_init(wq: *mut bindings::wait_queue_head);
    /// `poll_wait` on `wq` unless `file` (a `struct file *`: that struct reaches structs
    /// rustc's FFI lint flags) is non-blocking (`shim.c`).
    fn nvsim_poll_wait(
        file: *mut kernel::ffi::c_void,
        wq: *mut bindings::wait_queue_head,
        wait: *mut bindings::poll_table_struct,
    );
    /// `wake_up_interruptible` (`shim.c`).
    fn nvsim_wake_up(wq: *mut bindings::wait_queue_head);
}

/// Events one file's queue holds; later ones are dropped until the file's owner reads (the
/// driver queues without bound; nvsim bounds what a process that never reads can pin).
const MAX_QUEUED: usize = 128;
/// OS events one file may have registered (NV_ERR_INSUFFICIENT_RESOURCES beyond: the
/// driver's answer when it cannot allocate one).
pub(crate) const MAX_OS_EVENTS_PER_FILE: usize = 64;

/// One file's queue of posted events.
#[pin_data]
pub(crate) struct EventQueue {
    /// Where poll waits.
    #[pin]
    wait: Opaque<bindings::wait_queue_head>,
    /// The events and the dataless flag.
    #[pin]
    inner: Mutex<Queued>,
}

/// The contents of an [`EventQueue`].
struct Queued {
    /// A ring of events with data: `len` of them from `head` on, oldest first.
    ring: [NvUnixEvent; MAX_QUEUED],
    /// Where the oldest is.
    head: usize,
    /// How many there are.
    len: usize,
    /// A dataless event was posted and no poll has seen it yet.
    dataless: bool,
}

// SAFETY: the wait queue head is used only through the kernel's wait-queue functions, which
// lock it themselves; the rest is behind a mutex.
unsafe impl Send for EventQueue {}
// SAFETY: as above.
unsafe impl Sync for EventQueue {}

impl EventQueue {
    /// An empty queue.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(EventQueue {
                // SAFETY: `slot` is the wait queue head's place, initialised here once.
                wait <- Opaque::ffi_init(|slot| unsafe { nvsim_waitqueue_init(slot) }),
                inner <- kernel::new_mutex!(
                    Queued {
                        ring: [NvUnixEvent::default(); MAX_QUEUED],
                        head: 0,
                        len: 0,
                        dataless: false,
                    },
                    "nvsim::EventQueue::inner"
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// Posts an event (`nv_post_event`): queued for GET_EVENT_DATA if it carries data
    /// (dropped if the ring is full, as the driver drops one it cannot allocate), else
    /// marked pending; pollers wake either way. Returns whether it was queued or marked.
    pub(crate) fn post(&self, event: NvUnixEvent, with_data: bool) -> bool {
        let taken = {
            let mut q = self.inner.lock();
            if !with_data {
                q.dataless = true;
                true
            } else if q.len < MAX_QUEUED {
                let at = (q.head + q.len) % MAX_QUEUED;
                if let Some(slot) = q.ring.get_mut(at) {
                    *slot = event;
                }
                q.len += 1;
                true
            } else {
                false
            }
        };
        // SAFETY: the head was initialised in `new` and lives as long as `self`.
        unsafe { nvsim_wake_up(self.wait.get()) };
        taken
    }

    /// `poll` of `file`, whose queue this is: waits on the queue (unless the file is
    /// non-blocking) and reports it ready while it holds events or a dataless event is
    /// pending; the dataless flag is consumed.
    ///
    /// # Safety
    ///
    /// `file` and `wait` are the arguments of a `poll` call on the file owning this queue.
    pub(crate) unsafe fn poll(
        &self,
        file: *mut bindings::file,
        wait: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: per the contract `file` and `wait` are poll's own; the head lives as long
        // as the file, which holds this queue.
        unsafe { nvsim_poll_wait(file.cast(), self.wait.get(), wait) };
        let mut q = self.inner.lock();
        let ready = q.len > 0 || q.dataless;
        q.dataless = false;
        if ready {
            POLLIN_PRI
        } else {
            0
        }
    }

    /// The oldest queued event and whether more follow.
    pub(crate) fn take(&self) -> Option<(NvUnixEvent, bool)> {
        let mut q = self.inner.lock();
        if q.len == 0 {
            return None;
        }
        let event = *q.ring.get(q.head)?;
        q.head = (q.head + 1) % MAX_QUEUED;
        q.len -= 1;
        Some((event, q.len > 0))
    }
}

/// One ALLOC_OS_EVENT registration.
struct OsEvent {
    /// Names this registration to the event objects bound to it (never 0).
    id: u32,
    client: u32,
    fd: u32,
    /// The id of the file the call was made on, and that file's queue.
    file: u64,
    queue: Arc<EventQueue>,
}

/// Every OS event registered, across files: the driver's global event list.
pub(crate) struct OsEvents {
    /// The registrations; free slots are `None`.
    list: Pin<KBox<Mutex<KVec<Option<OsEvent>>>>>,
    /// The last registration id given.
    last_id: AtomicU32,
    /// Events posted and taken (queued or marked): ground truth for tests.
    posted: AtomicU64,
}

impl OsEvents {
    /// No events.
    pub(crate) fn new() -> Result<Self> {
        Ok(OsEvents {
            list: KBox::pin_init(
                kernel::new_mutex!(KVec::new(), "nvsim::OsEvents"),
                GFP_KERNEL,
            )?,
            last_id: AtomicU32::new(0),
            posted: AtomicU64::new(0),
        })
    }

    /// (OS events registered, events posted so far).
    pub(crate) fn counts(&self) -> (usize, u64) {
        let registered = self.list.lock().iter().flatten().count();
        (registered, self.posted.load(Ordering::Relaxed))
    }

    /// ALLOC_OS_EVENT of (`client`, `fd`) on file `file` with queue `queue`: one per pair
    /// (NV_ERR_INSUFFICIENT_RESOURCES for a second, as `RmAllocOsEvent` maps the driver's
    /// refusal), at most [`MAX_OS_EVENTS_PER_FILE`] per file.
    pub(crate) fn register(
        &self,
        client: u32,
        fd: u32,
        file: u64,
        queue: &Arc<EventQueue>,
    ) -> NvStatus {
        let mut list = self.list.lock();
        let live = || list.iter().flatten();
        let taken = live().any(|e| e.client == client && e.fd == fd);
        let full = live().filter(|e| e.file == file).count() >= MAX_OS_EVENTS_PER_FILE;
        if taken || full {
            return NV_ERR_INSUFFICIENT_RESOURCES;
        }
        // Ids are not reused until 2^32 registrations later; 0 is never one.
        let mut id = self.last_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if id == 0 {
            id = self.last_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        }
        let event = OsEvent {
            id,
            client,
            fd,
            file,
            queue: queue.clone(),
        };
        if let Some(slot) = list.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(event);
            return NV_OK;
        }
        match list.push(Some(event), GFP_KERNEL) {
            Ok(()) => NV_OK,
            Err(_) => NV_ERR_INSUFFICIENT_RESOURCES,
        }
    }

    /// FREE_OS_EVENT of (`client`, `fd`), whichever file registered it.
    pub(crate) fn unregister(&self, client: u32, fd: u32) -> NvStatus {
        let mut list = self.list.lock();
        let found = list.iter_mut().find(|slot| {
            slot.as_ref()
                .is_some_and(|e| e.client == client && e.fd == fd)
        });
        match found {
            Some(slot) => {
                *slot = None;
                NV_OK
            }
            None => NV_ERR_INVALID_EVENT,
        }
    }

    /// The registration of (`client`, `fd`), if there is one: what an event object naming
    /// that key is bound to.
    pub(crate) fn registration(&self, client: u32, fd: u32) -> Option<u32> {
        self.list
            .lock()
            .iter()
            .flatten()
            .find(|e| e.client == client && e.fd == fd)
            .map(|e| e.id)
    }

    /// Drops the registrations of `client` (freed), or made on `file` (closed).
    pub(crate) fn forget(&self, client: Option<u32>, file: Option<u64>) {
        for slot in self.list.lock().iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|e| Some(e.client) == client || Some(e.file) == file)
            {
                *slot = None;
            }
        }
    }

    /// Raises `times` non-stall interrupts of a channel on engine `engine_type` of GPU
    /// `gpu`: every event armed for that engine's notifier is posted to the file its OS
    /// event was registered on, once per interrupt (a queue holds [`MAX_QUEUED`] at most);
    /// an event whose registration is gone posts nothing, even if its key was registered
    /// again (the driver's reference on a freed OS event stays inactive).
    pub(crate) fn nonstall_interrupt(
        &self,
        rm: &Mutex<KernelRm>,
        gpu: u8,
        engine_type: u8,
        times: u64,
    ) {
        let mut targets = KVec::new();
        {
            let rm = rm.lock();
            for target in rm.nonstall_events(gpu, engine_type) {
                if targets.push(target, GFP_KERNEL).is_err() {
                    break;
                }
            }
        }
        for target in targets {
            let queue = self
                .list
                .lock()
                .iter()
                .flatten()
                .find(|e| e.id == target.registration)
                .map(|e| e.queue.clone());
            if let Some(queue) = queue {
                let event = NvUnixEvent {
                    h_object: target.handle,
                    notify_index: target.index,
                    ..Default::default()
                };
                let mut taken = 0;
                for _ in 0..times.min(MAX_QUEUED as u64) {
                    taken += u64::from(queue.post(event, target.with_data));
                }
                self.posted.fetch_add(taken, Ordering::Relaxed);
            }
        }
    }
}
