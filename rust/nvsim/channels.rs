// SPDX-License-Identifier: GPL-2.0

//! The simulated GPU's channels as the engine sees them: where each channel's GPFIFO ring
//! and USERD are, how far it has run, its method state, and its place on the runlist (its
//! own and its channel group's GPFIFO_SCHEDULE, the group's timeslice, the engine time it
//! held). A record is made when the RM allocates a GPFIFO channel or a channel group and
//! dropped once the RM no longer has it (`engine.rs` checks on every pass).

use crate::nvsim_model::methods::MethodState;
use crate::nvsim_model::pushbuf::MethodStream;
pub(crate) use crate::nvsim_model::sched::OnRunlist;
use crate::nvsim_model::sched::{Turn, DEFAULT_TIMESLICE_US};
use crate::nvsim_model::util_samples::UtilSampler;
use kernel::prelude::*;
use kernel::sync::Mutex;

extern "C" {
    /// Monotonic nanoseconds: the simulated GPU's timer.
    fn nvsim_clock_mono_ns() -> u64;
}

/// Monotonic nanoseconds: the engine's clock.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: reads the kernel's monotonic clock.
    unsafe { nvsim_clock_mono_ns() }
}

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
/// or a compute launch waiting for or holding the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stall {
    /// The dword after the acquire or launch, in the segment of GPFIFO entry `gp_get`.
    pub(crate) next_dword: u32,
    /// The semaphore (GPU VA, payload, size, comparison), or the launch.
    pub(crate) acquire: crate::nvsim_model::methods::Action,
    /// For a launch: the engine nanoseconds it still needs (then its releases are made).
    pub(crate) left_ns: u64,
    /// For a launch: its QMD's releases, read when it was sent.
    pub(crate) releases: [Option<crate::nvsim_model::methods::Action>; 3],
    /// For a launch: the QMD its completion schedules (a graph's next node), if any.
    pub(crate) dependent: Option<u64>,
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
    /// Its channel group's handle (0: none).
    pub(crate) group: u32,
    /// The process that made its client (whose engine time it is).
    pub(crate) pid: u32,
    /// Engine nanoseconds its launches held the GPU.
    pub(crate) gpu_ns: u64,
    /// Launches completed.
    pub(crate) launches: u64,
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

/// A channel group's scheduling state (NVA06C controls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    /// Its client and handle.
    pub(crate) client: u32,
    /// Its handle.
    pub(crate) handle: u32,
    /// Its GPU (minor).
    pub(crate) gpu: u8,
    /// GPFIFO_SCHEDULE's `bEnable` (nvsim starts groups on the runlist, see `control.rs`).
    pub(crate) scheduled: OnRunlist,
    /// SET_TIMESLICE's value.
    pub(crate) timeslice_us: u64,
}

impl Group {
    /// A new group, on the runlist with the RM's default timeslice.
    pub(crate) fn new(client: u32, handle: u32, gpu: u8) -> Self {
        Group {
            client,
            handle,
            gpu,
            scheduled: OnRunlist::new(true),
            timeslice_us: DEFAULT_TIMESLICE_US,
        }
    }
}

/// A channel's own GPFIFO_SCHEDULE (`NVA06F`; nvsim starts channels on the runlist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChannelOnRunlist {
    /// The channel's client.
    pub(crate) client: u32,
    /// Its handle.
    pub(crate) handle: u32,
    /// On the runlist or off it, over time.
    pub(crate) scheduled: OnRunlist,
}

/// Most GPUs (the `gpus` parameter's bound).
pub(crate) const MAX_GPUS: usize = 16;

/// What the engine runs: the channels of every GPU (free slots are `None`).
pub(crate) struct Runlists {
    /// The channels.
    pub(crate) channels: KVec<Option<Channel>>,
}

