//! Metering and limits through fakegpu, in cgroups the tests make: memory.max refusing with
//! the driver's NV_ERR_NO_MEMORY (0x51) before the driver sees the call, a parent's limit
//! shared by its children, per-GPU limits, every path that frees memory returning
//! memory.current to zero in step with nvsim's ground truth, charges staying with the cgroup
//! that allocated, duplicates never charged twice, live limit changes, the channel limit, and
//! bad writes to the limit files.

use crate::cgroup_util::{move_to, write_file, TestCgroup};
use crate::dmem_cases;
use crate::sys::open_rw;
use crate::{ensure, Case};
use abi::nv_status::{NV_ERR_INSUFFICIENT_RESOURCES, NV_ERR_NO_MEMORY, NV_OK};
use nv_client::rm::{self, RmResult, VidHeap};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Every metering case.
pub const ALL: &[Case] = &[
    (
        "meter_limit_refuses_with_no_memory",
        meter_limit_refuses_with_no_memory,
    ),
    (
        "meter_parent_limit_shared_charges_stay",
        meter_parent_limit_shared_charges_stay,
    ),
    ("meter_per_gpu_limits", meter_per_gpu_limits),
    ("meter_every_uncharge_path", meter_every_uncharge_path),
    (
        "meter_killed_process_uncharged",
        meter_killed_process_uncharged,
    ),
    (
        "meter_duplicates_never_charged_twice",
        meter_duplicates_never_charged_twice,
    ),
    ("meter_live_limit_change", meter_live_limit_change),
    (
        "alloc_racing_client_free_keeps_no_charge",
        alloc_racing_client_free_keeps_no_charge,
    ),
    (
        "freeing_a_device_uncharges_memory_below_its_subdevice",
        freeing_a_device_uncharges_memory_below_its_subdevice,
    ),
    (
        "driver_failing_after_allocating_leaves_nothing_unmetered",
        driver_failing_after_allocating_leaves_nothing_unmetered,
    ),
    ("meter_channel_limit", meter_channel_limit),
    (
        "meter_bad_limit_writes_refused",
        meter_bad_limit_writes_refused,
    ),
    (
        "meter_fb_info_shows_the_quota",
        meter_fb_info_shows_the_quota,
    ),
    (
        "meter_racing_tenant_cannot_pass_limit",
        meter_racing_tenant_cannot_pass_limit,
    ),
    ("meter_uvm_policy", meter_uvm_policy),
    (
        "meter_os_descriptors_on_a_sealed_page",
        meter_os_descriptors_on_a_sealed_page,
    ),
    ("meter_drm_dumb_buffers", meter_drm_dumb_buffers),
    (
        "meter_drm_submissions_rate_limited",
        meter_drm_submissions_rate_limited,
    ),
    ("meter_drm_virtio_resources", meter_drm_virtio_resources),
    (
        "meter_fd_passed_to_another_cgroup",
        meter_fd_passed_to_another_cgroup,
    ),
];

const MIB: u64 = 1 << 20;
pub(crate) const DEVICE: u32 = 0xd0;
pub(crate) const SUBDEVICE: u32 = 0x5d0;
const VIDMEM: u32 = 0x40;

/// A client with a device and subdevice on GPU `gpu`, through fakegpu's nodes.
pub struct Session {
    pub ctl: OwnedFd,
    _gpu: OwnedFd,
    pub client: u32,
}

impl Session {
    pub fn open(gpu: u32) -> Result<Self, String> {
        let ctl = open_rw("/dev/fakegpuctl").map_err(|e| format!("open ctl: {e}"))?;
        let gpu_file =
            open_rw(&format!("/dev/fakegpu{gpu}")).map_err(|e| format!("open gpu{gpu}: {e}"))?;
        let client = rm::alloc_client(&ctl)
            .ok()
            .map_err(|e| format!("client: {e}"))?;
        rm::alloc_device(&ctl, client, DEVICE, gpu)
            .ok()
            .map_err(|e| format!("device: {e}"))?;
        rm::alloc(&ctl, client, DEVICE, SUBDEVICE, 0x2080, None)
            .ok()
            .map_err(|e| format!("subdevice: {e}"))?;
        Ok(Session {
            ctl,
            _gpu: gpu_file,
            client,
        })
    }

    /// RM_ALLOC of `size` bytes of video memory as `handle`: the RM status.
    pub(crate) fn alloc(&self, handle: u32, size: u64) -> u32 {
        rm::alloc_memory(&self.ctl, self.client, DEVICE, handle, VIDMEM, size).status()
    }

    pub(crate) fn free(&self, handle: u32) -> Result<(), String> {
        rm::free(&self.ctl, self.client, DEVICE, handle)
            .ok()
            .map_err(|e| format!("free {handle:#x}: {e}"))
    }
}

/// The value of `gpuN` in a per-GPU file of `cg`.
pub(crate) fn per_gpu(cg: &TestCgroup, file: &str, gpu: u32) -> Result<u64, String> {
    let text = cg.get(file)?;
    let key = format!("gpu{gpu}");
    text.lines()
        .find_map(|l| l.strip_prefix(&key).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} value in {file}: {text:?}"))
}

fn current(cg: &TestCgroup, gpu: u32) -> Result<u64, String> {
    per_gpu(cg, "memory.current", gpu)
}

