//! nvsim's resource manager as pure logic: the tree of RM objects (clients, devices,
//! subdevices, memory, channels ...), who created them, and the GPU memory they hold.
//!
//! The store has a fixed capacity and allocates nothing, so the kernel module keeps one in
//! a single allocation and cargo tests it in userspace. Its slots double as a hash index
//! (chained, one bucket per slot) and a free list, and count each object's children, so
//! allocating and freeing a leaf cost the same with 100 or 100 000 live objects. Rules follow the RM's: handles are
//! unique per client, parents must exist and be of the right kind, freeing an object frees
//! its descendants, freeing the client (or closing the file that made it) frees everything,
//! and memory comes out of a per-GPU framebuffer or the system pool, or fails with
//! `NV_ERR_NO_MEMORY`.

use super::abi::nv_family::DriverFamily;
use super::abi::nv_rm::{
    channel_alloc_params, class, ctxshare_alloc_params, debugger_alloc_params, device_alloc_params,
    engine_type, event_alloc_params, memory_alloc_params, notifiers, os_desc_alloc_params,
};
use super::abi::nv_status::*;
use super::abi::pod::read_pod;

/// An RM handle.
pub type Handle = u32;
/// Identifies the open file a client was created on.
pub type FileId = u64;

/// The page size the RM picks by default for vid-heap allocations of at least that size
/// (Hopper's "huge" page): such sizes are rounded up to it, and the rounded size is what the
/// RM reports back and charges. libcuda maps and frees its buffers in these units.
pub const HUGE_PAGE: u64 = 2 << 20;

/// The size a vid-heap allocation of `size` bytes gets: whole huge pages from [`HUGE_PAGE`]
/// on, else as asked (the store rounds it to [`MEMORY_PAGE`]); `None` on overflow.
pub fn vid_heap_size(size: u64) -> Option<u64> {
    if size >= HUGE_PAGE {
        size.checked_next_multiple_of(HUGE_PAGE)
    } else {
        Some(size)
    }
}

/// Most GPUs the store tracks.
pub const MAX_GPUS: usize = 16;
/// Granularity memory sizes are rounded up to (and reported back in).
pub const MEMORY_PAGE: u64 = 4096;
/// First handle the RM generates for clients allocated with handle 0.
pub const CLIENT_HANDLE_BASE: Handle = 0xc1d0_0000;
/// First handle the RM generates for other objects allocated with handle 0.
pub const OBJECT_HANDLE_BASE: Handle = 0xcaf0_0000;

/// Where an allocation's memory comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// The framebuffer of GPU `n` (index into the store's GPUs).
    Fb(u8),
    /// Pinned system memory.
    Sys,
}

/// What an allocation below a client asks for, decoded from the class and its parameters by
/// the caller (clients themselves come from [`RmStore::alloc_client`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `NV01_DEVICE_0`, for GPU `device_id`.
    Device {
        /// Index of the GPU.
        device_id: u32,
    },
    /// `NV20_SUBDEVICE_0` under a device.
    Subdevice,
    /// Physical memory of `size` bytes from the pool of the parent's GPU (or system memory).
    Memory {
        /// `true` for system memory (0x3E, 0x71), `false` for the framebuffer (0x40).
        system: bool,
        /// Requested size in bytes.
        size: u64,
    },
    /// An object that holds no memory and no channel (virtual memory, VA spaces, events ...).
    Plain,
    /// Likewise, but allowed under a client only (the confidential-computing object).
    UnderClient,
    /// Likewise, but allowed under a subdevice only (the binary API's handle).
    UnderSubdevice,
    /// A channel group (TSG).
    ChannelGroup,
    /// A GPFIFO channel on engine `engine_type` (`NV2080_ENGINE_TYPE_*`).
    Channel {
        /// The engine the channel runs on.
        engine_type: u32,
    },
    /// An engine object (compute, copy) on its parent channel.
    EngineObject,
    /// An SM debugger session (GT200_DEBUGGER, under a device) on compute object `object` of client
    /// `app_client` (0: the calling client).
    Debugger {
        /// The client of the object.
        app_client: Handle,
        /// The compute object.
        object: Handle,
    },
    /// An OS event (NV01_EVENT_OS_EVENT) on its parent's notifier (the RM overwrites the
    /// parameters' `hSrcResource` with the parent): `notify` is its `notifyIndex` with
    /// flags, `fd` the key an ALLOC_OS_EVENT registered, `registration` that registration
    /// (0 from [`decode_alloc`]: the caller binds it, as the RM binds the key to its OS event
    /// when the object is made).
    Event {
        /// Notifier and flags.
        notify: u32,
        /// The OS event's key.
        fd: u32,
        /// The registration the key named at allocation.
        registration: u32,
    },
    /// A subcontext of a channel group (FERMI_CONTEXT_SHARE_A): `subcontext` is its
    /// `NV_CTXSHARE_ALLOCATION_FLAGS_SUBCONTEXT` field, `subctx_id` the VEID asked for with
    /// `_SPECIFIED`.
    ContextShare {
        /// SYNC (VEID 0), ASYNC (the highest free) or SPECIFIED.
        subcontext: u32,
        /// The VEID asked for.
        subctx_id: u32,
    },
}

/// Channel ids of one GPU (Hopper's runlists hold 2048 channels).
pub const CHANNELS_PER_GPU: usize = 2048;

/// Subcontexts (VEIDs) of a Hopper channel group.
pub const SUBCONTEXTS: u32 = 64;

/// What an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An RM client: the root of a tree.
    Client,
    /// A device: one GPU.
    Device,
    /// A subdevice of a device.
    Subdevice,
    /// Physical memory, or a handle to it made by RM_DUP_OBJECT.
    Memory {
        /// Where it came from.
        pool: Pool,
        /// Bytes held (rounded to [`MEMORY_PAGE`]).
        size: u64,
        /// The allocation: the same for every handle to it.
        id: u32,
        /// Whether this handle carries the allocation's charge. Exactly one handle of each
        /// allocation does; when it is freed while others live, the charge moves to one of
        /// them, so duplicates never charge twice and the last handle uncharges.
        charged: bool,
    },
    /// Anything without resources of its own.
    Plain,
    /// A channel group.
    ChannelGroup,
    /// A channel, with its id on its GPU and the engine it runs on.
    Channel {
        /// The channel id (`ChID`): unique among the GPU's live channels.
        chid: u16,
        /// `NV2080_ENGINE_TYPE_*` of its engine.
        engine_type: u8,
    },
    /// An engine object (compute, copy) on its parent channel.
    EngineObject,
    /// An OS event: `notify` is its `notifyIndex` with flags, `registration` the OS event
    /// it posts to (bound at allocation: a key registered again later is another one).
    Event {
        /// Notifier and flags.
        notify: u32,
        /// The OS event registration it posts to.
        registration: u32,
    },
    /// A subcontext of its parent channel group, with its VEID.
    ContextShare {
        /// The VEID (0..[`SUBCONTEXTS`]).
        subctx_id: u32,
    },
}

/// One RM object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its handle, unique in its client.
    pub handle: Handle,
    /// Its parent's handle (the client's own handle for a client).
    pub parent: Handle,
    /// The client it belongs to.
    pub client: Handle,
    /// Its class id.
    pub class: u32,
    /// What it is.
    pub kind: Kind,
    /// The GPU it belongs to, if any.
    pub gpu: Option<u8>,
    /// The file its client was created on.
    pub file: FileId,
    /// The process (global tgid) that created the object's client.
    pub pid: u32,
}

/// Use of one GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuUsage {
    /// Framebuffer capacity in bytes.
    pub fb_size: u64,
    /// Framebuffer bytes held by memory objects.
    pub fb_used: u64,
    /// Live channels.
    pub channels: u32,
}

/// One place for an object, with the scratch marks `free_subtree` uses and the store's
/// index links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// The object, if the slot is used.
    pub object: Option<Object>,
    /// Scratch: in the subtree being freed.
    pub marked: bool,
    /// Scratch: known to be outside the subtree being freed.
    pub outside: bool,
    /// Head of hash bucket number (this slot's index)'s chain: a slot index + 1, 0 if empty.
    bucket: u32,
    /// The next slot (+ 1) in the hash chain this slot's object is on.
    chain: u32,
    /// How many live objects have this one as their parent.
    children: u32,
    /// The next free slot (+ 1) while this one is on the free list.
    next_free: u32,
}

/// Where an [`RmStore`] keeps its slots: a fixed array in tests, a vmalloc'd vector in the
/// kernel (too large for the stack). Its length is the store's capacity.
pub trait SlotStorage {
    /// The slots.
    fn slots(&self) -> &[Slot];
    /// The slots, writable.
    fn slots_mut(&mut self) -> &mut [Slot];
}

impl<const N: usize> SlotStorage for [Slot; N] {
    fn slots(&self) -> &[Slot] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Slot] {
        self
    }
}

