//! nvsim's engine under bad work (issue 18, item 8): channels fed launches past nvsim's
//! bound, malformed and random pushbuffers, GPPut raced by another thread, channels freed
//! with work queued, and a process killed mid-copy. Each bad channel goes into error alone;
//! a healthy channel keeps running beside them, the engine thread never stalls, and once
//! the processes are gone nvsim's ground truth is back where it was. (The suite fails the
//! case on any kernel splat, a soft lockup included.)

use crate::fuzz::Rng;
use crate::gpu_workspace::Workspace;
use crate::{ensure, Case};
use abi::nv_rm::channel_alloc_params as chan;
use nv_client::rm as nv_rm;
use nvsim_model::pushbuf::header::{immd, inc};
use std::time::{Duration, Instant};

pub const ALL: &[Case] = &[
    (
        "nvsim_engine_contains_bad_work",
        nvsim_engine_contains_bad_work,
    ),
    ("nvsim_launch_takes_launch_us", nvsim_launch_takes_launch_us),
];

const MIB: u64 = 1 << 20;
/// Where the workspace's video memory sits in the GPU VA space.
pub(crate) const BASE: u64 = 0x3_0000_0000;
/// The workspace: 4 MiB of video memory, mapped at BASE for the GPU and into the process.
pub(crate) const SIZE: u64 = 4 * MIB;
/// Per channel i: its ring at RING + i * 0x1000 (64 entries), its USERD at USERD + i * 0x200,
/// its pushbuffers at PUSH + i * 0x10000, its semaphores at SEM + i * 0x100.
const RING: u64 = 0;
pub(crate) const USERD: u64 = 0x10_0000;
const PUSH: u64 = 0x20_0000;
const SEM: u64 = 0x1f_0000;
pub(crate) const ENTRIES: u32 = 64;
/// Engine types (`NV2080_ENGINE_TYPE_*`): graphics/compute and the first copy engine.
const GR0: u32 = 1;
const COPY0: u32 = 9;
/// USERD's GPGet and GPPut.
const GP_GET: u64 = 0x88;
pub(crate) const GP_PUT: u64 = 0x8c;

/// The channels of this case in a workspace: channel `i`'s ring, USERD and pushbuffers at
/// the offsets above.
pub(crate) trait Channels {
    fn channel(&self, i: u64) -> Result<(), String>;
    fn channel_on(
        &self,
        i: u64,
        engine_type: u32,
        class_id: u32,
        notifier: u32,
    ) -> Result<(), String>;
    fn free_channel(&self, i: u64);
    fn submit(&self, i: u64, slot: u64, words: &[u32]) -> u32;
}

impl Channels for Workspace {
    /// Allocates channel `i` (handle 0x11 + i): copy (engine COPY0) with its copy object.
    fn channel(&self, i: u64) -> Result<(), String> {
        self.channel_on(i, COPY0, 0xc8b5, 0)
    }

    /// Allocates channel `i` on engine `engine_type` with an object of `class_id` on it, and
    /// memory `notifier` (0: none) as its error notifier.
    fn channel_on(
        &self,
        i: u64,
        engine_type: u32,
        class_id: u32,
        notifier: u32,
    ) -> Result<(), String> {
        let mut p = [0u8; chan::SIZE];
        let mut put = |at: usize, bytes: &[u8]| p[at..at + bytes.len()].copy_from_slice(bytes);
        put(
            chan::GPFIFO_OFFSET,
            &(BASE + RING + i * 0x1000).to_ne_bytes(),
        );
        put(chan::GPFIFO_ENTRIES, &ENTRIES.to_ne_bytes());
        put(chan::H_USERD, &0x400u32.to_ne_bytes());
        put(chan::USERD_OFFSET, &(USERD + i * 0x200).to_ne_bytes());
        put(chan::ENGINE_TYPE, &engine_type.to_ne_bytes());
        put(chan::H_OBJECT_ERROR, &notifier.to_ne_bytes());
        let handle = 0x11 + i as u32;
        // A channel freed earlier left its USERD: GPGet and GPPut start again from 0.
        self.put32(USERD + i * 0x200 + GP_GET, 0);
        self.put32(USERD + i * 0x200 + GP_PUT, 0);
        nv_rm::alloc(&self.ctl, self.client, 0x10, handle, 0xc86f, Some(&mut p))
            .ok()
            .map_err(|e| format!("channel {i}: {e}"))?;
        nv_rm::alloc(
            &self.ctl,
            self.client,
            handle,
            0x100 + handle,
            class_id,
            None,
        )
        .ok()
        .map(drop)
        .map_err(|e| format!("engine object {i}: {e}"))
    }