/// Waits (up to 5 s) for memory.current of GPU `gpu` to read `want`: the driver frees a
/// closed or killed process's clients when its files are released, which can follow the
/// close by a little.
fn settles(cg: &TestCgroup, gpu: u32, want: u64) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        let now = current(cg, gpu)?;
        if now == want {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(5) {
            return Err(format!("memory.current gpu{gpu} is {now}, want {want}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fb_used(gpu: u32) -> Result<u64, String> {
    rm::debugfs(&format!("gpu{gpu}"), "fb_used")
}

fn expect_status(what: &str, got: u32, want: u32) -> Result<(), String> {
    ensure(got == want, || {
        format!("{what}: status {got:#x}, want {want:#x}")
    })
}

fn meter_limit_refuses_with_no_memory() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-m64")?;
    cg.set("memory.max", "gpu0 64M\n")?;
    let max = cg.get("memory.max")?;
    ensure(max == "gpu0 67108864\ngpu1 max\n", || {
        format!("memory.max reads {max:?}")
    })?;
    cg.enter()?;
    let base = fb_used(0)?;
    let s = Session::open(0)?;
    expect_status("48 MiB", s.alloc(0x100, 48 * MIB), NV_OK)?;
    ensure(current(&cg, 0)? == 48 * MIB, || "48 MiB not charged".into())?;
    ensure(fb_used(0)? == base + 48 * MIB, || "nvsim disagrees".into())?;

    expect_status("32 more MiB", s.alloc(0x101, 32 * MIB), NV_ERR_NO_MEMORY)?;
    ensure(current(&cg, 0)? == 48 * MIB, || {
        "a refused allocation was charged".into()
    })?;
    ensure(fb_used(0)? == base + 48 * MIB, || {
        "the refused allocation reached the driver".into()
    })?;
    let events = cg.get("memory.events")?;
    ensure(events.lines().any(|l| l == "gpu0 max=1"), || {
        format!("memory.events reads {events:?}")
    })?;

    s.free(0x100)?;
    ensure(current(&cg, 0)? == 0, || "free did not uncharge".into())?;
    expect_status("32 MiB after the free", s.alloc(0x101, 32 * MIB), NV_OK)?;
    ensure(current(&cg, 0)? == 32 * MIB, || "32 MiB not charged".into())?;
    ensure(per_gpu(&cg, "memory.peak", 0)? == 48 * MIB, || {
        "peak is not 48 MiB".into()
    })?;
    // Just under and just at the limit: 32 + 32 fits exactly, one page more does not.
    expect_status("up to the limit", s.alloc(0x102, 32 * MIB), NV_OK)?;
    expect_status("one page past it", s.alloc(0x103, 4096), NV_ERR_NO_MEMORY)?;
    drop(s);
    settles(&cg, 0, 0)?;
    ensure(fb_used(0)? == base, || "nvsim still holds memory".into())?;
    move_to("/")
}

fn meter_parent_limit_shared_charges_stay() -> Result<(), String> {
    let parent = TestCgroup::create("/fakegpu-team")?;
    parent.set("memory.max", "gpu0 64M")?;
    let a = TestCgroup::create("/fakegpu-team/a")?;
    let b = TestCgroup::create("/fakegpu-team/b")?;
    a.enter()?;
    let s = Session::open(0)?;
    expect_status("40 MiB in a", s.alloc(0x100, 40 * MIB), NV_OK)?;
    // The same process, moved: its old charge stays with a.
    b.enter()?;
    expect_status("40 MiB in b", s.alloc(0x101, 40 * MIB), NV_ERR_NO_MEMORY)?;
    let (ca, cb, cp) = (current(&a, 0)?, current(&b, 0)?, current(&parent, 0)?);
    ensure((ca, cb, cp) == (40 * MIB, 0, 40 * MIB), || {
        format!("a {ca}, b {cb}, parent {cp}")
    })?;
    ensure(parent.get("memory.events")?.contains("gpu0 max=1"), || {
        "the refusal is not counted at the parent".into()
    })?;
    ensure(b.get("memory.events")?.contains("gpu0 max=0"), || {
        "the refusal is counted at the child".into()
    })?;
    // Freed from b, uncharged from a.
    s.free(0x100)?;
    ensure(current(&a, 0)? == 0 && current(&parent, 0)? == 0, || {
        "freeing from another cgroup did not uncharge the allocator's".into()
    })?;
    expect_status(
        "40 MiB in b after the free",
        s.alloc(0x101, 40 * MIB),
        NV_OK,
    )?;
    ensure(current(&b, 0)? == 40 * MIB && current(&a, 0)? == 0, || {
        "the new allocation went to the wrong cgroup".into()
    })?;
    drop(s);
    settles(&parent, 0, 0)
}

fn meter_per_gpu_limits() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-pergpu")?;
    cg.set("memory.max", "gpu0 16M gpu1 max")?;
    cg.enter()?;
    let s0 = Session::open(0)?;
    let s1 = Session::open(1)?;
    expect_status(
        "32 MiB on GPU 0",
        s0.alloc(0x100, 32 * MIB),
        NV_ERR_NO_MEMORY,
    )?;
    expect_status("32 MiB on GPU 1", s1.alloc(0x100, 32 * MIB), NV_OK)?;
    let (c0, c1) = (current(&cg, 0)?, current(&cg, 1)?);
    ensure((c0, c1) == (0, 32 * MIB), || {
        format!("gpu0 {c0}, gpu1 {c1}")
    })?;
    drop((s0, s1));
    settles(&cg, 1, 0)
}

fn meter_every_uncharge_path() -> Result<(), String> {
    dmem_cases::enable_if_present()?;
    let cg = TestCgroup::create("/fakegpu-paths")?;
    cg.enter()?;
    let base = fb_used(0)?;
    let s = Session::open(0)?;
    let check = |what: &str, want: u64| -> Result<(), String> {
        let (c, used) = (current(&cg, 0)?, fb_used(0)? - base);
        ensure(c == want && used == want, || {
            format!("after {what}: charged {c}, nvsim holds {used}, want {want}")
        })?;
        dmem_cases::agrees(&cg, 0, want).map_err(|e| format!("after {what}: {e}"))
    };
    expect_status("alloc", s.alloc(0x100, 2 * MIB), NV_OK)?;
    check("alloc", 2 * MIB)?;
    s.free(0x100)?;
    check("RM_FREE of the memory", 0)?;

    // Freeing the parent (the device) frees the memory under it.
    expect_status("alloc", s.alloc(0x101, 3 * MIB), NV_OK)?;
    expect_status("alloc", s.alloc(0x102, 5 * MIB), NV_OK)?;
    check("two allocations", 8 * MIB)?;
    rm::free(&s.ctl, s.client, s.client, DEVICE)
        .ok()
        .map_err(|e| format!("free device: {e}"))?;
    check("RM_FREE of the device", 0)?;

    // Freeing the client frees everything.
    rm::alloc_device(&s.ctl, s.client, DEVICE, 0)
        .ok()
        .map_err(|e| format!("device again: {e}"))?;
    expect_status("alloc", s.alloc(0x103, MIB), NV_OK)?;
    // VID_HEAP_CONTROL allocations are metered too.
    let vh = rm::vid_heap(
        &s.ctl,
        s.client,
        DEVICE,
        VidHeap {
            function: 2,
            memory: 0x104,
            size: 2 * MIB,
            ..Default::default()
        },
    );
    ensure(matches!(vh, RmResult::Status(0, _)), || {
        format!("VID_HEAP alloc: {vh:?}")
    })?;
    check("RM_ALLOC and VID_HEAP allocations", 3 * MIB)?;
    let vf = rm::vid_heap(
        &s.ctl,
        s.client,
        DEVICE,
        VidHeap {
            function: 3,
            memory: 0x104,
            ..Default::default()
        },
    );
    ensure(matches!(vf, RmResult::Status(0, _)), || {
        format!("VID_HEAP free: {vf:?}")
    })?;
    check("VID_HEAP free", MIB)?;
    rm::free(&s.ctl, s.client, s.client, s.client)
        .ok()
        .map_err(|e| format!("free client: {e}"))?;
    check("RM_FREE of the client", 0)?;
    drop(s);

    // Closing the nvidiactl file frees its clients.
    let s = Session::open(0)?;
    expect_status("alloc", s.alloc(0x100, 4 * MIB), NV_OK)?;
    check("a new session", 4 * MIB)?;
    drop(s);
    settles(&cg, 0, 0)?;
    check("close", 0)?;
    move_to("/")
}

fn meter_killed_process_uncharged() -> Result<(), String> {
    dmem_cases::enable_if_present()?;
    let cg = TestCgroup::create("/fakegpu-kill")?;
    cg.enter()?;
    let base = fb_used(0)?;
    let mut pipe = [0i32; 2];
    // SAFETY: room for two fds.
    ensure(unsafe { libc::pipe(pipe.as_mut_ptr()) } == 0, || {
        "pipe".into()
    })?;
    // SAFETY: the test process is single-threaded; the child only allocates and sleeps.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = Session::open(0).is_ok_and(|s| {
            s.alloc(0x100, 16 * MIB) == NV_OK && {
                // SAFETY: writes one byte to the pipe; then waits to be killed, holding `s`.
                unsafe { libc::write(pipe[1], b"x".as_ptr().cast(), 1) };
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        });
        // SAFETY: leaves the child.
        unsafe { libc::_exit(i32::from(!ok)) };
    }
    let mut byte = 0u8;
    // SAFETY: reads one byte from our pipe.
    let n = unsafe { libc::read(pipe[0], (&raw mut byte).cast(), 1) };
    let held = current(&cg, 0);
    let dmem_held = dmem_cases::agrees(&cg, 0, 16 * MIB);
    // SAFETY: kills and reaps our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    ensure(n == 1, || "the child did not allocate".into())?;
    ensure(held? == 16 * MIB, || {
        "the child's memory was not charged".into()
    })?;
    dmem_held?;
    settles(&cg, 0, 0)?;
    dmem_cases::agrees(&cg, 0, 0)?;
    ensure(fb_used(0)? == base, || {
        "nvsim still holds the killed child's memory".into()
    })?;
    move_to("/")
}