/// The RM's objects and the memory they hold, in the slots of `S`.
pub struct RmStore<S: SlotStorage> {
    storage: S,
    gpus: [GpuUsage; MAX_GPUS],
    gpu_count: usize,
    sys_size: u64,
    sys_used: u64,
    next_generated: u32,
    next_memory_id: u32,
    /// Head of the list of freed slots (+ 1; 0 if empty).
    free_head: u32,
    /// Slots from here on have never been used.
    high_water: usize,
    /// Live duplicate memory handles (uncharged): while there are none, freeing memory
    /// needs no search for an heir to its charge.
    uncharged_memory: usize,
    /// Allocations of either pool released so far (their pages may go).
    memory_releases: u64,
    /// The ids of the last [`RELEASE_LOG`] released allocations, release `n` at
    /// `n % RELEASE_LOG`: what lets the pages of freed memory go without a search.
    released_ids: [u32; RELEASE_LOG],
}

/// How many released allocation ids the store remembers ([`RmStore::released_since`]).
pub const RELEASE_LOG: usize = 64;

impl<S: SlotStorage> RmStore<S> {
    /// A store in `storage` (whose slots must be empty) for `fb_sizes.len()` GPUs (at most
    /// [`MAX_GPUS`]) and a system pool of `sys_size` bytes.
    pub fn new(storage: S, fb_sizes: &[u64], sys_size: u64) -> Self {
        let mut gpus = [GpuUsage::default(); MAX_GPUS];
        for (usage, &fb_size) in gpus.iter_mut().zip(fb_sizes) {
            usage.fb_size = fb_size;
        }
        Self {
            storage,
            gpus,
            gpu_count: fb_sizes.len().min(MAX_GPUS),
            sys_size,
            sys_used: 0,
            next_generated: 0,
            next_memory_id: 0,
            free_head: 0,
            high_water: 0,
            uncharged_memory: 0,
            memory_releases: 0,
            released_ids: [0; RELEASE_LOG],
        }
    }

    /// The object `handle` of client `client`.
    pub fn get(&self, client: Handle, handle: Handle) -> Option<&Object> {
        let index = self.slot_of(client, handle)?;
        self.storage.slots().get(index)?.object.as_ref()
    }

    /// The hash bucket of `handle` of `client`.
    fn bucket_of(&self, client: Handle, handle: Handle) -> usize {
        let key = (u64::from(client) << 32) | u64::from(handle);
        let hash = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize;
        hash % self.storage.slots().len().max(1)
    }

    /// The slot holding `handle` of `client`.
    fn slot_of(&self, client: Handle, handle: Handle) -> Option<usize> {
        let slots = self.storage.slots();
        let mut next = slots.get(self.bucket_of(client, handle))?.bucket;
        // A chain is never longer than the store; the bound only guards the loop.
        for _ in 0..slots.len() {
            let index = (next as usize).checked_sub(1)?;
            let slot = slots.get(index)?;
            if slot
                .object
                .is_some_and(|o| o.client == client && o.handle == handle)
            {
                return Some(index);
            }
            next = slot.chain;
        }
        None
    }