    fn free_channel(&self, i: u64) {
        let _ = nv_rm::free(&self.ctl, self.client, 0x10, 0x11 + i as u32);
    }

    /// Queues `words` as channel `i`'s next GPFIFO entry (its segment at `slot` of its
    /// pushbuffer area) and moves GPPut past it; returns the new GPPut.
    fn submit(&self, i: u64, slot: u64, words: &[u32]) -> u32 {
        let at = PUSH + i * 0x10000 + (slot % 16) * 0x1000;
        for (k, w) in words.iter().take(1024).enumerate() {
            self.put32(at + 4 * k as u64, *w);
        }
        let userd = USERD + i * 0x200;
        let put = self.get32(userd + GP_PUT) % ENTRIES;
        let va = BASE + at;
        let ring = RING + i * 0x1000 + 8 * u64::from(put);
        self.put32(ring, va as u32);
        self.put32(
            ring + 4,
            (va >> 32) as u32 & 0xff | (words.len() as u32) << 10,
        );
        let next = (put + 1) % ENTRIES;
        self.put32(userd + GP_PUT, next);
        next
    }
}

/// A host release of `payload` at channel `i`'s semaphore word `k`.
fn release(i: u64, k: u64, payload: u32) -> Vec<u32> {
    let va = BASE + SEM + i * 0x100 + 4 * k;
    vec![
        inc(0, 0x5c, 4),
        va as u32,
        (va >> 32) as u32,
        payload,
        0,
        immd(0, 0x6c, 1),
    ]
}

/// nvsim's state lines for channel `i` of this GPU (chid = i here: the first channels).
fn state() -> String {
    std::fs::read_to_string("/sys/kernel/debug/nvsim/state").unwrap_or_default()
}