fn meter_duplicates_never_charged_twice() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-dup")?;
    cg.set("memory.max", "gpu0 12M")?;
    cg.enter()?;
    let s = Session::open(0)?;
    let other = Session::open(0)?;
    expect_status("8 MiB", s.alloc(0x100, 8 * MIB), NV_OK)?;
    let dup = rm::dup(&other.ctl, other.client, DEVICE, 0x200, s.client, 0x100)
        .ok()
        .map_err(|e| format!("dup: {e}"))?;
    ensure(current(&cg, 0)? == 8 * MIB, || {
        "the duplicate was charged".into()
    })?;
    // The memory lives on in the duplicate: still charged after the original's free.
    s.free(0x100)?;
    ensure(current(&cg, 0)? == 8 * MIB, || {
        "memory held by a duplicate was uncharged".into()
    })?;
    expect_status("8 MiB more", s.alloc(0x101, 8 * MIB), NV_ERR_NO_MEMORY)?;
    other.free(dup)?;
    ensure(current(&cg, 0)? == 0, || {
        "the last handle's free did not uncharge".into()
    })?;
    drop((s, other));
    move_to("/")
}

fn meter_live_limit_change() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-live")?;
    cg.enter()?;
    let s = Session::open(0)?;
    expect_status("40 MiB, no limit", s.alloc(0x100, 40 * MIB), NV_OK)?;
    cg.set("memory.max", "gpu0 16M")?;
    ensure(current(&cg, 0)? == 40 * MIB, || {
        "lowering the limit changed the charge".into()
    })?;
    expect_status(
        "a page over the lowered limit",
        s.alloc(0x101, 4096),
        NV_ERR_NO_MEMORY,
    )?;
    s.free(0x100)?;
    expect_status("8 MiB under it", s.alloc(0x101, 8 * MIB), NV_OK)?;
    cg.set("memory.max", "max")?;
    expect_status("40 MiB, limit lifted", s.alloc(0x102, 40 * MIB), NV_OK)?;
    drop(s);
    settles(&cg, 0, 0)?;
    move_to("/")
}