    /// Every live object.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.used_slots().iter().filter_map(|s| s.object.as_ref())
    }

    /// The slots that have ever held an object.
    fn used_slots(&self) -> &[Slot] {
        let slots = self.storage.slots();
        slots.get(..self.high_water).unwrap_or(slots)
    }

    /// A free slot's index, or `NV_ERR_INSUFFICIENT_RESOURCES` when the store is full. The
    /// slot stays free until [`Self::put`] fills it.
    fn free_slot(&self) -> Result<usize, NvStatus> {
        match (self.free_head as usize).checked_sub(1) {
            Some(index) => Ok(index),
            None if self.high_water < self.storage.slots().len() => Ok(self.high_water),
            None => Err(NV_ERR_INSUFFICIENT_RESOURCES),
        }
    }

    /// Puts `object` in slot `index` (from `free_slot`): takes the slot off the free list,
    /// links it into its hash chain and counts it as its parent's child.
    fn put(&mut self, index: usize, object: Object) {
        let Some(next_free) = self
            .storage
            .slots()
            .get(index)
            .filter(|s| s.object.is_none())
            .map(|s| s.next_free)
        else {
            return;
        };
        if (self.free_head as usize).checked_sub(1) == Some(index) {
            self.free_head = next_free;
        } else if index == self.high_water {
            self.high_water += 1;
        } else {
            return;
        }
        let bucket = self.bucket_of(object.client, object.handle);
        let slots = self.storage.slots_mut();
        let head = slots.get(bucket).map_or(0, |s| s.bucket);
        if let Some(slot) = slots.get_mut(index) {
            *slot = Slot {
                object: Some(object),
                chain: head,
                bucket: slot.bucket,
                ..Slot::default()
            };
        }
        if let Some(b) = slots.get_mut(bucket) {
            b.bucket = index as u32 + 1;
        }
        if object.parent != object.handle {
            self.adjust_children(object.client, object.parent, true);
        }
        if matches!(object.kind, Kind::Memory { charged: false, .. }) {
            self.uncharged_memory += 1;
        }
    }

    /// Empties slot `index`: unlinks it from its hash chain, uncounts it as its parent's
    /// child and puts it on the free list. Returns the object it held.
    fn take(&mut self, index: usize) -> Option<Object> {
        let object = self.storage.slots().get(index)?.object?;
        let bucket = self.bucket_of(object.client, object.handle);
        let slots = self.storage.slots_mut();
        let after = slots.get(index).map_or(0, |s| s.chain);
        // Find the link that leads to this slot: the bucket head or a slot before it.
        let mut previous = None;
        let mut next = slots.get(bucket).map_or(0, |s| s.bucket);
        for _ in 0..slots.len() {
            match (next as usize).checked_sub(1) {
                Some(i) if i == index => break,
                Some(i) => {
                    previous = Some(i);
                    next = slots.get(i).map_or(0, |s| s.chain);
                }
                None => break,
            }
        }
        match previous {
            Some(p) => {
                if let Some(s) = slots.get_mut(p) {
                    s.chain = after;
                }
            }
            None => {
                if let Some(s) = slots.get_mut(bucket) {
                    s.bucket = after;
                }
            }
        }
        if let Some(slot) = slots.get_mut(index) {
            *slot = Slot {
                next_free: self.free_head,
                bucket: slot.bucket,
                ..Slot::default()
            };
        }
        self.free_head = index as u32 + 1;
        if object.parent != object.handle {
            self.adjust_children(object.client, object.parent, false);
        }
        if matches!(object.kind, Kind::Memory { charged: false, .. }) {
            self.uncharged_memory = self.uncharged_memory.saturating_sub(1);
        }
        Some(object)
    }

    /// Counts one more (`up`) or one fewer child of `parent` of `client`, if it is alive.
    fn adjust_children(&mut self, client: Handle, parent: Handle, up: bool) {
        if let Some(p) = self.slot_of(client, parent) {
            if let Some(slot) = self.storage.slots_mut().get_mut(p) {
                slot.children = if up {
                    slot.children.saturating_add(1)
                } else {
                    slot.children.saturating_sub(1)
                };
            }
        }
    }

    /// Use of GPU `gpu`.
    pub fn gpu(&self, gpu: usize) -> Option<&GpuUsage> {
        self.gpus.get(..self.gpu_count)?.get(gpu)
    }

    /// How many allocations (of either pool) have been released since the store was made:
    /// while this does not change, no memory's pages can have been freed.
    pub fn memory_releases(&self) -> u64 {
        self.memory_releases
    }

    /// The ids of the allocations released since the count was `seen` (an earlier
    /// [`Self::memory_releases`]), or `None` if more were released than the store remembers
    /// (the caller then checks every allocation it holds pages for).
    pub fn released_since(&self, seen: u64) -> Option<impl Iterator<Item = u32> + '_> {
        let missed = self.memory_releases.checked_sub(seen)?;
        if missed > RELEASE_LOG as u64 {
            return None;
        }
        Some(
            (seen..self.memory_releases)
                .map(|n| self.released_ids[(n % RELEASE_LOG as u64) as usize]),
        )
    }

    /// Records the release of allocation `id`.
    fn log_release(&mut self, id: u32) {
        self.released_ids[(self.memory_releases % RELEASE_LOG as u64) as usize] = id;
        self.memory_releases += 1;
    }

    /// System-pool bytes in use.
    pub fn sys_used(&self) -> u64 {
        self.sys_used
    }

    /// System-pool bytes still free.
    pub fn sys_room(&self) -> u64 {
        self.sys_size.saturating_sub(self.sys_used)
    }

    /// Bytes of memory charged to clients of `file`, per pool: (framebuffer, system).
    pub fn file_usage(&self, file: FileId) -> (u64, u64) {
        self.objects()
            .filter(|o| o.file == file)
            .fold((0, 0), |(fb, sys), o| match o.kind {
                Kind::Memory {
                    pool: Pool::Fb(_),
                    size,
                    charged: true,
                    ..
                } => (fb + size, sys),
                Kind::Memory {
                    pool: Pool::Sys,
                    size,
                    charged: true,
                    ..
                } => (fb, sys + size),
                _ => (fb, sys),
            })
    }

    /// The processes with an object of class `class` on GPU `gpu` (GET_PIDS), once each, in
    /// `out`; returns how many.
    pub fn pids_with_class(&self, gpu: u8, class: u32, out: &mut [u32]) -> usize {
        let mut n = 0;
        for o in self
            .objects()
            .filter(|o| o.gpu == Some(gpu) && o.class == class)
        {
            let seen = out.get(..n).is_some_and(|s| s.contains(&o.pid));
            if !seen {
                if let Some(slot) = out.get_mut(n) {
                    *slot = o.pid;
                    n += 1;
                }
            }
        }
        n
    }

    /// Video memory of process `pid` on GPU `gpu` (GET_PID_INFO): (charged to it, duplicated
    /// from others).
    pub fn pid_video_memory(&self, gpu: u8, pid: u32) -> (u64, u64) {
        self.objects()
            .filter(|o| o.pid == pid)
            .fold((0, 0), |(own, duped), o| match o.kind {
                Kind::Memory {
                    pool: Pool::Fb(g),
                    size,
                    charged,
                    ..
                } if g == gpu => {
                    if charged {
                        (own + size, duped)
                    } else {
                        (own, duped + size)
                    }
                }
                _ => (own, duped),
            })
    }

    /// The events a non-stall interrupt of a channel on engine `engine_type` of GPU `gpu`
    /// notifies: those allocated with `NONSTALL_INTR` on that engine's notifier.
    pub fn nonstall_events(
        &self,
        gpu: u8,
        engine_type: u8,
    ) -> impl Iterator<Item = EventTarget> + '_ {
        let notifier = nonstall_notifier(engine_type);
        self.objects().filter_map(move |o| match o.kind {
            Kind::Event {
                notify,
                registration,
            } if o.gpu == Some(gpu)
                && notify & event_alloc_params::NONSTALL_INTR != 0
                && Some(notify & event_alloc_params::INDEX_MASK) == notifier =>
            {
                Some(EventTarget {
                    client: o.client,
                    handle: o.handle,
                    index: notify & event_alloc_params::INDEX_MASK,
                    registration,
                    with_data: notify & event_alloc_params::WITHOUT_EVENT_DATA == 0,
                })
            }
            _ => None,
        })
    }

    /// Whether any handle still refers to memory allocation `id`.
    pub fn memory_alive(&self, id: u32) -> bool {
        self.objects()
            .any(|o| matches!(o.kind, Kind::Memory { id: i, .. } if i == id))
    }

    /// RM_DUP_OBJECT: a new handle `handle` (0: the RM picks) under `parent` of client `client`
    /// (made on `file`) to memory object `src` of client `src_client`. The duplicate charges
    /// nothing. Share policies are not simulated: any client's memory may be duplicated.
    pub fn dup(
        &mut self,
        file: FileId,
        client: Handle,
        parent: Handle,
        handle: Handle,
        src_client: Handle,
        src: Handle,
    ) -> Result<Handle, NvStatus> {
        let slot = self.free_slot()?;
        let owner = self.owned_client(file, client)?;
        self.get(src_client, src_client)
            .ok_or(NV_ERR_INVALID_CLIENT)?;
        let source = *self
            .get(src_client, src)
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
        let Kind::Memory { pool, size, id, .. } = source.kind else {
            return Err(NV_ERR_NOT_SUPPORTED);
        };
        let parent_obj = *self
            .get(client, parent)
            .ok_or(NV_ERR_INVALID_OBJECT_PARENT)?;
        if !matches!(parent_obj.kind, Kind::Device | Kind::Subdevice) {
            return Err(NV_ERR_INVALID_OBJECT_PARENT);
        }
        let handle = self.new_object_handle(client, handle)?;
        self.put(
            slot,
            Object {
                handle,
                parent,
                client,
                class: source.class,
                kind: Kind::Memory {
                    pool,
                    size,
                    id,
                    charged: false,
                },
                gpu: source.gpu,
                file,
                pid: owner.pid,
            },
        );
        Ok(handle)
    }

    /// Client `client`, which must have been made on `file` (a client is used through the
    /// file it was created on).
    /// The lowest channel id no live channel of GPU `gpu` has, if one is left.
    fn free_chid(&self, gpu: u8) -> Option<u16> {
        let mut used = [0u64; CHANNELS_PER_GPU / 64];
        for o in self.objects() {
            if let (Kind::Channel { chid, .. }, Some(g)) = (o.kind, o.gpu) {
                if g == gpu {
                    if let Some(word) = used.get_mut(usize::from(chid) / 64) {
                        *word |= 1 << (chid % 64);
                    }
                }
            }
        }
        let (word, bits) = used.iter().enumerate().find(|(_, w)| **w != u64::MAX)?;
        u16::try_from(word * 64 + bits.trailing_ones() as usize).ok()
    }

    fn owned_client(&self, file: FileId, client: Handle) -> Result<Object, NvStatus> {
        match self.get(client, client) {
            Some(owner) if owner.file == file => Ok(*owner),
            _ => Err(NV_ERR_INVALID_CLIENT),
        }
    }

    /// The handle a new object of `client` gets: `handle`, unless it is taken, or one the RM
    /// picks for 0.
    fn new_object_handle(&mut self, client: Handle, handle: Handle) -> Result<Handle, NvStatus> {
        if handle == 0 {
            Ok(self.generate_handle(OBJECT_HANDLE_BASE, Some(client)))
        } else if handle == client || self.get(client, handle).is_some() {
            Err(NV_ERR_INSERT_DUPLICATE_NAME)
        } else {
            Ok(handle)
        }
    }

    fn generate_handle(&mut self, base: Handle, client: Option<Handle>) -> Handle {
        loop {
            self.next_generated = self.next_generated.wrapping_add(1) & 0xf_ffff;
            let h = base | self.next_generated;
            let taken = match client {
                // A client is the object whose handle is its client's.
                None => self.get(h, h).is_some(),
                Some(c) => self.get(c, h).is_some() || h == c,
            };
            if !taken {
                return h;
            }
        }
    }

    /// Allocates a client (`NV01_ROOT*`) for `file`; a zero `handle` asks the RM to pick one.
    /// Returns the handle.
    pub fn alloc_client(
        &mut self,
        file: FileId,
        pid: u32,
        handle: Handle,
        class: u32,
    ) -> Result<Handle, NvStatus> {
        let slot = self.free_slot()?;
        let handle = if handle == 0 {
            self.generate_handle(CLIENT_HANDLE_BASE, None)
        } else if self.get(handle, handle).is_some() {
            return Err(NV_ERR_INSERT_DUPLICATE_NAME);
        } else {
            handle
        };
        self.put(
            slot,
            Object {
                handle,
                parent: handle,
                client: handle,
                class,
                kind: Kind::Client,
                gpu: None,
                file,
                pid,
            },
        );
        Ok(handle)
    }

    /// Allocates an object below client `client` for `file`: `parent`/`handle` as in
    /// `NVOS21`, where a zero `handle` asks the RM to pick one. Returns the handle.
    pub fn alloc(
        &mut self,
        file: FileId,
        client: Handle,
        parent: Handle,
        handle: Handle,
        class: u32,
        request: Request,
    ) -> Result<Handle, NvStatus> {
        let slot = self.free_slot()?;
        let owner = self.owned_client(file, client)?;
        let parent_obj = *self
            .get(client, parent)
            .ok_or(NV_ERR_INVALID_OBJECT_PARENT)?;
        let handle = self.new_object_handle(client, handle)?;

        let gpu = parent_obj.gpu;
        let (kind, gpu) = match request {
            Request::Device { device_id } => {
                if parent_obj.kind != Kind::Client {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                let id = usize::try_from(device_id)
                    .ok()
                    .filter(|&i| i < self.gpu_count);
                let id = id.ok_or(NV_ERR_INVALID_ARGUMENT)?;
                (Kind::Device, Some(id as u8))
            }
            Request::Subdevice => {
                if parent_obj.kind != Kind::Device {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                (Kind::Subdevice, gpu)
            }
            Request::Memory { system, size } => {
                let g = gpu.ok_or(NV_ERR_INVALID_OBJECT_PARENT)?;
                if size == 0 {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                let size = size
                    .checked_next_multiple_of(MEMORY_PAGE)
                    .ok_or(NV_ERR_NO_MEMORY)?;
                let pool = if system { Pool::Sys } else { Pool::Fb(g) };
                self.charge(pool, size)?;
                self.next_memory_id = self.next_memory_id.wrapping_add(1);
                let id = self.next_memory_id;
                (
                    Kind::Memory {
                        pool,
                        size,
                        id,
                        charged: true,
                    },
                    Some(g),
                )
            }
            Request::Plain => (Kind::Plain, gpu),
            Request::UnderClient => {
                if parent_obj.kind != Kind::Client {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                (Kind::Plain, None)
            }
            Request::UnderSubdevice => {
                if parent_obj.kind != Kind::Subdevice {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                (Kind::Plain, gpu)
            }
            Request::ChannelGroup => {
                gpu.ok_or(NV_ERR_INVALID_OBJECT_PARENT)?;
                (Kind::ChannelGroup, gpu)
            }
            Request::Channel { engine_type } => {
                let g = gpu.ok_or(NV_ERR_INVALID_OBJECT_PARENT)?;
                let engine_type = match engine_type {
                    // The RM's default: graphics (compute).
                    0 => engine_type::GR0,
                    engine_type::GR0 | engine_type::COPY0..=engine_type::COPY9 => engine_type,
                    _ => return Err(NV_ERR_INVALID_ARGUMENT),
                };
                let chid = self.free_chid(g).ok_or(NV_ERR_INSUFFICIENT_RESOURCES)?;
                if let Some(usage) = self.gpus.get_mut(usize::from(g)) {
                    usage.channels += 1;
                }
                let engine_type = engine_type as u8;
                (Kind::Channel { chid, engine_type }, gpu)
            }
            Request::EngineObject => {
                if !matches!(parent_obj.kind, Kind::Channel { .. }) {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                (Kind::EngineObject, gpu)
            }
            Request::Debugger { app_client, object } => {
                if parent_obj.kind != Kind::Device {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                let app = if app_client == 0 { client } else { app_client };
                self.get(app, app)
                    .filter(|c| c.kind == Kind::Client)
                    .ok_or(NV_ERR_INVALID_CLIENT)?;
                // The RM looks the object up as a graphics (compute) object of that client.
                let target = self.get(app, object).ok_or(NV_ERR_INVALID_OBJECT_PARENT)?;
                if target.kind != Kind::EngineObject || !class::COMPUTE.contains(&target.class) {
                    return Err(NV_ERR_INVALID_OBJECT_PARENT);
                }
                (Kind::Plain, gpu)
            }
            Request::Event {
                notify,
                registration,
                ..
            } => {
                // The RM attaches a non-stall event to its subdevice's per-engine list, for
                // a notifier that names an engine (`eventGetEngineTypeFromSubNotifyIndex`).
                if notify & event_alloc_params::NONSTALL_INTR != 0 {
                    if parent_obj.kind != Kind::Subdevice {
                        return Err(NV_ERR_INVALID_ARGUMENT);
                    }
                    if !nonstall_notifier_known(notify & event_alloc_params::INDEX_MASK) {
                        return Err(NV_ERR_NOT_SUPPORTED);
                    }
                }
                (
                    Kind::Event {
                        notify,
                        registration,
                    },
                    gpu,
                )
            }
            Request::ContextShare {
                subcontext,
                subctx_id,
            } => {
                // The RM looks its parent up as a channel group.
                if parent_obj.kind != Kind::ChannelGroup {
                    return Err(NV_ERR_INVALID_OBJECT_HANDLE);
                }
                let used = self
                    .objects()
                    .filter(|o| o.client == client && o.parent == parent)
                    .fold(0u64, |mask, o| match o.kind {
                        Kind::ContextShare { subctx_id } => mask | 1u64 << (subctx_id % 64),
                        _ => mask,
                    });
                let free = |id: u32| id < SUBCONTEXTS && used & (1u64 << id) == 0;
                let id = match subcontext {
                    ctxshare_alloc_params::SUBCONTEXT_SYNC => Some(0).filter(|&i| free(i)),
                    // The RM's VEID heap grows down for async subcontexts.
                    ctxshare_alloc_params::SUBCONTEXT_ASYNC => {
                        (1..SUBCONTEXTS).rev().find(|&i| free(i))
                    }
                    ctxshare_alloc_params::SUBCONTEXT_SPECIFIED => {
                        Some(subctx_id).filter(|&i| free(i))
                    }
                    _ => return Err(NV_ERR_INVALID_ARGUMENT),
                };
                let subctx_id = id.ok_or(NV_ERR_NO_MEMORY)?;
                (Kind::ContextShare { subctx_id }, gpu)
            }
        };
        self.put(
            slot,
            Object {
                handle,
                parent,
                client,
                class,
                kind,
                gpu,
                file,
                pid: owner.pid,
            },
        );
        Ok(handle)
    }

    fn charge(&mut self, pool: Pool, size: u64) -> Result<(), NvStatus> {
        let (used, cap) = match pool {
            Pool::Sys => (&mut self.sys_used, self.sys_size),
            Pool::Fb(g) => {
                let usage = self
                    .gpus
                    .get_mut(usize::from(g))
                    .ok_or(NV_ERR_INVALID_ARGUMENT)?;
                (&mut usage.fb_used, usage.fb_size)
            }
        };
        match used.checked_add(size) {
            Some(total) if total <= cap => {
                *used = total;
                Ok(())
            }
            _ => Err(NV_ERR_NO_MEMORY),
        }
    }

    fn release(&mut self, object: &Object) {
        match object.kind {
            Kind::Memory {
                charged: true,
                id,
                pool,
                size,
            } => {
                // Another live handle to the same allocation (a duplicate) takes the charge
                // over.
                let heir = if self.uncharged_memory == 0 {
                    None
                } else {
                    self.storage
                        .slots_mut()
                        .iter_mut()
                        .find_map(|slot| match slot {
                            Slot {
                                object:
                                    Some(Object {
                                        kind: Kind::Memory { id: i, charged, .. },
                                        ..
                                    }),
                                marked: false,
                                ..
                            } if *i == id => Some(charged),
                            _ => None,
                        })
                };
                if let Some(charged) = heir {
                    *charged = true;
                    self.uncharged_memory = self.uncharged_memory.saturating_sub(1);
                    return;
                }
                match pool {
                    Pool::Sys => {
                        self.sys_used = self.sys_used.saturating_sub(size);
                        self.log_release(id);
                    }
                    Pool::Fb(g) => {
                        if let Some(u) = self.gpus.get_mut(usize::from(g)) {
                            u.fb_used = u.fb_used.saturating_sub(size);
                        }
                        self.log_release(id);
                    }
                }
            }
            Kind::Channel { .. } => {
                if let Some(u) = object.gpu.and_then(|g| self.gpus.get_mut(usize::from(g))) {
                    u.channels = u.channels.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    /// Frees `handle` of `client` and everything below it (`handle == client` frees the whole
    /// client), as `NVOS00` does for `file`. Returns how many objects were freed.
    pub fn free(
        &mut self,
        file: FileId,
        client: Handle,
        handle: Handle,
    ) -> Result<usize, NvStatus> {
        self.owned_client(file, client)?;
        self.get(client, handle)
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
        Ok(self.free_subtree(client, handle))
    }

    /// Frees `root` of `client` and its descendants, then releases each once. Membership is
    /// decided by walking each object's ancestors up to a node already decided, and writing
    /// the verdict back along the path, so every object is decided once: O(N²) slot
    /// comparisons at worst, whatever the tree's shape, with no recursion or allocation.
    fn free_subtree(&mut self, client: Handle, root: Handle) -> usize {
        // The common case, an object with no children: just that one.
        if let Some(index) = self.slot_of(client, root) {
            let leaf = self
                .storage
                .slots()
                .get(index)
                .is_some_and(|s| s.children == 0);
            if leaf {
                if let Some(object) = self.take(index) {
                    self.release(&object);
                    return 1;
                }
            }
        }
        let len = self.high_water;
        for slot in self.storage.slots_mut().iter_mut().take(len) {
            slot.marked = false;
            slot.outside = false;
        }
        for i in 0..len {
            let Some(Slot {
                object: Some(o),
                marked: false,
                outside: false,
                ..
            }) = self.storage.slots().get(i).copied()
            else {
                continue;
            };
            if o.client != client {
                continue;
            }
            // First walk: find the verdict at the root or the first decided ancestor.
            let mut inside = false;
            let mut h = o.handle;
            for _ in 0..=len {
                if h == root {
                    inside = true;
                    break;
                }
                let Some(j) = self.slot_of(client, h) else {
                    break;
                };
                let Some(slot) = self.storage.slots().get(j).copied() else {
                    break;
                };
                if slot.marked || slot.outside {
                    inside = slot.marked;
                    break;
                }
                match slot.object {
                    Some(p) if p.parent != h => h = p.parent,
                    _ => break,
                }
            }
            // Second walk: record the verdict on every undecided node of the path.
            let mut h = o.handle;
            for _ in 0..=len {
                let Some(j) = self.slot_of(client, h) else {
                    break;
                };
                let Some(slot) = self.storage.slots_mut().get_mut(j) else {
                    break;
                };
                if slot.marked || slot.outside {
                    break;
                }
                slot.marked = inside;
                slot.outside = !inside;
                match slot.object {
                    Some(p) if h != root && p.parent != h => h = p.parent,
                    _ => break,
                }
            }
        }
        let mut freed = 0;
        for i in 0..len {
            let marked = self.storage.slots().get(i).is_some_and(|s| s.marked);
            let taken = if marked { self.take(i) } else { None };
            if let Some(object) = taken {
                self.release(&object);
                freed += 1;
            }
        }
        freed
    }

    /// Frees every client created on `file` (its close). Returns how many objects were freed.
    pub fn free_file(&mut self, file: FileId) -> usize {
        let mut freed = 0;
        loop {
            let next = self
                .objects()
                .find(|o| o.kind == Kind::Client && o.file == file);
            let Some(client) = next.map(|o| o.handle) else {
                return freed;
            };
            freed += self.free_subtree(client, client);
        }
    }
}

/// What an RM_ALLOC asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alloc {
    /// A new client.
    Client,
    /// An object below a client.
    Object(Request),
}

/// One event a non-stall interrupt notifies ([`RmStore::nonstall_events`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTarget {
    /// The event's client.
    pub client: Handle,
    /// The event object.
    pub handle: Handle,
    /// Its notifier, flags stripped (what GET_EVENT_DATA reports).
    pub index: u32,
    /// The OS event registration it posts to.
    pub registration: u32,
    /// Whether it queues data for GET_EVENT_DATA (else it only makes poll ready).
    pub with_data: bool,
}

/// The notifier a channel on engine `engine_type` (`NV2080_ENGINE_TYPE_*`) raises its
/// non-stall interrupts on: GR0 for graphics and compute, CEn for copy engine n.
pub fn nonstall_notifier(engine_type: u8) -> Option<u32> {
    match u32::from(engine_type) {
        engine_type::GR0 => Some(notifiers::GR0),
        e @ engine_type::COPY0..=engine_type::COPY9 => {
            Some(notifiers::CE0 + (e - engine_type::COPY0))
        }
        _ => None,
    }
}

/// Whether a non-stall event may be allocated for notifier `index`: the notifiers the RM
/// maps to an engine (`eventGetEngineTypeFromSubNotifyIndex`): GR0 (12) and GR1-7
/// (146-152), PPP (13), NVDEC0-7 (14-21), PDEC (22), CE0-9 (23-32), the host's (35), NVENC0-2
/// (38-40), SEC2 (115), NVJPEG0-7 (126-133), OFA (153). nvsim's channels raise GR0's and the
/// copy engines' only.
fn nonstall_notifier_known(index: u32) -> bool {
    matches!(index, 12..=32 | 35 | 38..=40 | 115 | 126..=133 | 146..=153)
}

/// Bytes of class parameters nvsim reads for `class` in `family` (0: it needs none).
pub fn class_params_len(class_id: u32, family: &DriverFamily) -> usize {
    match class_id {
        class::NV01_DEVICE_0 => device_alloc_params::SIZE,
        class::NV01_MEMORY_LOCAL_USER | class::NV01_MEMORY_SYSTEM => {
            family.memory_alloc_params_size
        }
        class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => os_desc_alloc_params::SIZE,
        class::FERMI_CONTEXT_SHARE_A => ctxshare_alloc_params::SIZE,
        c if class::GPFIFO_CHANNELS.contains(&c) => channel_alloc_params::SIZE,
        class::GT200_DEBUGGER => debugger_alloc_params::SIZE,
        class::NV01_EVENT_OS_EVENT => event_alloc_params::SIZE,
        // NV_CONFIDENTIAL_COMPUTE_ALLOC_PARAMS: hClient.
        class::NV_CONFIDENTIAL_COMPUTE => 4,
        _ => 0,
    }
}

/// Decodes an RM_ALLOC of `class_id` with its class parameters (`class_params_len` bytes);
/// `NV_ERR_INVALID_CLASS` for a class nvsim does not simulate.
pub fn decode_alloc(class_id: u32, params: &[u8]) -> Result<Alloc, NvStatus> {
    let field = |offset: usize| params.get(offset..).ok_or(NV_ERR_INVALID_ARGUMENT);
    let request = match class_id {
        class::NV01_NULL_OBJECT | class::NV01_ROOT_NON_PRIV | class::NV01_ROOT_CLIENT => {
            return Ok(Alloc::Client)
        }
        class::NV01_DEVICE_0 => {
            let device_id = read_pod::<u32>(field(device_alloc_params::DEVICE_ID_OFFSET)?)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            Request::Device { device_id }
        }
        class::NV20_SUBDEVICE_0 => Request::Subdevice,
        class::NV01_MEMORY_LOCAL_USER | class::NV01_MEMORY_SYSTEM => {
            let size = read_pod::<u64>(field(memory_alloc_params::SIZE_OFFSET)?)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            Request::Memory {
                system: class_id == class::NV01_MEMORY_SYSTEM,
                size,
            }
        }
        // Pinned user memory: charged to the system pool (limit + 1 bytes).
        class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => {
            let limit = read_pod::<u64>(field(os_desc_alloc_params::LIMIT_OFFSET)?)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            Request::Memory {
                system: true,
                size: limit.checked_add(1).ok_or(NV_ERR_INVALID_LIMIT)?,
            }
        }
        class::KEPLER_CHANNEL_GROUP_A => Request::ChannelGroup,
        class::FERMI_CONTEXT_SHARE_A => {
            let word = |at: usize| -> Result<u32, NvStatus> {
                read_pod::<u32>(field(at)?).ok_or(NV_ERR_INVALID_ARGUMENT)
            };
            Request::ContextShare {
                subcontext: word(ctxshare_alloc_params::FLAGS_OFFSET)? & 3,
                subctx_id: word(ctxshare_alloc_params::SUBCTX_ID_OFFSET)?,
            }
        }
        c if class::GPFIFO_CHANNELS.contains(&c) => Request::Channel {
            engine_type: read_pod::<u32>(field(channel_alloc_params::ENGINE_TYPE)?)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?,
        },
        c if class::COMPUTE.contains(&c) || class::DMA_COPY.contains(&c) => Request::EngineObject,
        class::GT200_DEBUGGER => Request::Debugger {
            app_client: read_pod::<u32>(field(debugger_alloc_params::H_APP_CLIENT)?)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?,
            object: read_pod::<u32>(field(debugger_alloc_params::H_OBJECT)?)
                .ok_or(NV_ERR_INVALID_ARGUMENT)?,
        },
        class::NV01_EVENT_OS_EVENT => {
            let word = |at: usize| -> Result<u32, NvStatus> {
                read_pod::<u32>(field(at)?).ok_or(NV_ERR_INVALID_ARGUMENT)
            };
            Request::Event {
                notify: word(event_alloc_params::NOTIFY_INDEX)?,
                // The key is an fd: the low word of `data`.
                fd: word(event_alloc_params::DATA)?,
                registration: 0,
            }
        }
        class::NV01_MEMORY_VIRTUAL | class::NV50_MEMORY_VIRTUAL | class::FERMI_VASPACE_A => {
            Request::Plain
        }
        c if class::USERMODE.contains(&c) => Request::Plain,
        class::NV_CONFIDENTIAL_COMPUTE => Request::UnderClient,
        class::NV2081_BINAPI => Request::UnderSubdevice,
        // Memory lists describe existing pages: no new memory.
        c if class::PRIVILEGED.contains(&c) => Request::Plain,
        _ => return Err(NV_ERR_INVALID_CLASS),
    };
    Ok(Alloc::Object(request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::nv_family::{R535, R550};
    use proptest::prelude::*;

    const GIB: u64 = 1 << 30;
    type Store = RmStore<[Slot; 64]>;

    fn store<const N: usize>(fb: &[u64], sys: u64) -> RmStore<[Slot; N]> {
        RmStore::new([Slot::default(); N], fb, sys)
    }

    fn setup(store: &mut Store, file: FileId) -> (Handle, Handle, Handle) {
        let client = store.alloc_client(file, 1000, 0, 0x41).unwrap();
        let device = store
            .alloc(
                file,
                client,
                client,
                0xd0,
                0x80,
                Request::Device { device_id: 0 },
            )
            .unwrap();
        let sub = store
            .alloc(file, client, device, 0x5d0, 0x2080, Request::Subdevice)
            .unwrap();
        (client, device, sub)
    }

    #[test]
    fn nonstall_events_are_found_by_engine_and_gpu() {
        use event_alloc_params::{NONSTALL_INTR, WITHOUT_EVENT_DATA};
        let mut s: Store = store(&[GIB, GIB], GIB);
        let (client, device, sub) = setup(&mut s, 1);
        let event = |s: &mut Store, handle: u32, src: u32, notify: u32| {
            s.alloc(
                1,
                client,
                src,
                handle,
                class::NV01_EVENT_OS_EVENT,
                Request::Event {
                    notify,
                    fd: 7,
                    registration: 3,
                },
            )
        };
        assert_eq!(
            event(&mut s, 0x70, sub, NONSTALL_INTR | notifiers::GR0),
            Ok(0x70)
        );
        assert_eq!(
            event(
                &mut s,
                0x71,
                sub,
                NONSTALL_INTR | WITHOUT_EVENT_DATA | (notifiers::CE0 + 2)
            ),
            Ok(0x71)
        );
        // A plain notifier event fires on nothing here; a non-stall one needs a subdevice
        // and an engine's notifier.
        assert_eq!(event(&mut s, 0x72, sub, notifiers::GR0), Ok(0x72));
        assert_eq!(
            event(&mut s, 0x73, device, NONSTALL_INTR | notifiers::GR0),
            Err(NV_ERR_INVALID_ARGUMENT)
        );
        assert_eq!(
            event(&mut s, 0x74, sub, NONSTALL_INTR | 99),
            Err(NV_ERR_NOT_SUPPORTED),
            "99 names no engine"
        );
        // NVENC0 names an engine nvsim lacks: allowed, and it never fires.
        assert_eq!(event(&mut s, 0x75, sub, NONSTALL_INTR | 38), Ok(0x75));
        let targets = |s: &Store, gpu: u8, engine: u32| -> Vec<(u32, u32, bool)> {
            s.nonstall_events(gpu, engine as u8)
                .inspect(|t| assert_eq!(t.registration, 3))
                .map(|t| (t.handle, t.index, t.with_data))
                .collect()
        };
        assert_eq!(
            targets(&s, 0, engine_type::GR0),
            [(0x70, notifiers::GR0, true)]
        );
        assert_eq!(
            targets(&s, 0, engine_type::COPY0 + 2),
            [(0x71, notifiers::CE0 + 2, false)]
        );
        assert!(targets(&s, 0, engine_type::COPY0).is_empty());
        assert!(targets(&s, 1, engine_type::GR0).is_empty(), "another GPU");
        assert_eq!(
            nonstall_notifier(engine_type::COPY9 as u8),
            Some(notifiers::CE9)
        );
        assert_eq!(nonstall_notifier(0), None);
        s.free(1, client, 0x70).unwrap();
        assert!(targets(&s, 0, engine_type::GR0).is_empty(), "freed");
        let mut params = [0u8; event_alloc_params::SIZE];
        params[4..8].copy_from_slice(&0x5d0u32.to_ne_bytes());
        params[12..16].copy_from_slice(&(NONSTALL_INTR | 12).to_ne_bytes());
        params[16..20].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(
            decode_alloc(class::NV01_EVENT_OS_EVENT, &params),
            Ok(Alloc::Object(Request::Event {
                notify: NONSTALL_INTR | 12,
                fd: 9,
                registration: 0
            }))
        );
        assert_eq!(
            decode_alloc(class::NV01_EVENT_OS_EVENT, &params[..12]),
            Err(NV_ERR_INVALID_ARGUMENT)
        );
    }

    #[test]
    fn context_shares_take_veids_of_their_channel_group() {
        let mut s: Store = store(&[GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        let tsg = s
            .alloc(1, client, device, 0x10, 0xa06c, Request::ChannelGroup)
            .unwrap();
        let share = |s: &mut Store, handle: u32, subcontext: u32, subctx_id: u32| {
            s.alloc(
                1,
                client,
                tsg,
                handle,
                class::FERMI_CONTEXT_SHARE_A,
                Request::ContextShare {
                    subcontext,
                    subctx_id,
                },
            )
            .map(|h| s.get(client, h).map(|o| o.kind))
        };
        let veid = |id| Ok(Some(Kind::ContextShare { subctx_id: id }));
        assert_eq!(share(&mut s, 0x20, 0, 0), veid(0), "SYNC is VEID 0");
        assert_eq!(
            share(&mut s, 0x21, 0, 0),
            Err(NV_ERR_NO_MEMORY),
            "VEID 0 is taken"
        );
        assert_eq!(share(&mut s, 0x22, 1, 0), veid(63), "ASYNC grows down");
        assert_eq!(share(&mut s, 0x23, 1, 0), veid(62));
        assert_eq!(share(&mut s, 0x24, 2, 5), veid(5), "SPECIFIED");
        assert_eq!(share(&mut s, 0x25, 2, 64), Err(NV_ERR_NO_MEMORY));
        assert_eq!(share(&mut s, 0x26, 3, 0), Err(NV_ERR_INVALID_ARGUMENT));
        // Only under a channel group.
        let bad = s.alloc(
            1,
            client,
            device,
            0x27,
            class::FERMI_CONTEXT_SHARE_A,
            Request::ContextShare {
                subcontext: 0,
                subctx_id: 0,
            },
        );
        assert_eq!(bad, Err(NV_ERR_INVALID_OBJECT_HANDLE));
        assert_eq!(
            decode_alloc(
                class::FERMI_CONTEXT_SHARE_A,
                &[0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0]
            ),
            Ok(Alloc::Object(Request::ContextShare {
                subcontext: 1,
                subctx_id: 9
            }))
        );
    }

    #[test]
    fn memory_is_charged_to_the_gpu_and_freed_with_its_parent() {
        let mut s = store::<64>(&[4 * GIB, 4 * GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        assert!(client >= CLIENT_HANDLE_BASE);
        let mem = Request::Memory {
            system: false,
            size: GIB + 1,
        };
        s.alloc(1, client, device, 0x100, 0x40, mem).unwrap();
        assert_eq!(s.gpu(0).unwrap().fb_used, GIB + MEMORY_PAGE);
        assert_eq!(s.gpu(1).unwrap().fb_used, 0);
        assert_eq!(s.file_usage(1), (GIB + MEMORY_PAGE, 0));
        s.alloc(
            1,
            client,
            device,
            0x101,
            0x3e,
            Request::Memory {
                system: true,
                size: 8192,
            },
        )
        .unwrap();
        assert_eq!(s.sys_used(), 8192);
        // Freeing the device frees the memory under it.
        assert_eq!(s.free(1, client, device), Ok(4));
        assert_eq!(s.gpu(0).unwrap().fb_used, 0);
        assert_eq!(s.sys_used(), 0);
        assert_eq!(s.objects().count(), 1);
    }

    #[test]
    fn released_allocations_are_remembered_by_id() {
        let mut s: Store = store(&[4 * GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        let mem = Request::Memory {
            system: false,
            size: 4096,
        };
        let id_of = |s: &Store, h| match s.get(client, h).map(|o| o.kind) {
            Some(Kind::Memory { id, .. }) => id,
            _ => panic!("no memory {h:#x}"),
        };
        s.alloc(1, client, device, 0x100, 0x40, mem).unwrap();
        s.alloc(1, client, device, 0x101, 0x40, mem).unwrap();
        let (a, b) = (id_of(&s, 0x100), id_of(&s, 0x101));
        let seen = s.memory_releases();
        s.free(1, client, 0x101).unwrap();
        let ids: Vec<u32> = s.released_since(seen).unwrap().collect();
        assert_eq!(ids, vec![b]);
        s.free(1, client, 0x100).unwrap();
        let ids: Vec<u32> = s.released_since(seen).unwrap().collect();
        assert_eq!(ids, vec![b, a]);
        // More releases than the log holds: the caller must look at everything.
        for h in 0..RELEASE_LOG as u32 {
            s.alloc(1, client, device, 0x200 + h, 0x40, mem).unwrap();
            s.free(1, client, 0x200 + h).unwrap();
        }
        assert!(s.released_since(seen).is_none());
        assert_eq!(s.released_since(s.memory_releases()).unwrap().count(), 0);
    }

    #[test]
    fn capacity_exhausted_is_no_memory() {
        let mut s = store::<64>(&[4 * GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        s.alloc(
            1,
            client,
            device,
            0x100,
            0x40,
            Request::Memory {
                system: false,
                size: 3 * GIB,
            },
        )
        .unwrap();
        let r = s.alloc(
            1,
            client,
            device,
            0x101,
            0x40,
            Request::Memory {
                system: false,
                size: 2 * GIB,
            },
        );
        assert_eq!(r, Err(NV_ERR_NO_MEMORY));
        let r = s.alloc(
            1,
            client,
            device,
            0x102,
            0x40,
            Request::Memory {
                system: false,
                size: u64::MAX,
            },
        );
        assert_eq!(r, Err(NV_ERR_NO_MEMORY));
        assert_eq!(s.gpu(0).unwrap().fb_used, 3 * GIB);
    }

    #[test]
    fn confidential_compute_lives_under_a_client_only() {
        let mut s = store::<64>(&[GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        let cc = class::NV_CONFIDENTIAL_COMPUTE;
        assert_eq!(
            decode_alloc(cc, &[0; 4]),
            Ok(Alloc::Object(Request::UnderClient))
        );
        let r = s.alloc(1, client, device, 0x300, cc, Request::UnderClient);
        assert_eq!(r, Err(NV_ERR_INVALID_OBJECT_PARENT));
        let binapi = class::NV2081_BINAPI;
        let r = s.alloc(1, client, device, 0x302, binapi, Request::UnderSubdevice);
        assert_eq!(r, Err(NV_ERR_INVALID_OBJECT_PARENT), "a subdevice's only");
        assert!(s
            .alloc(1, client, client, 0x301, cc, Request::UnderClient)
            .is_ok());
    }

    #[test]
    fn rm_rules() {
        let mut s = store::<64>(&[GIB], GIB);
        let (client, device, sub) = setup(&mut s, 1);
        // Duplicate handles, missing parents, wrong parents, other files' clients.
        let dup = s.alloc(1, client, device, sub, 0x2080, Request::Subdevice);
        assert_eq!(dup, Err(NV_ERR_INSERT_DUPLICATE_NAME));
        let orphan = s.alloc(1, client, 0x999, 0x1, 0x2080, Request::Subdevice);
        assert_eq!(orphan, Err(NV_ERR_INVALID_OBJECT_PARENT));
        let bad_parent = s.alloc(1, client, client, 0x2, 0x2080, Request::Subdevice);
        assert_eq!(bad_parent, Err(NV_ERR_INVALID_OBJECT_PARENT));
        let no_gpu = s.alloc(
            1,
            client,
            client,
            0x3,
            0x80,
            Request::Device { device_id: 5 },
        );
        assert_eq!(no_gpu, Err(NV_ERR_INVALID_ARGUMENT));
        let foreign = s.alloc(
            2,
            client,
            device,
            0x4,
            0x40,
            Request::Memory {
                system: false,
                size: 1,
            },
        );
        assert_eq!(foreign, Err(NV_ERR_INVALID_CLIENT));
        assert_eq!(s.free(2, client, client), Err(NV_ERR_INVALID_CLIENT));
        assert_eq!(s.free(1, client, 0x777), Err(NV_ERR_INVALID_OBJECT_HANDLE));
        let dup_client = s.alloc_client(1, 1000, client, 0x41);
        assert_eq!(dup_client, Err(NV_ERR_INSERT_DUPLICATE_NAME));
    }

    #[test]
    fn duplicates_never_charge_twice_and_the_last_handle_uncharges() {
        let mut s = store::<64>(&[GIB], GIB);
        let (c1, d1, _) = setup(&mut s, 1);
        let (c2, d2, _) = setup(&mut s, 2);
        let mem = Request::Memory {
            system: false,
            size: 1 << 20,
        };
        s.alloc(1, c1, d1, 0x100, 0x40, mem).unwrap();
        let dup = s.dup(2, c2, d2, 0, c1, 0x100).unwrap();
        assert_eq!(s.gpu(0).unwrap().fb_used, 1 << 20);
        assert_eq!(s.file_usage(1).0, 1 << 20);
        assert_eq!(s.file_usage(2).0, 0);
        // The original goes: the duplicate inherits the charge.
        s.free(1, c1, 0x100).unwrap();
        assert_eq!(s.gpu(0).unwrap().fb_used, 1 << 20);
        assert_eq!(s.file_usage(2).0, 1 << 20);
        s.free(2, c2, dup).unwrap();
        assert_eq!(s.gpu(0).unwrap().fb_used, 0);
        // Rules: only memory, into a device or subdevice, by the client's own file.
        assert_eq!(s.dup(2, c2, d2, 0, c1, d1), Err(NV_ERR_NOT_SUPPORTED));
        s.alloc(1, c1, d1, 0x101, 0x40, mem).unwrap();
        assert_eq!(s.dup(1, c2, d2, 0, c1, 0x101), Err(NV_ERR_INVALID_CLIENT));
        assert_eq!(
            s.dup(2, c2, c2, 0, c1, 0x101),
            Err(NV_ERR_INVALID_OBJECT_PARENT)
        );
        assert_eq!(
            s.dup(2, c2, d2, 0, c1, 0x999),
            Err(NV_ERR_INVALID_OBJECT_HANDLE)
        );
        // Freeing both at once (closing both files) uncharges exactly once.
        s.dup(2, c2, d2, 0x200, c1, 0x101).unwrap();
        s.free_file(1);
        s.free_file(2);
        assert_eq!(s.gpu(0).unwrap().fb_used, 0);
    }

    #[test]
    fn per_process_queries() {
        let mut s = store::<64>(&[GIB, GIB], GIB);
        let (c1, d1, _) = setup(&mut s, 1);
        let c2 = s.alloc_client(2, 2000, 0, 0x41).unwrap();
        s.alloc(2, c2, c2, 0xd0, 0x80, Request::Device { device_id: 0 })
            .unwrap();
        s.alloc(
            1,
            c1,
            d1,
            0x100,
            0x40,
            Request::Memory {
                system: false,
                size: 8192,
            },
        )
        .unwrap();
        s.dup(2, c2, 0xd0, 0x200, c1, 0x100).unwrap();
        let mut pids = [0u32; 4];
        let n = s.pids_with_class(0, 0x40, &mut pids);
        assert_eq!(&pids[..n], &[1000, 2000]);
        assert_eq!(s.pids_with_class(1, 0x40, &mut pids), 0);
        assert_eq!(s.pid_video_memory(0, 1000), (8192, 0));
        assert_eq!(s.pid_video_memory(0, 2000), (0, 8192));
        assert_eq!(s.pid_video_memory(0, 3000), (0, 0));
    }

    /// A chain laid out with every child in a lower slot than its parent (the order that
    /// made a level-per-pass marking take one pass per level) frees exactly.
    #[test]
    fn freeing_a_deep_reversed_chain_is_exact() {
        const N: usize = 256;
        let mut s = store::<N>(&[GIB], GIB);
        let client = s.alloc_client(1, 1000, 0, 0x41).unwrap();
        s.alloc(
            1,
            client,
            client,
            0x10,
            0x80,
            Request::Device { device_id: 0 },
        )
        .unwrap();
        // Fill slots 2.. with fillers, then swap them for chain nodes from the top down:
        // free_slot takes the lowest free slot, so each node lands below its parent.
        let fillers = N - 2;
        for k in 0..fillers {
            s.alloc(1, client, 0x10, 0x1000 + k as u32, 0x50a0, Request::Plain)
                .unwrap();
        }
        let depth = fillers / 2;
        let mut parent = 0x10;
        for level in 0..depth {
            let filler = 0x1000 + (fillers - 1 - level) as u32;
            s.free(1, client, filler).unwrap();
            let h = 0x100 + level as u32;
            s.alloc(1, client, parent, h, 0x50a0, Request::Plain)
                .unwrap();
            parent = h;
        }
        let before = s.objects().count();
        assert_eq!(s.free(1, client, 0x100 + 3), Ok(depth - 3));
        assert_eq!(s.objects().count(), before - (depth - 3));
        assert!(s.get(client, 0x100 + 2).is_some());
        assert!(s.get(client, 0x100 + 3).is_none());
        assert_eq!(s.free(1, client, client), Ok(before - (depth - 3)));
        assert_eq!(s.objects().count(), 0);
    }

    #[test]
    fn vid_heap_sizes_round_to_huge_pages_from_2_mib() {
        assert_eq!(vid_heap_size(0x1000), Some(0x1000));
        assert_eq!(vid_heap_size(0x1f_ffff), Some(0x1f_ffff));
        assert_eq!(vid_heap_size(0x20_0000), Some(0x20_0000));
        assert_eq!(vid_heap_size(0x3a_b000), Some(0x40_0000));
        assert_eq!(vid_heap_size(u64::MAX), None);
    }

    #[test]
    fn channels_are_counted_per_gpu() {
        let mut s = store::<64>(&[GIB, GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        let tsg = s
            .alloc(1, client, device, 0x10, 0xa06c, Request::ChannelGroup)
            .unwrap();
        s.alloc(
            1,
            client,
            tsg,
            0x11,
            0xc86f,
            Request::Channel { engine_type: 0 },
        )
        .unwrap();
        s.alloc(
            1,
            client,
            tsg,
            0x12,
            0xc86f,
            Request::Channel { engine_type: 0 },
        )
        .unwrap();
        assert_eq!(s.gpu(0).unwrap().channels, 2);
        s.free(1, client, tsg).unwrap();
        assert_eq!(s.gpu(0).unwrap().channels, 0);
    }

    #[test]
    fn channel_ids_are_the_lowest_free_and_engine_objects_need_a_channel() {
        let mut s = store::<64>(&[GIB], GIB);
        let (client, device, _) = setup(&mut s, 1);
        let tsg = s
            .alloc(1, client, device, 0x10, 0xa06c, Request::ChannelGroup)
            .unwrap();
        let chan = |engine_type| Request::Channel { engine_type };
        let chid = |s: &Store, h| match s.get(client, h).unwrap().kind {
            Kind::Channel { chid, engine_type } => (chid, engine_type),
            k => panic!("{k:?}"),
        };
        for h in 0x11..0x14 {
            s.alloc(1, client, tsg, h, 0xc86f, chan(0)).unwrap();
        }
        assert_eq!(chid(&s, 0x12), (1, 1));
        s.free(1, client, 0x12).unwrap();
        s.alloc(1, client, tsg, 0x15, 0xc86f, chan(0x9)).unwrap();
        assert_eq!(chid(&s, 0x15), (1, 0x9));
        assert_eq!(
            s.alloc(1, client, tsg, 0x16, 0xc86f, chan(0x40)),
            Err(NV_ERR_INVALID_ARGUMENT)
        );
        s.alloc(1, client, 0x15, 0x20, 0xc8b5, Request::EngineObject)
            .unwrap();
        assert_eq!(
            s.alloc(1, client, tsg, 0x21, 0xcbc0, Request::EngineObject),
            Err(NV_ERR_INVALID_OBJECT_PARENT)
        );
        // A debugger session names a compute object, from under a device.
        s.alloc(1, client, 0x11, 0x22, 0xcbc0, Request::EngineObject)
            .unwrap();
        let debugger = |object| Request::Debugger {
            app_client: 0,
            object,
        };
        assert_eq!(
            s.alloc(1, client, device, 0x30, 0x83de, debugger(0x20)),
            Err(NV_ERR_INVALID_OBJECT_PARENT)
        );
        assert_eq!(
            s.alloc(1, client, tsg, 0x30, 0x83de, debugger(0x22)),
            Err(NV_ERR_INVALID_OBJECT_PARENT)
        );
        s.alloc(1, client, device, 0x30, 0x83de, debugger(0x22))
            .unwrap();
    }

    #[test]
    fn closing_a_file_frees_its_clients_only() {
        let mut s = store::<64>(&[GIB], GIB);
        let (c1, d1, _) = setup(&mut s, 1);
        let (c2, d2, _) = setup(&mut s, 2);
        s.alloc(
            1,
            c1,
            d1,
            0x100,
            0x40,
            Request::Memory {
                system: false,
                size: 4096,
            },
        )
        .unwrap();
        s.alloc(
            2,
            c2,
            d2,
            0x100,
            0x40,
            Request::Memory {
                system: false,
                size: 8192,
            },
        )
        .unwrap();
        assert_eq!(s.free_file(1), 4);
        assert_eq!(s.gpu(0).unwrap().fb_used, 8192);
        assert!(s.objects().all(|o| o.file == 2));
    }

    #[test]
    fn full_store_is_insufficient_resources() {
        let mut s = store::<3>(&[GIB], GIB);
        let (client, device, _) = {
            let c = s.alloc_client(1, 1000, 0, 0x41).unwrap();
            let d = s
                .alloc(1, c, c, 0xd, 0x80, Request::Device { device_id: 0 })
                .unwrap();
            (c, d, 0)
        };
        s.alloc(1, client, device, 0x1, 0x50a0, Request::Plain)
            .unwrap();
        let r = s.alloc(1, client, device, 0x2, 0x50a0, Request::Plain);
        assert_eq!(r, Err(NV_ERR_INSUFFICIENT_RESOURCES));
    }

    #[test]
    fn decodes_classes() {
        assert_eq!(decode_alloc(0x41, &[]), Ok(Alloc::Client));
        let mut dev = [0u8; 56];
        dev[..4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            decode_alloc(0x80, &dev),
            Ok(Alloc::Object(Request::Device { device_id: 1 }))
        );
        let mut mem = [0u8; 120];
        mem[64..72].copy_from_slice(&(1u64 << 20).to_le_bytes());
        assert_eq!(
            decode_alloc(0x40, &mem),
            Ok(Alloc::Object(Request::Memory {
                system: false,
                size: 1 << 20
            }))
        );
        assert_eq!(
            decode_alloc(0x3e, &mem),
            Ok(Alloc::Object(Request::Memory {
                system: true,
                size: 1 << 20
            }))
        );
        assert_eq!(decode_alloc(0x40, &mem[..10]), Err(NV_ERR_INVALID_ARGUMENT));
        assert_eq!(decode_alloc(0xc86f, &[]), Err(NV_ERR_INVALID_ARGUMENT));
        let mut chan = [0u8; 360];
        chan[128] = 0x9;
        assert_eq!(
            decode_alloc(0xc86f, &chan),
            Ok(Alloc::Object(Request::Channel { engine_type: 0x9 }))
        );
        assert_eq!(decode_alloc(0x1234, &[]), Err(NV_ERR_INVALID_CLASS));
        let mut osd = [0u8; 40];
        osd[24..32].copy_from_slice(&8191u64.to_le_bytes());
        assert_eq!(
            decode_alloc(0x71, &osd),
            Ok(Alloc::Object(Request::Memory {
                system: true,
                size: 8192
            }))
        );
        osd[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode_alloc(0x71, &osd), Err(NV_ERR_INVALID_LIMIT));
        assert_eq!(class_params_len(0x40, &R535), 120);
        assert_eq!(class_params_len(0x40, &R550), 128);
        assert_eq!(class_params_len(0x2080, &R535), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc {
            file: u8,
            parent_pick: u8,
            system: bool,
            size: u32,
        },
        Free {
            file: u8,
            pick: u8,
        },
        Dup {
            file: u8,
            src_file: u8,
            pick: u8,
        },
        Close {
            file: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, any::<u8>(), any::<bool>(), 1u32..(1 << 28)).prop_map(
                |(file, parent_pick, system, size)| Op::Alloc {
                    file,
                    parent_pick,
                    system,
                    size
                }
            ),
            (0u8..3, any::<u8>()).prop_map(|(file, pick)| Op::Free { file, pick }),
            (0u8..3, 0u8..3, any::<u8>()).prop_map(|(file, src_file, pick)| Op::Dup {
                file,
                src_file,
                pick
            }),
            (0u8..3).prop_map(|file| Op::Close { file }),
        ]
    }

    /// The store's index agrees with its objects: each is found by its handle, its children
    /// count is exact, duplicates are counted, and the free list holds only empty slots.
    fn check_index<const N: usize>(s: &RmStore<[Slot; N]>) -> Result<(), TestCaseError> {
        let slots = s.storage.slots();
        for (i, slot) in slots.iter().enumerate() {
            let Some(o) = slot.object else { continue };
            prop_assert_eq!(s.slot_of(o.client, o.handle), Some(i));
            let children = s
                .objects()
                .filter(|c| c.client == o.client && c.parent == o.handle && c.handle != c.parent)
                .count();
            prop_assert_eq!(
                slot.children as usize,
                children,
                "children of {:#x}",
                o.handle
            );
        }
        let dups = s
            .objects()
            .filter(|o| matches!(o.kind, Kind::Memory { charged: false, .. }))
            .count();
        prop_assert_eq!(s.uncharged_memory, dups);
        let mut next = s.free_head;
        let mut steps = 0;
        while let Some(i) = (next as usize).checked_sub(1) {
            prop_assert!(slots[i].object.is_none() && i < s.high_water);
            next = slots[i].next_free;
            steps += 1;
            prop_assert!(steps <= N);
        }
        Ok(())
    }

    proptest! {
        /// Whatever the order of allocations, frees and closes, the pools' use equals the sum
        /// of the live memory objects, never exceeds capacity, and reaches zero when every
        /// file closes.
        #[test]
        /// In a store small enough to fill, slots freed in any order are found again and
        /// the index stays exact.
        fn full_store_reuses_freed_slots(ops in proptest::collection::vec((any::<bool>(), any::<u8>()), 1..200)) {
            let mut s = store::<16>(&[GIB], GIB);
            let client = s.alloc_client(1, 1000, 0, 0x41).unwrap();
            let device = s.alloc(1, client, client, 0xd0, 0x80, Request::Device { device_id: 0 }).unwrap();
            let mut live: Vec<Handle> = Vec::new();
            let mut next = 0x100;
            for (alloc, pick) in ops {
                if alloc {
                    next += 1;
                    let r = s.alloc(1, client, device, next, 0x40, Request::Memory { system: false, size: 4096 });
                    prop_assert_eq!(r.is_ok(), live.len() < 14, "{:?} with {} live", r, live.len());
                    if r.is_ok() { live.push(next); }
                } else if !live.is_empty() {
                    let h = live.swap_remove(usize::from(pick) % live.len());
                    prop_assert_eq!(s.free(1, client, h), Ok(1));
                }
                prop_assert_eq!(s.gpu(0).unwrap().fb_used, 4096 * live.len() as u64);
                for &h in &live { prop_assert!(s.get(client, h).is_some()); }
                check_index(&s)?;
            }
            prop_assert_eq!(s.free(1, client, client), Ok(live.len() + 2));
            check_index(&s)?;
        }

        #[test]
        fn usage_always_equals_live_objects(ops in proptest::collection::vec(op(), 1..80)) {
            let mut s = store::<128>(&[GIB, GIB / 2], GIB / 4);
            let mut clients = [0; 3];
            for f in 0..3u8 {
                let c = s.alloc_client(u64::from(f), 1000, 0, 0x41).unwrap();
                s.alloc(u64::from(f), c, c, 0xd0, 0x80, Request::Device { device_id: u32::from(f % 2) }).unwrap();
                clients[usize::from(f)] = c;
            }
            let mut next = 0x1000;
            for op in ops {
                match op {
                    Op::Alloc { file, parent_pick, system, size } => {
                        let c = clients[usize::from(file)];
                        let parents: Vec<Handle> = s.objects().filter(|o| o.client == c).map(|o| o.handle).collect();
                        if parents.is_empty() { continue; }
                        let parent = parents[usize::from(parent_pick) % parents.len()];
                        next += 1;
                        let _ = s.alloc(u64::from(file), c, parent, next, 0x40, Request::Memory { system, size: u64::from(size) });
                    }
                    Op::Free { file, pick } => {
                        let c = clients[usize::from(file)];
                        let handles: Vec<Handle> = s.objects().filter(|o| o.client == c).map(|o| o.handle).collect();
                        if handles.is_empty() { continue; }
                        let _ = s.free(u64::from(file), c, handles[usize::from(pick) % handles.len()]);
                    }
                    Op::Close { file } => { s.free_file(u64::from(file)); }
                    Op::Dup { file, src_file, pick } => {
                        let (c, src) = (clients[usize::from(file)], clients[usize::from(src_file)]);
                        let mems: Vec<Handle> = s.objects()
                            .filter(|o| o.client == src && matches!(o.kind, Kind::Memory { .. }))
                            .map(|o| o.handle).collect();
                        if mems.is_empty() { continue; }
                        let _ = s.dup(u64::from(file), c, 0xd0, 0, src, mems[usize::from(pick) % mems.len()]);
                    }
                }
                for g in 0..2 {
                    let live: u64 = s.objects().filter_map(|o| match o.kind {
                        Kind::Memory { pool: Pool::Fb(x), size, charged: true, .. } if usize::from(x) == g => Some(size),
                        _ => None,
                    }).sum();
                    let usage = s.gpu(g).unwrap();
                    prop_assert_eq!(usage.fb_used, live);
                    prop_assert!(usage.fb_used <= usage.fb_size);
                }
                let live_sys: u64 = s.objects().filter_map(|o| match o.kind {
                    Kind::Memory { pool: Pool::Sys, size, charged: true, .. } => Some(size),
                    _ => None,
                }).sum();
                prop_assert_eq!(s.sys_used(), live_sys);
                // Every live allocation is charged exactly once.
                for o in s.objects() {
                    if let Kind::Memory { id, .. } = o.kind {
                        let charged = s.objects().filter(|x| matches!(x.kind, Kind::Memory { id: i, charged: true, .. } if i == id)).count();
                        prop_assert_eq!(charged, 1);
                    }
                }
                // No orphans: every object's parent is alive.
                for o in s.objects() {
                    prop_assert!(s.get(o.client, o.parent).is_some());
                }
                check_index(&s)?;
            }
            for f in 0..3 { s.free_file(f); }
            prop_assert_eq!(s.objects().count(), 0);
            prop_assert_eq!(s.gpu(0).unwrap().fb_used + s.gpu(1).unwrap().fb_used + s.sys_used(), 0);
        }
    }
}