fn wait(what: &str, done: impl Fn() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// The ground-truth lines a process's work must leave as it found them.
fn ground_truth() -> String {
    state()
        .lines()
        .filter(|l| {
            ["gpu0 ", "sys_used ", "sys_pages ", "fb_pages ", "objects "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Random work for channel `i`: method headers of every kind with random methods and data,
/// copy launches with random sizes and addresses, or plain random words.
pub(crate) fn random_segment(rng: &mut Rng) -> Vec<u32> {
    let mut words = Vec::new();
    let n = 1 + rng.below(48) as usize;
    while words.len() < n {
        match rng.below(6) {
            0 => words.push(rng.next() as u32),
            1 => {
                let count = rng.below(5) as u32;
                let method = rng.pick(&[
                    0x5c, 0x60, 0x64, 0x68, 0x6c, 0x400, 0x408, 0x418, 0x41c, 0x300, 0x700, 0x708,
                    0x240, 0x244, 0x248,
                ]);
                words.push(inc(rng.below(8) as u32, method, count));
                for _ in 0..count {
                    words.push(rng.next() as u32);
                }
            }
            2 => words.push(immd(
                rng.below(8) as u32,
                rng.below(0x800) as u32 & !3,
                rng.below(0x1000) as u32,
            )),
            3 => {
                // A pitch copy inside the workspace, or anywhere.
                let src = BASE + rng.below(SIZE);
                let dst = if rng.chance(70) {
                    BASE + rng.below(SIZE)
                } else {
                    rng.next()
                };
                let len = rng.pick(&[1u32, 4096, 65536, 1 << 20, u32::MAX]);
                let lines = rng.pick(&[1u32, 2, 64, u32::MAX]);
                words.extend([inc(4, 0, 1), 0xc8b5]);
                words.extend([
                    inc(4, 0x400, 4),
                    (src >> 32) as u32,
                    src as u32,
                    (dst >> 32) as u32,
                    dst as u32,
                ]);
                words.extend([inc(4, 0x418, 2), len, lines]);
                words.extend([
                    inc(4, 0x300, 1),
                    2 | 1 << 7 | 1 << 8 | (rng.below(2) as u32) << 9,
                ]);
            }
            4 => {
                // An acquire of a word that may never hold.
                let va = BASE + SEM + rng.below(0x400) * 4;
                words.extend([
                    inc(0, 0x5c, 4),
                    va as u32,
                    (va >> 32) as u32,
                    rng.below(4) as u32,
                    0,
                ]);
                words.extend([inc(0, 0x6c, 1), rng.pick(&[1u32, 2, 3, 4, 5, 6, 0x12])]);
            }
            _ => words.extend(release(0, rng.below(64), rng.next() as u32)),
        }
    }
    words
}

fn nvsim_engine_contains_bad_work() -> Result<(), String> {
    let seed = crate::fuzz::env_num("ENGINE_FUZZ_SEED", crate::fuzz::clock_seed())?;
    println!("seed {seed:#x} (ENGINE_FUZZ_SEED)");
    let baseline = ground_truth();
    let ws = Workspace::new(BASE, SIZE)?;
    // Channel 0 stays healthy throughout; it proves the engine keeps running.
    ws.channel(0)?;
    let mut healthy = 0u32;
    let mut check_healthy = |ws: &Workspace, what: &str| -> Result<(), String> {
        healthy += 1;
        ws.submit(0, u64::from(healthy), &release(0, 0, healthy));
        let want = healthy;
        wait(
            &format!("the healthy channel's release after {what}"),
            || ws.get32(SEM) == want,
        )
    };
    check_healthy(&ws, "setup")?;

    // A copy past nvsim's bound (64 MiB per launch): its channel goes into error, reported
    // in its error notifier as the RM reports it.
    let notifier = ws.cpu_page(0x501)?;
    ws.channel_on(1, COPY0, 0xc8b5, 0x501)?;
    let mut big = vec![inc(4, 0, 1), 0xc8b5];
    big.extend([inc(4, 0x400, 4), 0x3, 0, 0x3, 0x10_0000]);
    big.extend([inc(4, 0x418, 2), 1 << 20, u32::MAX]);
    big.extend([inc(4, 0x300, 1), 2 | 1 << 7 | 1 << 8 | 1 << 9]);
    ws.submit(1, 0, &big);
    wait("the oversized launch's error", || {
        state()
            .lines()
            .any(|l| l.starts_with("channel gpu 0 chid 1 ") && l.contains("error a_method"))
    })?;
    check_healthy(&ws, "an oversized launch")?;
    let note = |at: usize| {
        // SAFETY: `at` + 4 is within the mapped page.
        unsafe { std::ptr::read_volatile((notifier.addr() + at) as *const u32) }
    };
    // NvNotification: the time (high word first), info32 the exception
    // (ROBUST_CHANNEL_GR_CLASS_ERROR, 69), info16 the engine (COPY0), status 0xffff.
    ensure(
        note(8) == 69 && note(12) == (0xffff << 16 | COPY0) && (note(0), note(4)) != (0, 0),
        || {
            format!(
                "error notifier: time {:#x}:{:#x}, info32 {}, info16+status {:#x}",
                note(0),
                note(4),
                note(8),
                note(12)
            )
        },
    )?;

    // A malformed pushbuffer, and GPPut past the ring: errors of their own.
    ws.channel(2)?;
    // Opcode 6 is reserved: no header of the format.
    ws.submit(2, 0, &[0xc000_0001; 8]);
    ws.channel(3)?;
    ws.put32(USERD + 3 * 0x200 + GP_PUT, ENTRIES + 5);
    wait("the malformed channels' errors", || {
        let s = state();
        ["2", "3"].iter().all(|c| {
            s.lines().any(|l| {
                l.starts_with(&format!("channel gpu 0 chid {c} ")) && !l.contains(" error none ")
            })
        })
    })?;
    check_healthy(&ws, "malformed work")?;

    // Random work on three channels for a while, GPPut raced by a second thread, channels
    // freed and made again with work queued.
    let mut rng = Rng::new(seed);
    for i in 1..4 {
        ws.free_channel(i);
        ws.channel(i)?;
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let submitted = std::thread::scope(|s| -> Result<u64, String> {
        let racer_seed = rng.next();
        // The mapping's address, not the workspace: the racer only stores to it, as another
        // thread of a process would.
        let base = ws.addr();
        let stop_ref = &stop;
        s.spawn(move || {
            let mut r = Rng::new(racer_seed);
            while !stop_ref.load(std::sync::atomic::Ordering::Relaxed) {
                let at = USERD + (1 + r.below(3)) * 0x200 + GP_PUT;
                let value = r.below(u64::from(ENTRIES) + 2) as u32;
                // SAFETY: `at` is inside the mapping, which outlives this scoped thread.
                unsafe { std::ptr::write_volatile((base + at as usize) as *mut u32, value) };
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(8) {
            let i = 1 + rng.below(3);
            if rng.chance(3) {
                ws.free_channel(i);
                ws.channel(i)?;
            }
            ws.submit(i, n, &random_segment(&mut rng));
            n += 1;
            std::thread::sleep(Duration::from_micros(300));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    })?;
    // Freed with work still queued: the engine drops it (a launch under way completes).
    for i in 1..4 {
        ws.free_channel(i);
    }
    check_healthy(&ws, "random work")?;

    // A process killed while its channel copies: everything it had goes with it.
    // SAFETY: the child only makes syscalls, then exits or is killed.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = (|| -> Result<(), String> {
            let child = Workspace::new(BASE, SIZE)?;
            child.channel(0)?;
            let mut copy = vec![inc(4, 0, 1), 0xc8b5];
            let (src, dst) = (BASE, BASE + 2 * MIB);
            copy.extend([
                inc(4, 0x400, 4),
                (src >> 32) as u32,
                src as u32,
                (dst >> 32) as u32,
                dst as u32,
            ]);
            copy.extend([inc(4, 0x418, 2), 1 << 20, 64]);
            copy.extend([inc(4, 0x300, 1), 2 | 1 << 7 | 1 << 8 | 1 << 9]);
            for k in 0..60 {
                child.submit(0, k, &copy);
            }
            println!("child: copies queued");
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        })();
        // SAFETY: ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(i32::from(code.is_err())) };
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    check_healthy(&ws, "a process killed mid-copy")?;

    drop(ws);
    wait("nvsim's ground truth to come back", || {
        ground_truth() == baseline
    })?;
    ensure(!state().contains("channel gpu"), || {
        format!("channels left:\n{}", state())
    })?;
    println!("FIGURE engine: {submitted} random segments on 3 channels (seed {seed:#x}); bad channels isolated, the healthy one ran {healthy} releases, a killed process left nothing");
    Ok(())
}

/// With `launch_us` set, a compute launch's release comes no sooner than that after the
/// submission, while a copy channel's work beside it completes at once: only the launching
/// channel waits.
fn nvsim_launch_takes_launch_us() -> Result<(), String> {
    use nvsim_model::methods::compute;
    const LAUNCH_US: u64 = 300_000;
    const PARAM: &str = "/sys/module/nvsim/parameters/launch_us";
    /// Where the QMD sits, and the launch's release word.
    const QMD: u64 = 0x30_0000;
    const LAUNCHED: u64 = SEM + 0x80;
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = std::fs::write(PARAM, "0");
        }
    }
    let ws = Workspace::new(BASE, SIZE)?;
    ws.channel_on(0, GR0, 0xcbc0, 0)?;
    ws.channel(1)?;
    // A V04 QMD whose RELEASE0 writes one word, 7, at LAUNCHED.
    let mut qmd = [0u32; 64];
    qmd[18] = 4 << 4;
    qmd[10] = 1 | 1 << 1;
    let at = BASE + LAUNCHED;
    qmd[20] = at as u32;
    qmd[21] = (at >> 32) as u32;
    qmd[22] = 7;
    for (k, w) in qmd.iter().enumerate() {
        ws.put32(QMD + 4 * k as u64, *w);
    }
    std::fs::write(PARAM, LAUNCH_US.to_string()).map_err(|e| format!("{PARAM}: {e}"))?;
    let _reset = Reset;
    let qmd_va = BASE + QMD;
    let launch = [
        inc(1, 0, 1),
        0xcbc0,
        inc(1, compute::SEND_PCAS_A, 1),
        (qmd_va >> 8) as u32,
        inc(1, compute::SEND_SIGNALING_PCAS2_B, 1),
        3,
    ];
    let start = Instant::now();
    ws.submit(0, 0, &launch);
    ws.submit(1, 0, &release(1, 0, 5));
    wait("the copy channel's release", || ws.get32(SEM + 0x100) == 5)?;
    ensure(ws.get32(LAUNCHED) == 0, || {
        format!(
            "the launch released after {:?}, before the copy channel's work",
            start.elapsed()
        )
    })?;
    wait("the launch's release", || ws.get32(LAUNCHED) == 7)?;
    let took = start.elapsed();
    ensure(took >= Duration::from_micros(LAUNCH_US), || {
        format!("the launch completed after {took:?}, under launch_us {LAUNCH_US} us")
    })?;
    println!("FIGURE a launch with launch_us {LAUNCH_US} completed after {took:?}");
    Ok(())
}