fn meter_channel_limit() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-chan")?;
    cg.set("channels.max", "gpu0 2")?;
    cg.enter()?;
    let s = Session::open(0)?;
    rm::alloc(&s.ctl, s.client, DEVICE, 0x300, 0xa06c, None)
        .ok()
        .map_err(|e| format!("channel group: {e}"))?;
    let statuses: Vec<u32> = (0..3)
        .map(|i| {
            let mut channel = [0u8; abi::nv_rm::channel_alloc_params::SIZE];
            rm::alloc(
                &s.ctl,
                s.client,
                0x300,
                0x301 + i,
                0xc86f,
                Some(&mut channel),
            )
            .status()
        })
        .collect();
    ensure(
        statuses == [NV_OK, NV_OK, NV_ERR_INSUFFICIENT_RESOURCES],
        || format!("three channels with a limit of 2: {statuses:x?}"),
    )?;
    ensure(per_gpu(&cg, "channels.current", 0)? == 2, || {
        "channels.current is not 2".into()
    })?;
    ensure(per_gpu(&cg, "channel_groups.current", 0)? == 1, || {
        "channel_groups.current is not 1".into()
    })?;
    rm::free(&s.ctl, s.client, s.client, 0x301)
        .ok()
        .map_err(|e| format!("free channel: {e}"))?;
    ensure(per_gpu(&cg, "channels.current", 0)? == 1, || {
        "freeing a channel did not count".into()
    })?;
    drop(s);
    let t0 = Instant::now();
    while per_gpu(&cg, "channels.current", 0)? != 0 {
        if t0.elapsed() > Duration::from_secs(5) {
            return Err("channels still counted after close".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    move_to("/")
}

fn meter_bad_limit_writes_refused() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-badmax")?;
    cg.set("memory.max", "gpu0 1G")?;
    cg.set("channels.max", "gpu1 3")?;
    let (mem, chan) = (cg.get("memory.max")?, cg.get("channels.max")?);
    for bad in [
        "\n",
        "gpu0",
        "gpu9 1G",
        "gpu0 -1",
        "gpu0 1.5G",
        "gpu0 1GB",
        "1G 2G",
        "garbage",
        "gpu0 99999999999T",
        "gpu0 1G gpu1",
    ] {
        let r = write_file(&cg.entry_file("memory.max"), bad);
        ensure(r == Err(libc::EINVAL), || {
            format!("memory.max {bad:?}: {r:?}, want EINVAL")
        })?;
    }
    for bad in ["gpu0 1K", "gpu0 x", "-1", "gpu2 1"] {
        let r = write_file(&cg.entry_file("channels.max"), bad);
        ensure(r == Err(libc::EINVAL), || {
            format!("channels.max {bad:?}: {r:?}, want EINVAL")
        })?;
    }
    ensure(
        cg.get("memory.max")? == mem && cg.get("channels.max")? == chan,
        || "a bad write changed a limit".into(),
    )?;
    for ro in [
        "memory.current",
        "memory.peak",
        "memory.events",
        "channels.current",
    ] {
        let r = write_file(&cg.entry_file(ro), "0");
        ensure(r.is_err(), || format!("{ro} accepted a write"))?;
    }
    Ok(())
}

fn meter_fb_info_shows_the_quota() -> Result<(), String> {
    // Both versions of the call must agree (the first has its list elsewhere in memory).
    let fb = |s: &Session| {
        let v2 = rm::fb_total_free_kib(&s.ctl, s.client, SUBDEVICE, &abi::nv_family::R535)
            .ok()
            .map(|(t, f)| (u64::from(t) << 10, u64::from(f) << 10))
            .map_err(|e| format!("FB_GET_INFO_V2: {e}"))?;
        let v1 = rm::fb_total_free_kib_v1(&s.ctl, s.client, SUBDEVICE)
            .ok()
            .map(|(t, f)| (u64::from(t) << 10, u64::from(f) << 10))
            .map_err(|e| format!("FB_GET_INFO: {e}"))?;
        ensure(v1 == v2, || format!("FB_GET_INFO {v1:?}, V2 {v2:?}"))?;
        Ok::<_, String>(v2)
    };
    let cg = TestCgroup::create("/fakegpu-fb")?;
    cg.enter()?;
    let s = Session::open(0)?;
    let (total, _) = fb(&s)?;
    ensure(total == 4096 * MIB, || {
        format!("total {total} without a limit")
    })?;
    cg.set("memory.max", "gpu0 2G")?;
    let (total, free) = fb(&s)?;
    ensure(total == 2048 * MIB && free == 2048 * MIB, || {
        format!("with a 2 GiB limit: total {total}, free {free}")
    })?;
    expect_status("512 MiB", s.alloc(0x100, 512 * MIB), NV_OK)?;
    let (total, free) = fb(&s)?;
    ensure(total == 2048 * MIB && free == 1536 * MIB, || {
        format!("after 512 MiB: total {total}, free {free}")
    })?;
    drop(s);
    settles(&cg, 0, 0)?;
    move_to("/")
}

/// The parameters a racing tenant shares between its threads: an NVOS21 and the memory
/// allocation parameters it points to, an NVOS00 for frees.
#[repr(C)]
struct Shared {
    alloc: abi::nv_rm::Nvos21,
    params: [u8; 120],
    free: abi::nv_rm::Nvos00,
}

/// Writes `value` at `addr` while other threads make calls on the same memory.
fn poke<T>(addr: usize, value: T) {
    // SAFETY: `addr` is a field of the `Shared` that outlives the racing threads; the race
    // with the driver's copies is the point of the test (plain data, no references held).
    unsafe { std::ptr::write_volatile(addr as *mut T, value) };
}

/// Threads rewrite every field the driver reads (class, size, handles, parent) while one
/// thread allocates and frees in a loop: fakegpu's charge must follow what the driver did,
/// so the driver never holds more than the limit for the cgroup, and everything returns to
/// zero at the end.
fn meter_racing_tenant_cannot_pass_limit() -> Result<(), String> {
    use abi::ioc::iowr;
    use abi::nv_frontend::NV_IOCTL_MAGIC;
    use abi::nv_rm::{esc, Nvos00, Nvos21};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const LIMIT: u64 = 64 * MIB;
    const CALLS: u32 = 600;
    let cg = TestCgroup::create("/fakegpu-race")?;
    cg.set("memory.max", "gpu0 64M")?;
    cg.enter()?;
    let base = fb_used(0)?;
    let s = Session::open(0)?;
    let mut shared = Box::new(Shared {
        alloc: Nvos21::default(),
        params: [0; 120],
        free: Nvos00::default(),
    });
    let base_addr = &raw mut *shared as usize;
    let alloc_at = base_addr + std::mem::offset_of!(Shared, alloc);
    let params_at = base_addr + std::mem::offset_of!(Shared, params);
    let free_at = base_addr + std::mem::offset_of!(Shared, free);
    let size_at = params_at + 64;
    let class_at = alloc_at + std::mem::offset_of!(Nvos21, h_class);
    let new_at = alloc_at + std::mem::offset_of!(Nvos21, h_object_new);
    let parent_at = alloc_at + std::mem::offset_of!(Nvos21, h_object_parent);
    let old_at = free_at + std::mem::offset_of!(Nvos00, h_object_old);
    let stop = AtomicBool::new(false);
    let worst = AtomicU64::new(0);
    let (ctl, client) = (s.ctl.as_raw_fd(), s.client);
    let mut made = 0u32;
    let mut refused = 0u32;
    std::thread::scope(|scope| {
        // Flips the class between video memory and uncharged classes, the size between a
        // page and 512 MiB, the handle and the parent.
        scope.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                poke(class_at, [0x40u32, 0x70, 0x3e, 0x2080][(i % 4) as usize]);
                poke(
                    size_at,
                    if i.is_multiple_of(3) {
                        512 * MIB
                    } else {
                        4096u64
                    },
                );
                poke(
                    parent_at,
                    if i.is_multiple_of(5) {
                        SUBDEVICE
                    } else {
                        DEVICE
                    },
                );
                i += 1;
            }
        });
        scope.spawn(|| {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                poke(new_at, 0x1000 + (i % 64));
                poke(old_at, 0x1000 + (i % 64));
                i = i.wrapping_add(7);
                std::thread::yield_now();
            }
        });
        // The driver's ground truth never shows more than the limit.
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(used) = fb_used(0) {
                    worst.fetch_max(used.saturating_sub(base), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        for i in 0..CALLS {
            let handle = 0x1000 + (i % 64);
            poke(
                alloc_at,
                Nvos21 {
                    h_root: client,
                    h_object_parent: DEVICE,
                    h_object_new: handle,
                    h_class: 0x40,
                    p_alloc_parms: params_at as u64,
                    params_size: 120,
                    status: 0,
                },
            );
            poke(size_at, 4096u64 << (i % 12));
            // SAFETY: the parameters live in `shared` for the whole loop.
            let r = unsafe {
                libc::ioctl(
                    ctl,
                    iowr::<Nvos21>(NV_IOCTL_MAGIC, esc::RM_ALLOC) as _,
                    alloc_at,
                )
            };
            // SAFETY: as above.
            let status = unsafe {
                std::ptr::read_volatile(&raw const (*(alloc_at as *const Nvos21)).status)
            };
            match (r, status) {
                (0, 0) => made += 1,
                (0, 0x51) => refused += 1,
                _ => {}
            }
            if i.is_multiple_of(3) {
                poke(
                    free_at,
                    Nvos00 {
                        h_root: client,
                        h_object_parent: DEVICE,
                        h_object_old: handle,
                        status: 0,
                    },
                );
                // SAFETY: as above.
                unsafe {
                    libc::ioctl(
                        ctl,
                        iowr::<Nvos00>(NV_IOCTL_MAGIC, esc::RM_FREE) as _,
                        free_at,
                    )
                };
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let worst = worst.into_inner();
    let held = current(&cg, 0)?;
    let truth = fb_used(0)? - base;
    println!(
        "FIGURE racing tenant: {CALLS} allocations ({made} made, {refused} refused at the limit), \
         worst driver-side use {} MiB of a {} MiB limit; at the end {} MiB charged, {} MiB held",
        worst / MIB,
        LIMIT / MIB,
        held / MIB,
        truth / MIB
    );
    ensure(worst <= LIMIT, || {
        format!("the driver held {worst} bytes for a cgroup limited to {LIMIT}")
    })?;
    ensure(truth <= held, || {
        format!("the driver holds {truth} bytes but only {held} are charged")
    })?;
    drop(shared);
    drop(s);
    settles(&cg, 0, 0)?;
    ensure(fb_used(0)? == base, || {
        "nvsim still holds memory after close".into()
    })?;
    move_to("/")
}

/// mmap on the UVM node (how managed memory is mapped): forwarded under `allow` (nvsim has
/// no UVM mmap, so ENODEV, as directly), refused with EPERM under `deny`.
fn meter_uvm_policy() -> Result<(), String> {
    use abi::nv_uvm::UvmInitializeParams;
    use std::os::fd::AsRawFd;
    let cg = TestCgroup::create("/fakegpu-uvm")?;
    cg.enter()?;
    let uvm = open_rw("/dev/fakegpu-uvm").map_err(|e| format!("open uvm: {e}"))?;
    let mut init = UvmInitializeParams::default();
    crate::sys::ioctl_raw(uvm.as_raw_fd(), 0x3000_0001, (&raw mut init) as usize)
        .map_err(|e| format!("UVM_INITIALIZE: errno {e}"))?;
    let map = || {
        // SAFETY: asks for a new shared mapping of the UVM file; unmapped if made.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * MIB as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                uvm.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return std::io::Error::last_os_error().raw_os_error();
        }
        // SAFETY: unmaps what was just mapped.
        unsafe { libc::munmap(addr, 2 * MIB as usize) };
        Some(0)
    };
    ensure(cg.get("uvm.policy")? == "allow\n", || {
        "uvm.policy is not allow by default".into()
    })?;
    let allowed = map();
    // Allowed, the mmap reaches nvsim, which maps its UVM file only at an offset equal to
    // the address (as UVM): EINVAL for offset 0 at a kernel-chosen address.
    ensure(allowed == Some(libc::EINVAL), || {
        format!("mmap under allow: {allowed:?}, want nvsim's EINVAL")
    })?;
    cg.set("uvm.policy", "deny\n")?;
    let denied = map();
    ensure(denied == Some(libc::EPERM), || {
        format!("mmap under deny: {denied:?}")
    })?;
    let r = write_file(&cg.entry_file("uvm.policy"), "maybe");
    ensure(r == Err(libc::EINVAL), || {
        format!("uvm.policy maybe: {r:?}")
    })?;
    ensure(cg.get("uvm.policy")? == "deny\n", || {
        "a bad write changed uvm.policy".into()
    })?;
    move_to("/")
}

/// Pinned user memory (an OS descriptor, 0x71), by RM_ALLOC and by RM_ALLOC_MEMORY as libcuda
/// makes it, under a GPU memory limit: the driver pins the caller's own pages, so fakegpu
/// makes these calls in the caller's address space, on its sealed page there, and counts
/// them as pinned memory. The tenant can read that page (the copy the driver saw) but
/// neither write, unmap, remap nor reprotect it. RM_ALLOC_MEMORY of system memory is
/// counted too, one of a class fakegpu does not meter there is refused, and a dma-buf export
/// (memory that would outlive its free) is still refused under a limit.
fn meter_os_descriptors_on_a_sealed_page() -> Result<(), String> {
    use abi::nv_status::{NV_ERR_INVALID_CLASS, NV_ERR_NOT_SUPPORTED};
    let cg = TestCgroup::create("/fakegpu-pin")?;
    cg.set("memory.max", "gpu0 1G")?;
    cg.enter()?;
    let s = Session::open(0)?;
    let user = crate::sys::Mapping::anonymous(65536).map_err(|e| format!("mmap: {e}"))?;
    let mut osd = [0u8; 40];
    osd[16..24].copy_from_slice(&(user.addr() as u64).to_le_bytes());
    osd[24..32].copy_from_slice(&65535u64.to_le_bytes());
    let pinned = |cg: &TestCgroup| cg.single("pinned.current");
    let r = rm::alloc(&s.ctl, s.client, DEVICE, 0x400, 0x71, Some(&mut osd)).status();
    expect_status("RM_ALLOC of 0x71 under a limit", r, NV_OK)?;
    ensure(pinned(&cg)? == 65536, || {
        format!(
            "0x71 of 64 KiB: pinned.current {}",
            pinned(&cg).unwrap_or(0)
        )
    })?;
    s.free(0x400)?;
    ensure(pinned(&cg)? == 0, || "0x71 freed, still counted".into())?;

    // RM_ALLOC_MEMORY, on the GPU file linked to the client's nvidiactl.
    crate::nv_cases::register_fd(&s._gpu, std::os::fd::AsRawFd::as_raw_fd(&s.ctl))
        .map_err(|e| format!("REGISTER_FD: errno {e}"))?;
    let alloc_memory = |handle: u32, class: u32, flags: u32, at: u64, limit: u64| {
        let mut p = [0u8; 56];
        p[0..4].copy_from_slice(&s.client.to_le_bytes());
        p[4..8].copy_from_slice(&DEVICE.to_le_bytes());
        p[8..12].copy_from_slice(&handle.to_le_bytes());
        p[12..16].copy_from_slice(&class.to_le_bytes());
        p[16..20].copy_from_slice(&flags.to_le_bytes());
        p[24..32].copy_from_slice(&at.to_le_bytes());
        p[32..40].copy_from_slice(&limit.to_le_bytes());
        p[48..52].copy_from_slice(&(-1i32).to_le_bytes());
        crate::nv_cases::escape_bytes(&s._gpu, abi::nv_rm::esc::RM_ALLOC_MEMORY, &mut p)
            .map_err(|e| format!("RM_ALLOC_MEMORY of class {class:#x}: errno {e}"))?;
        Ok::<u32, String>(u32::from_le_bytes([p[40], p[41], p[42], p[43]]))
    };
    // As libcuda: PCI memory the RM does not map, cached.
    let os_descriptor_flags = 1 << 30 | 1 << 12;
    let r = alloc_memory(0x401, 0x71, os_descriptor_flags, user.addr() as u64, 65535)?;
    expect_status("RM_ALLOC_MEMORY of 0x71 under a limit", r, NV_OK)?;
    // The handle must be the caller's own: the answer on the sealed page is not trusted.
    let r = alloc_memory(0, 0x71, os_descriptor_flags, user.addr() as u64, 65535)?;
    expect_status("RM_ALLOC_MEMORY of 0x71 without a handle", r, 0x33)?;
    let r = alloc_memory(0x402, 0x3e, 0, 0, 8191)?;
    expect_status("RM_ALLOC_MEMORY of system memory", r, NV_OK)?;
    ensure(pinned(&cg)? == 65536 + 8192, || {
        format!(
            "RM_ALLOC_MEMORY of 64 + 8 KiB: pinned.current {}",
            pinned(&cg).unwrap_or(0)
        )
    })?;
    let r = alloc_memory(0x403, 0x3f, 0, 0, 8191)?;
    expect_status("RM_ALLOC_MEMORY of class 0x3f", r, NV_ERR_INVALID_CLASS)?;
    sealed_page_resists_the_tenant(0x71)?;
    s.free(0x401)?;
    s.free(0x402)?;
    ensure(pinned(&cg)? == 0, || {
        "RM_ALLOC_MEMORY freed, still counted".into()
    })?;

    // A dma-buf keeps memory alive past its free, out of the meter's sight.
    expect_status("video memory", s.alloc(0x402, MIB), NV_OK)?;
    let mut export = vec![0u8; 2600];
    export[0..4].copy_from_slice(&(-1i32).to_ne_bytes());
    export[4..8].copy_from_slice(&s.client.to_ne_bytes());
    export[8..12].copy_from_slice(&1u32.to_ne_bytes());
    export[12..16].copy_from_slice(&1u32.to_ne_bytes());
    export[24..32].copy_from_slice(&MIB.to_ne_bytes());
    export[32..36].copy_from_slice(&0x402u32.to_ne_bytes());
    export[1568..1576].copy_from_slice(&MIB.to_ne_bytes());
    crate::sys::ioctl_raw(
        std::os::fd::AsRawFd::as_raw_fd(&s.ctl),
        abi::ioc::ioc(
            abi::ioc::IOC_READ | abi::ioc::IOC_WRITE,
            abi::nv_frontend::NV_IOCTL_MAGIC,
            abi::nv_frontend::esc::EXPORT_TO_DMABUF_FD,
            2600,
        ),
        export.as_mut_ptr() as usize,
    )
    .map_err(|e| format!("EXPORT_TO_DMABUF_FD: errno {e}"))?;
    let status = u32::from_ne_bytes([export[2592], export[2593], export[2594], export[2595]]);
    expect_status("dma-buf export under a limit", status, NV_ERR_NOT_SUPPORTED)?;
    drop(s);
    move_to("/")
}

/// The calling process's sealed call page (`[fakegpu-call]` in its maps) holds the last OS
/// descriptor call fakegpu made for it (class `class` at offset 12), and refuses the
/// process: munmap, mprotect and MAP_FIXED over it fail with EPERM, a kernel write for the
/// process (read() into it) with EFAULT, and a write through /proc/self/mem with EIO.
fn sealed_page_resists_the_tenant(class: u32) -> Result<(), String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let line = maps
        .lines()
        .find(|l| l.ends_with("[fakegpu-call]"))
        .ok_or_else(|| format!("no [fakegpu-call] mapping in:\n{maps}"))?;
    let addr = line
        .split('-')
        .next()
        .and_then(|a| usize::from_str_radix(a, 16).ok())
        .ok_or_else(|| format!("maps line {line}"))?;
    ensure(line.contains(" r") && line.contains("s "), || {
        format!("sealed page mapped as {line}")
    })?;
    // SAFETY: the page is mapped readable (the maps line above) and stays mapped: it is sealed.
    let seen = unsafe { std::ptr::read_volatile((addr + 12) as *const u32) };
    ensure(seen == class, || {
        format!("the sealed page holds class {seen:#x}, want {class:#x}")
    })?;
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: each call fails (the point of the test); none touches memory of ours.
    let unmapped = unsafe { libc::munmap(addr as *mut libc::c_void, 4096) };
    ensure(unmapped == -1 && errno() == libc::EPERM, || {
        format!("munmap of the sealed page: {unmapped}, errno {}", errno())
    })?;
    // SAFETY: as above.
    let reprotected = unsafe { libc::mprotect(addr as *mut libc::c_void, 4096, libc::PROT_READ) };
    ensure(reprotected == -1 && errno() == libc::EPERM, || {
        format!(
            "mprotect of the sealed page: {reprotected}, errno {}",
            errno()
        )
    })?;
    // SAFETY: as above.
    let replaced = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure(
        replaced == libc::MAP_FAILED && errno() == libc::EPERM,
        || {
            format!(
                "MAP_FIXED over the sealed page: {replaced:?}, errno {}",
                errno()
            )
        },
    )?;
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two fds.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: errno {}", errno()));
    }
    // SAFETY: `fds` are the pipe's; a 4-byte write from a local, a read into the sealed page
    // (which the kernel must refuse).
    let read = unsafe {
        libc::write(fds[1], [0xffu8; 4].as_ptr().cast(), 4);
        let n = libc::read(fds[0], addr as *mut libc::c_void, 4);
        let e = errno();
        libc::close(fds[0]);
        libc::close(fds[1]);
        (n, e)
    };
    ensure(read == (-1, libc::EFAULT), || {
        format!("read() into the sealed page: {read:?}")
    })?;
    // Through /proc/self/mem (get_user_pages, which a pfn mapping refuses): EIO.
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| format!("open /proc/self/mem: {e}"))?;
    let poked = std::os::unix::fs::FileExt::write_at(&mem, &[0xff; 4], addr as u64)
        .map_err(|e| e.raw_os_error().unwrap_or(0));
    ensure(poked == Err(libc::EIO), || {
        format!("a /proc/self/mem write into the sealed page: {poked:?}")
    })?;
    // SAFETY: as for the first read.
    let still = unsafe { std::ptr::read_volatile((addr + 12) as *const u32) };
    ensure(still == class, || {
        format!("the sealed page changed to {still:#x}")
    })
}

