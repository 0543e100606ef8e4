// SPDX-License-Identifier: GPL-2.0

//! The simulated GPU's channels as the engine sees them: where each channel's GPFIFO ring
//! and USERD are, how far it has run, and its method state. A record is made when the RM
//! allocates a GPFIFO channel and dropped once the RM no longer has it (`engine.rs` checks
//! on every pass).

use crate::nvsim_model::methods::MethodState;
use crate::nvsim_model::pushbuf::MethodStream;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// A window of a memory allocation the engine reads or writes: a channel's USERD, or its
/// error notifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryWindow {
    /// The memory object's client and handle (the channel's client).
    pub(crate) client: u32,
    /// Its handle.
    pub(crate) handle: u32,
    /// The allocation (the RM store's id).
    pub(crate) memory: u32,
    /// Its size in pages, for video memory; 0 for system memory.
    pub(crate) fb_pages: usize,
    /// Byte offset of the window in it.
    pub(crate) offset: u64,
}

/// Where a channel stopped inside a pushbuffer segment: an acquire that does not hold yet,
/// or a compute launch still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stall {
    /// The dword after the acquire or launch, in the segment of GPFIFO entry `gp_get`.
    pub(crate) next_dword: u32,
    /// The semaphore (GPU VA, payload, size, comparison), or the launch.
    pub(crate) acquire: crate::nvsim_model::methods::Action,
    /// For a launch: the monotonic ns at which it completes (then its releases are made).
    pub(crate) until_ns: u64,
}

/// One channel.
pub(crate) struct Channel {
    /// The GPU (minor).
    pub(crate) gpu: u8,
    /// Its channel id on that GPU.
    pub(crate) chid: u16,
    /// The RM client and the channel's handle.
    pub(crate) client: u32,
    /// The channel's handle.
    pub(crate) handle: u32,
    /// The RM VA space the channel named (0: the client's only one on the GPU).
    pub(crate) vaspace: u32,
    /// GPU VA of the GPFIFO ring.
    pub(crate) gpfifo: u64,
    /// Entries of the ring.
    pub(crate) entries: u32,
    /// Its USERD, if the client gave one.
    pub(crate) userd: Option<MemoryWindow>,
    /// Its error notifier (`hObjectError`): where an error is reported, as the RM does.
    pub(crate) error_notifier: Option<MemoryWindow>,
    /// Its engine (`NV2080_ENGINE_TYPE_*`), reported with an error.
    pub(crate) engine_type: u32,
    /// The next GPFIFO entry to run.
    pub(crate) gp_get: u32,
    /// VA bits 63:40 of pushbuffer segments (SET_PB_SEGMENT_EXTENDED_BASE).
    pub(crate) extended_base: u32,
    /// The method decoder (a method's data may continue in the next segment).
    pub(crate) stream: MethodStream,
    /// What the subchannels are bound to and the engines' registers.
    pub(crate) methods: MethodState,
    /// Set while an acquire holds the channel.
    pub(crate) stall: Option<Stall>,
    /// Why the channel is in error, once it is: it runs nothing more.
    pub(crate) error: Option<&'static str>,
    /// Methods executed (ground truth for tests).
    pub(crate) methods_run: u64,
    /// Non-stall interrupts raised (ground truth; each one posts the events armed for it).
    pub(crate) interrupts: u64,
    /// The last reason it could not run, said once in trace mode.
    pub(crate) noted: Option<&'static str>,
}

/// The channels of every GPU (free slots are `None`). Locked before the RM store, the pages
/// and any VA space; no path holding those takes it.
pub(crate) struct Channels(Pin<KBox<Mutex<KVec<Option<Channel>>>>>);

impl Channels {
    /// No channels.
    pub(crate) fn new() -> Result<Self> {
        Ok(Channels(KBox::pin_init(
            kernel::new_mutex!(KVec::new(), "nvsim::State::channels"),
            GFP_KERNEL,
        )?))
    }

    /// Adds a channel record.
    pub(crate) fn add(&self, channel: Channel) -> Result {
        let mut list = self.0.lock();
        match list.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(channel),
            None => list.push(Some(channel), GFP_KERNEL)?,
        }
        Ok(())
    }

    /// The table, locked.
    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = KVec<Option<Channel>>> + '_ {
        self.0.lock()
    }
}