/// How each GPU's compute engine is shared: the scheduling controls' state (groups, each
/// channel's own GPFIFO_SCHEDULE), whose turn it is, the engine clock. Under a lock of its
/// own, taken briefly by the engine and by the controls: a control never waits for an
/// engine pass (which can take long), and its change takes effect at the moment it was
/// made.
pub(crate) struct Schedule {
    /// The channel groups (free slots are `None`).
    pub(crate) groups: KVec<Option<Group>>,
    /// Each channel's own GPFIFO_SCHEDULE (free slots are `None`).
    pub(crate) channels: KVec<Option<ChannelOnRunlist>>,
    /// Each GPU's compute engine: whose turn it is.
    pub(crate) turns: [Turn; MAX_GPUS],
    /// Which channel group (client, handle) holds each GPU's engine, if one does.
    pub(crate) holder: [Option<(u32, u32)>; MAX_GPUS],
    /// Each GPU's engine clock: the monotonic ns its time was last handed out to.
    pub(crate) clock_ns: [u64; MAX_GPUS],
    /// Each GPU's engine ns with no launch to run.
    pub(crate) idle_ns: [u64; MAX_GPUS],
    /// Each GPU's utilisation samples (PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2), one per
    /// GPU up to [`MAX_GPUS`] (on the heap: the ring is too large for a stack).
    pub(crate) samplers: KVec<UtilSampler>,
}

impl Schedule {
    /// Group `handle` of `client`, if the RM made it.
    pub(crate) fn group(&self, client: u32, handle: u32) -> Option<&Group> {
        self.groups
            .iter()
            .flatten()
            .find(|g| g.client == client && g.handle == handle)
    }

    /// The same, to change.
    pub(crate) fn group_mut(&mut self, client: u32, handle: u32) -> Option<&mut Group> {
        self.groups
            .iter_mut()
            .flatten()
            .find(|g| g.client == client && g.handle == handle)
    }

    /// Channel `handle` of `client`'s own GPFIFO_SCHEDULE.
    pub(crate) fn channel(&self, client: u32, handle: u32) -> Option<&ChannelOnRunlist> {
        self.channels
            .iter()
            .flatten()
            .find(|c| c.client == client && c.handle == handle)
    }

    /// The same, to change.
    pub(crate) fn channel_mut(
        &mut self,
        client: u32,
        handle: u32,
    ) -> Option<&mut ChannelOnRunlist> {
        self.channels
            .iter_mut()
            .flatten()
            .find(|c| c.client == client && c.handle == handle)
    }
}

/// Puts `item` in a free slot of `list`, or at its end.
fn insert<T>(list: &mut KVec<Option<T>>, item: T) -> Result {
    match list.iter_mut().find(|slot| slot.is_none()) {
        Some(slot) => *slot = Some(item),
        None => list.push(Some(item), GFP_KERNEL)?,
    }
    Ok(())
}

/// The runlists, locked before the RM store, the pages and any VA space (no path holding
/// those takes it), and the schedule, locked after the runlists when both are.
pub(crate) struct Channels {
    runlists: Pin<KBox<Mutex<Runlists>>>,
    schedule: Pin<KBox<Mutex<Schedule>>>,
}

impl Channels {
    /// No channels.
    pub(crate) fn new() -> Result<Self> {
        let mut schedule = Schedule {
            groups: KVec::new(),
            channels: KVec::new(),
            turns: [Turn::default(); MAX_GPUS],
            holder: [None; MAX_GPUS],
            clock_ns: [0; MAX_GPUS],
            idle_ns: [0; MAX_GPUS],
            samplers: KVec::with_capacity(MAX_GPUS, GFP_KERNEL)?,
        };
        for _ in 0..MAX_GPUS {
            schedule.samplers.push(UtilSampler::new(), GFP_KERNEL)?;
        }
        Ok(Channels {
            runlists: KBox::pin_init(
                kernel::new_mutex!(
                    Runlists {
                        channels: KVec::new()
                    },
                    "nvsim::State::channels"
                ),
                GFP_KERNEL,
            )?,
            schedule: KBox::pin_init(
                kernel::new_mutex!(schedule, "nvsim::Channels::schedule"),
                GFP_KERNEL,
            )?,
        })
    }

    /// Adds a channel record, on the runlist.
    pub(crate) fn add(&self, channel: Channel) -> Result {
        let on = ChannelOnRunlist {
            client: channel.client,
            handle: channel.handle,
            scheduled: OnRunlist::new(true),
        };
        let mut runlists = self.runlists.lock();
        insert(&mut self.schedule.lock().channels, on)?;
        insert(&mut runlists.channels, channel)
    }

    /// Adds a channel group record.
    pub(crate) fn add_group(&self, group: Group) -> Result {
        insert(&mut self.schedule.lock().groups, group)
    }

    /// The runlists, locked.
    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = Runlists> + '_ {
        self.runlists.lock()
    }

    /// The schedule, locked (after the runlists, if they are locked too).
    pub(crate) fn schedule(&self) -> impl core::ops::DerefMut<Target = Schedule> + '_ {
        self.schedule.lock()
    }
}