/// DRM buffer objects through the fake vgem node: charged at the driver's object size,
/// refused with ENOMEM past drm.memory.max, kept charged while a dma-buf keeps the object
/// alive after its handle is gone, uncharged once the object is gone.
fn meter_drm_dumb_buffers() -> Result<(), String> {
    use crate::drm;
    let single = |cg: &TestCgroup, file: &str| cg.single(file);
    let settles_drm = |cg: &TestCgroup, want: u64| -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            let now = single(cg, "drm.memory.current")?;
            if now == want {
                return Ok(());
            }
            if t0.elapsed() > Duration::from_secs(5) {
                return Err(format!("drm.memory.current is {now}, want {want}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let card = crate::env("FAKE_CARD")?;
    let cg = TestCgroup::create("/fakegpu-drm")?;
    cg.set("drm.memory.max", "1M")?;
    ensure(cg.get("drm.memory.max")? == "1048576\n", || {
        "drm.memory.max".into()
    })?;
    cg.enter()?;
    let fd = open_rw(&card).map_err(|e| format!("open {card}: {e}"))?;
    let small = drm::create_dumb(&fd, 256, 256).map_err(|e| format!("256x256: errno {e}"))?;
    ensure(single(&cg, "drm.memory.current")? == small.size, || {
        format!("a {} byte buffer is not charged at its size", small.size)
    })?;
    let big = drm::create_dumb(&fd, 1024, 1024);
    ensure(big.err() == Some(libc::ENOMEM), || {
        format!("4 MiB past a 1 MiB limit: {big:?}")
    })?;
    ensure(cg.get("drm.memory.events")? == "max 1\n", || {
        "drm.memory.events".into()
    })?;
    // A dma-buf keeps the object, and its charge, after the handle is destroyed.
    let dmabuf = drm::prime_export(&fd, small.handle).map_err(|e| format!("export: errno {e}"))?;
    drm::destroy_dumb(&fd, small.handle).map_err(|e| format!("destroy: errno {e}"))?;
    ensure(single(&cg, "drm.memory.current")? == small.size, || {
        "a buffer alive in a dma-buf was uncharged".into()
    })?;
    drop(dmabuf);
    settles_drm(&cg, 0)?;
    // Without a dma-buf, destroying the handle uncharges at once.
    let again = drm::create_dumb(&fd, 256, 256).map_err(|e| format!("again: errno {e}"))?;
    drm::destroy_dumb(&fd, again.handle).map_err(|e| format!("destroy: errno {e}"))?;
    ensure(single(&cg, "drm.memory.current")? == 0, || {
        "destroy did not uncharge".into()
    })?;
    ensure(single(&cg, "drm.memory.peak")? == small.size, || {
        "drm.memory.peak".into()
    })?;
    // Closing the file frees its buffers.
    drm::create_dumb(&fd, 256, 256).map_err(|e| format!("third: errno {e}"))?;
    drop(fd);
    settles_drm(&cg, 0)?;
    move_to("/")
}

/// virtio-gpu's own buffer creation through the fake card node: RESOURCE_CREATE is charged
/// at the driver's object size and refused with ENOMEM past drm.memory.max, GEM_CLOSE
/// uncharges it; RESOURCE_CREATE_BLOB answers as it does directly (QEMU's device here has no
/// blob support) and charges nothing.
fn meter_drm_virtio_resources() -> Result<(), String> {
    use abi::drm::{
        DrmGemClose, DRM_IOCTL_GEM_CLOSE, DRM_IOCTL_VIRTGPU_RESOURCE_CREATE,
        DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB,
    };
    use std::os::fd::AsRawFd;
    // A 2D resource: target 2 (TEXTURE_2D), format 1 (B8G8R8A8), bind 2 (render target),
    // width, height, depth 1, array size 1; the size (in bytes) at 48.
    let create = |fd: &OwnedFd, side: u32| -> Result<(u32, u64), i32> {
        let mut rc = [0u32; 14];
        rc[..7].copy_from_slice(&[2, 1, 2, side, side, 1, 1]);
        rc[12] = side * side * 4;
        crate::sys::ioctl_raw(
            fd.as_raw_fd(),
            DRM_IOCTL_VIRTGPU_RESOURCE_CREATE,
            rc.as_mut_ptr() as usize,
        )?;
        Ok((rc[10], u64::from(rc[12])))
    };
    let blob = |path: &str| -> Result<Option<i32>, String> {
        let fd = open_rw(path).map_err(|e| format!("open {path}: {e}"))?;
        // blob_mem 1 (guest memory), one page, no host commands.
        let mut args = [0u8; 48];
        args[0] = 1;
        args[16..24].copy_from_slice(&4096u64.to_ne_bytes());
        let r = crate::sys::ioctl_raw(
            fd.as_raw_fd(),
            DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB,
            args.as_mut_ptr() as usize,
        );
        Ok(r.err())
    };
    let drm_current = |cg: &TestCgroup| cg.single("drm.memory.current");
    let fake = crate::env("FAKE_VIRTIO_CARD")?;
    let direct_blob = blob(&crate::env("REAL_VIRTIO_CARD")?)?;
    let cg = TestCgroup::create("/fakegpu-virtio")?;
    cg.set("drm.memory.max", "1M")?;
    cg.enter()?;
    let fd = open_rw(&fake).map_err(|e| format!("open {fake}: {e}"))?;
    let (handle, size) = create(&fd, 64).map_err(|e| format!("64x64 resource: errno {e}"))?;
    ensure(drm_current(&cg)? == size, || {
        format!("a {size} byte resource is not charged at its size")
    })?;
    let big = create(&fd, 1024);
    ensure(big.err() == Some(libc::ENOMEM), || {
        format!("a 4 MiB resource past a 1 MiB limit: {big:?}")
    })?;
    ensure(cg.get("drm.memory.events")? == "max 1\n", || {
        "drm.memory.events".into()
    })?;
    let mut close = DrmGemClose { handle, pad: 0 };
    crate::sys::ioctl(&fd, DRM_IOCTL_GEM_CLOSE, &mut close)
        .map_err(|e| format!("GEM_CLOSE: errno {e}"))?;
    // virtio-gpu may keep its own reference a moment longer (the host's answer): the charge
    // goes when the object would be freed, at the latest with the meter's next sweep.
    let t0 = Instant::now();
    while drm_current(&cg)? != 0 {
        ensure(t0.elapsed() < Duration::from_secs(5), || {
            "GEM_CLOSE did not uncharge within 5 s".into()
        })?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let through = blob(&fake)?;
    ensure(through == direct_blob, || {
        format!("RESOURCE_CREATE_BLOB through fakegpu: {through:?}, directly: {direct_blob:?}")
    })?;
    ensure(drm_current(&cg)? == 0, || {
        "a refused blob was charged".into()
    })?;
    drop(fd);
    move_to("/")
}

/// virtio-gpu's EXECBUFFER through the fake card node: counted in `submissions`, and held
/// to `submissions.max_rate` by making the caller wait (counted in `submissions.throttled`),
/// never by failing it. Without 3D support in QEMU's device the driver answers ENOSYS, the
/// same through fakegpu as directly.
fn meter_drm_submissions_rate_limited() -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let execbuffer = |path: &str| -> Result<Option<i32>, String> {
        let fd = open_rw(path).map_err(|e| format!("open {path}: {e}"))?;
        let mut args = [0u8; 64];
        let r = crate::sys::ioctl_raw(
            fd.as_raw_fd(),
            abi::drm::DRM_IOCTL_VIRTGPU_EXECBUFFER,
            args.as_mut_ptr() as usize,
        );
        Ok(r.err())
    };
    let count = |cg: &TestCgroup, file: &str| -> Result<u64, String> {
        cg.get(file)?
            .trim()
            .parse()
            .map_err(|_| format!("{file} is not a number"))
    };
    let fake = crate::env("FAKE_VIRTIO_CARD")?;
    let direct = execbuffer(&crate::env("REAL_VIRTIO_CARD")?)?;
    let cg = TestCgroup::create("/fakegpu-submit")?;
    cg.set("submissions.max_rate", "20")?;
    ensure(cg.get("submissions.max_rate")? == "20\n", || {
        "max_rate".into()
    })?;
    cg.enter()?;
    const CALLS: u64 = 40;
    for _ in 0..CALLS {
        let through = execbuffer(&fake)?;
        ensure(through == direct, || {
            format!("EXECBUFFER through fakegpu: {through:?}, directly: {direct:?}")
        })?;
    }
    let (made, throttled) = (
        count(&cg, "submissions")?,
        count(&cg, "submissions.throttled")?,
    );
    println!("FIGURE {CALLS} submissions at 20/s: {throttled} waited for the rate limit");
    ensure(made == CALLS, || {
        format!("submissions reads {made}, want {CALLS}")
    })?;
    // A burst of 20, then the rest wait (a few may find a token refilled meanwhile).
    ensure(throttled >= 10, || {
        format!("only {throttled} submissions waited")
    })?;
    cg.set("submissions.max_rate", "max")?;
    execbuffer(&fake)?;
    ensure(count(&cg, "submissions.throttled")? == throttled, || {
        "a submission waited without a limit".into()
    })?;
    for bad in ["0", "-1", "x", "1.5"] {
        let r = write_file(&cg.entry_file("submissions.max_rate"), bad);
        ensure(r == Err(libc::EINVAL), || {
            format!("max_rate {bad:?}: {r:?}")
        })?;
    }
    move_to("/")
}

/// A child process in another cgroup uses the nvidiactl file it inherited: what it allocates
/// is charged to its cgroup, and freeing the parent's allocation uncharges the parent's.
fn meter_fd_passed_to_another_cgroup() -> Result<(), String> {
    let a = TestCgroup::create("/fakegpu-fd-a")?;
    let b = TestCgroup::create("/fakegpu-fd-b")?;
    a.enter()?;
    let s = Session::open(0)?;
    expect_status("4 MiB in a", s.alloc(0x100, 4 * MIB), NV_OK)?;
    // SAFETY: the test process is single-threaded; the child makes calls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = b.enter().is_ok() && s.alloc(0x101, 8 * MIB) == NV_OK && s.free(0x100).is_ok();
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(i32::from(!ok)) };
    }
    let mut status = 0;
    // SAFETY: waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ensure(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        || "the child's calls failed".into(),
    )?;
    let (ca, cb) = (current(&a, 0)?, current(&b, 0)?);
    ensure((ca, cb) == (0, 8 * MIB), || {
        format!("after the child: a {ca}, b {cb}, want 0 and 8 MiB")
    })?;
    drop(s);
    settles(&b, 0, 0)?;
    move_to("/")
}

/// Found by the stress run: an allocation whose client was freed by another thread while the
/// call was in the driver was recorded after the free had been followed, under a client gone
/// for good, so its charge stayed until fakegpu was unloaded. Rounds of three threads
/// allocating while a fourth frees their client: after each, nothing stays charged.
fn alloc_racing_client_free_keeps_no_charge() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-race")?;
    cg.enter()?;
    let base = rm::debugfs("gpu0", "fb_used")?;
    let t0 = Instant::now();
    let mut rounds = 0u32;
    let mut freed_under = 0u32;
    let result = (|| {
        while t0.elapsed() < Duration::from_secs(8) {
            let ctl = open_rw("/dev/fakegpuctl").map_err(|e| e.to_string())?;
            let _gpu = open_rw("/dev/fakegpu0").map_err(|e| e.to_string())?;
            let client = rm::alloc_client(&ctl).ok()?;
            rm::alloc_device(&ctl, client, 0xd0, 0).ok()?;
            let made = std::sync::atomic::AtomicU32::new(0);
            std::thread::scope(|s| {
                for t in 0..3u32 {
                    let (ctl, made) = (&ctl, &made);
                    s.spawn(move || {
                        for k in 0..64u32 {
                            let h = 0x1000 + t * 0x100 + k;
                            match rm::alloc_memory(ctl, client, 0xd0, h, 0x40, 1 << 20) {
                                RmResult::Status(NV_OK, _) => {
                                    made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                // The client is gone: nothing more to race.
                                _ => break,
                            }
                        }
                    });
                }
                // Spin a varying while, so the free lands at different points of the allocations.
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros(u64::from(rounds % 7) * 300) {}
                let _ = rm::free(&ctl, client, client, client);
            });
            if made.load(std::sync::atomic::Ordering::Relaxed) < 192 {
                freed_under += 1;
            }
            rounds += 1;
            // With the client freed (its file still open), nothing is charged.
            let text = cg.get("memory.current")?;
            ensure(text.contains("gpu0 0\n"), || {
                format!("round {rounds}: client freed, memory.current still {text:?}")
            })?;
        }
        let fb = rm::debugfs("gpu0", "fb_used")?;
        ensure(fb == base, || format!("nvsim fb_used {fb}, {base} before"))
    })();
    let _ = move_to("/");
    result?;
    println!("{rounds} rounds, {freed_under} with the client freed under its allocations");
    ensure(freed_under > 0, || {
        "the free never raced the allocations".into()
    })
}

/// Found by reading the free path while fixing what failslab found: freeing a device forgot
/// the objects below it in handle order, so a subdevice forgotten before the memory under it
/// broke that memory's chain to the device, and its charge stayed until the client went.
/// Memory under a subdevice with a higher handle than the subdevice's, then the device freed.
fn freeing_a_device_uncharges_memory_below_its_subdevice() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-subtree")?;
    cg.enter()?;
    let result = (|| {
        let s = Session::open(0)?;
        let base = rm::debugfs("gpu0", "fb_used")?;
        rm::alloc_memory(&s.ctl, s.client, SUBDEVICE, 0x6000, VIDMEM, 2 * MIB)
            .ok()
            .map_err(|e| format!("memory under the subdevice: {e}"))?;
        ensure(s.alloc(0x10, MIB) == NV_OK, || {
            "memory under the device".into()
        })?;
        ensure(current(&cg, 0)? == 3 * MIB, || "3 MiB not charged".into())?;
        rm::free(&s.ctl, s.client, s.client, DEVICE)
            .ok()
            .map_err(|e| format!("free the device: {e}"))?;
        let fb = rm::debugfs("gpu0", "fb_used")?;
        ensure(fb == base, || {
            format!("nvsim fb_used {fb} after the free, {base} before the allocations")
        })?;
        let now = current(&cg, 0)?;
        ensure(now == 0, || {
            format!("the device is freed, memory.current gpu0 still {now}")
        })
    })();
    let _ = move_to("/");
    result
}

/// Sets nvsim's fault injection: the next `count` RM calls, after their work if `after`.
fn nvsim_faults(count: u32, after: bool) -> Result<(), String> {
    let p = "/sys/module/nvsim/parameters";
    write_file(&format!("{p}/fault_errno"), "0").map_err(|e| format!("fault_errno: {e}"))?;
    write_file(&format!("{p}/fault_after"), if after { "Y" } else { "N" })
        .map_err(|e| format!("fault_after: {e}"))?;
    write_file(&format!("{p}/fault_count"), &count.to_string())
        .map_err(|e| format!("fault_count: {e}"))
}

/// The driver fails an allocating ioctl after the allocation is made (as NVIDIA's does when
/// copying its answer back faults; nvsim's `fault_after`). Directly, the memory then exists
/// though the caller got EFAULT; through fakegpu, it is freed again, so no memory is left
/// that no charge covers: RM_ALLOC, RM_VID_HEAP_CONTROL and RM_DUP_OBJECT.
fn driver_failing_after_allocating_leaves_nothing_unmetered() -> Result<(), String> {
    dmem_cases::enable_if_present()?;
    let cg = TestCgroup::create("/fakegpu-fault-after")?;
    let result = (|| {
        // Directly: the knob allocates, then fails.
        let ctl = open_rw(&crate::env("NV_CTL")?).map_err(|e| format!("nvidiactl: {e}"))?;
        let _gpu = open_rw(&crate::env("NV_GPU0")?).map_err(|e| format!("nvidia0: {e}"))?;
        let client = rm::alloc_client(&ctl).ok()?;
        rm::alloc_device(&ctl, client, DEVICE, 0).ok()?;
        let base = rm::debugfs("gpu0", "fb_used")?;
        nvsim_faults(1, true)?;
        let r = rm::alloc_memory(&ctl, client, DEVICE, 0xa0, VIDMEM, MIB);
        let fb = rm::debugfs("gpu0", "fb_used")?;
        ensure(
            r == RmResult::Errno(libc::EFAULT) && fb == base + MIB,
            || format!("directly: {r:?}, nvsim fb_used {fb} ({base} before)"),
        )?;
        drop(ctl);

        cg.enter()?;
        let s = Session::open(0)?;
        let base = rm::debugfs("gpu0", "fb_used")?;
        let check = |what: &str, charged: u64| -> Result<(), String> {
            let (now, fb) = (current(&cg, 0)?, rm::debugfs("gpu0", "fb_used")?);
            ensure(now == charged && fb == base + charged, || {
                format!(
                    "{what}: memory.current gpu0 {now}, nvsim holds {}",
                    fb - base
                )
            })?;
            dmem_cases::agrees(&cg, 0, charged).map_err(|e| format!("{what}: {e}"))
        };
        nvsim_faults(1, true)?;
        let r = rm::alloc_memory(&s.ctl, s.client, DEVICE, 0xa0, VIDMEM, MIB);
        ensure(r == RmResult::Errno(libc::EFAULT), || {
            format!("RM_ALLOC through fakegpu: {r:?}")
        })?;
        check("after RM_ALLOC failed", 0)?;
        ensure(s.alloc(0xa0, MIB) == NV_OK, || {
            "the handle is free again".into()
        })?;
        check("after RM_ALLOC succeeded", MIB)?;

        nvsim_faults(1, true)?;
        let r = rm::vid_heap(
            &s.ctl,
            s.client,
            DEVICE,
            VidHeap {
                function: 2,
                memory: 0xb0,
                size: 2 * MIB,
                ..Default::default()
            },
        );
        ensure(matches!(r, RmResult::Errno(libc::EFAULT)), || {
            format!("RM_VID_HEAP_CONTROL through fakegpu: {r:?}")
        })?;
        check("after RM_VID_HEAP_CONTROL failed", MIB)?;

        nvsim_faults(1, true)?;
        let r = rm::dup(&s.ctl, s.client, DEVICE, 0xa1, s.client, 0xa0);
        ensure(r == RmResult::Errno(libc::EFAULT), || {
            format!("RM_DUP_OBJECT through fakegpu: {r:?}")
        })?;
        s.free(0xa0)?;
        // A duplicate left in the driver would keep the memory alive with no charge.
        check("after the duplicate failed and the original was freed", 0)
    })();
    let _ = nvsim_faults(0, false);
    let _ = move_to("/");
    result
}
