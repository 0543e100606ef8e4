//! NVIDIA memory charged to the kernel's dmem cgroup controller (7.x kernels with
//! CONFIG_CGROUP_DMEM): one region per GPU, `dmem.current` of the allocating cgroup (and,
//! dmem being hierarchical, of its ancestors) following allocations and frees exactly as
//! fakegpu's own `memory.current` does, a sibling untouched, and `dmem.max` refusing past it
//! with the driver's NV_ERR_NO_MEMORY before the driver sees the call. On 6.12, which has no
//! dmem, the region list must be empty. The meter cases of every uncharge path (free,
//! parent and client free, VID_HEAP free, close, SIGKILL, a driver failing after allocating)
//! also check dmem against fakegpu's charge with [`agrees`] where the kernel has dmem.

use crate::cgroup_util::{move_to, read_file, write_file, TestCgroup, CGROUP_ROOT};
use crate::meter_cases::{per_gpu, Session};
use crate::{ensure, Case};
use abi::nv_status::{NV_ERR_NO_MEMORY, NV_OK};
use nv_client::rm;
use std::time::{Duration, Instant};

/// Every dmem case.
pub const ALL: &[Case] = &[
    ("dmem_regions_name_each_gpu", dmem_regions_name_each_gpu),
    (
        "dmem_current_follows_allocations",
        dmem_current_follows_allocations,
    ),
    (
        "dmem_max_refuses_with_no_memory",
        dmem_max_refuses_with_no_memory,
    ),
];

/// Whether case `name` runs on this kernel: the dmem cases but the first need dmem (which
/// the first requires on 7.x, so a 7.x kernel without it fails rather than skips them).
pub fn runs_here(name: &str) -> bool {
    !ALL.iter().skip(1).any(|(n, _)| *n == name) || kernel_has_dmem()
}

const MIB: u64 = 1 << 20;
const REGIONS: &str = "/sys/kernel/fakegpu/dmem_regions";

/// Whether the running kernel has the dmem controller.
fn kernel_has_dmem() -> bool {
    read_file(&format!("{CGROUP_ROOT}/cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "dmem"))
}

/// `gpuN NAME BYTES` lines of fakegpu's region list.
fn regions() -> Result<Vec<(u32, String, u64)>, String> {
    let text = read_file(REGIONS)?;
    text.lines()
        .map(|l| parse_region(l).ok_or_else(|| format!("bad line in {REGIONS}: {l:?}")))
        .collect()
}

fn parse_region(line: &str) -> Option<(u32, String, u64)> {
    let mut w = line.split_whitespace();
    let gpu = w.next()?.strip_prefix("gpu")?.parse().ok()?;
    let name = w.next()?.to_owned();
    let bytes = w.next()?.parse().ok()?;
    w.next().is_none().then_some((gpu, name, bytes))
}

/// GPU `gpu`'s region name.
fn region_of(gpu: u32) -> Result<String, String> {
    regions()?
        .into_iter()
        .find(|r| r.0 == gpu)
        .map(|r| r.1)
        .ok_or_else(|| format!("no region of gpu{gpu} in {REGIONS}"))
}

/// A `REGION VALUE` file of dmem (`dmem.current`, `dmem.max`, `dmem.capacity`): the value
/// of `region` (`max` reads as u64::MAX).
fn dmem_value(cgroup: &str, file: &str, region: &str) -> Result<u64, String> {
    let path = format!("{CGROUP_ROOT}{cgroup}/{file}").replace("//", "/");
    let text = read_file(&path)?;
    text.lines()
        .find_map(|l| l.strip_prefix(region)?.strip_prefix(' '))
        .and_then(|v| match v.trim() {
            "max" => Some(u64::MAX),
            n => n.parse().ok(),
        })
        .ok_or_else(|| format!("no {region} in {path}: {text:?}"))
}

/// Makes sure the cgroups below the root have the dmem files.
fn enable_dmem() -> Result<(), String> {
    write_file(&format!("{CGROUP_ROOT}/cgroup.subtree_control"), "+dmem")
        .map_err(|e| format!("+dmem in the root's subtree_control: errno {e}"))
}

/// For the meter cases: enables dmem below the root where the kernel has it (before they
/// allocate, so their charges land in their own cgroups' pools).
pub(crate) fn enable_if_present() -> Result<(), String> {
    if kernel_has_dmem() {
        enable_dmem()?;
    }
    Ok(())
}

/// For the meter cases: on a kernel with dmem, `cg`'s dmem.current of GPU `gpu` reads
/// `want` (what fakegpu charged it): every path that uncharges fakegpu uncharges dmem.
pub(crate) fn agrees(cg: &TestCgroup, gpu: u32, want: u64) -> Result<(), String> {
    if !kernel_has_dmem() {
        return Ok(());
    }
    let got = dmem_value(&cg.path, "dmem.current", &region_of(gpu)?)?;
    ensure(got == want, || {
        format!(
            "{} dmem.current gpu{gpu} is {got}, fakegpu charged {want}",
            cg.path
        )
    })
}

fn require_dmem() -> Result<(), String> {
    ensure(kernel_has_dmem(), || {
        "this kernel has no dmem controller (CONFIG_CGROUP_DMEM)".into()
    })
}

/// The regions are listed for every nvsim GPU, named by PCI address, sized as the GPU's
/// memory, and dmem shows the same; 6.12 lists none. The suite runs this case on every
/// line: on a 7.x kernel a dmem controller is required.
fn dmem_regions_name_each_gpu() -> Result<(), String> {
    let release = read_file("/proc/sys/kernel/osrelease")?;
    if !kernel_has_dmem() {
        ensure(!release.starts_with('7'), || {
            format!("kernel {release:?} should have dmem")
        })?;
        let list = read_file(REGIONS)?;
        return ensure(list.is_empty(), || {
            format!("regions listed without dmem: {list:?}")
        });
    }
    let list = regions()?;
    ensure(list.len() == 2, || {
        format!("want 2 regions (nvsim's GPUs), got {list:?}")
    })?;
    for (gpu, name, bytes) in &list {
        let want_name = format!("nvidia/0000:{:02x}:00.0", gpu + 1);
        ensure(*name == want_name, || {
            format!("gpu{gpu} region {name}, want {want_name}")
        })?;
        let fb = rm::debugfs(&format!("gpu{gpu}"), "fb_size")?;
        ensure(*bytes == fb, || {
            format!("{name}: {bytes} bytes, nvsim has {fb}")
        })?;
        let capacity = dmem_value("/", "dmem.capacity", name)?;
        ensure(capacity == fb, || {
            format!("dmem.capacity {name} reads {capacity}")
        })?;
    }
    Ok(())
}

/// Waits (up to 5 s) for `cgroup`'s dmem.current of `region` to read `want`.
fn dmem_settles(cgroup: &str, region: &str, want: u64) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        let now = dmem_value(cgroup, "dmem.current", region)?;
        if now == want {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(5) {
            return Err(format!(
                "{cgroup} dmem.current {region} is {now}, want {want}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dmem_current_follows_allocations() -> Result<(), String> {
    require_dmem()?;
    enable_dmem()?;
    let region = region_of(0)?;
    let other = region_of(1)?;
    let root_before = dmem_value("/", "dmem.current", &region)?;
    let a = TestCgroup::create("/fakegpu-dmem-a")?;
    let b = TestCgroup::create("/fakegpu-dmem-b")?;
    a.enter()?;
    let s = Session::open(0)?;
    let expect = |want: u64| -> Result<(), String> {
        let got = dmem_value(&a.path, "dmem.current", &region)?;
        ensure(got == want, || {
            format!("a's dmem.current is {got}, want {want}")
        })?;
        let own = per_gpu(&a, "memory.current", 0)?;
        ensure(own == want, || {
            format!("fakegpu's memory.current is {own}, want {want}")
        })?;
        let root = dmem_value("/", "dmem.current", &region)?;
        // Hierarchical: the root's counter holds its descendants' charges, and nothing more
        // (no worker or reaper of fakegpu's, which sit in the root, charged anything).
        ensure(root == root_before + want, || {
            format!("root's dmem.current is {root}, want {}", root_before + want)
        })?;
        let sibling = dmem_value(&b.path, "dmem.current", &region)?;
        ensure(sibling == 0, || {
            format!("the sibling's dmem.current is {sibling}")
        })?;
        let gpu1 = dmem_value(&a.path, "dmem.current", &other)?;
        ensure(gpu1 == 0, || format!("gpu1's region was charged {gpu1}"))
    };
    expect(0)?;
    rm_ok("48 MiB", s.alloc(0x100, 48 * MIB))?;
    expect(48 * MIB)?;
    rm_ok("16 MiB", s.alloc(0x101, 16 * MIB))?;
    expect(64 * MIB)?;
    s.free(0x100)?;
    expect(16 * MIB)?;
    // Closing the files: the driver frees the client, fakegpu follows.
    drop(s);
    move_to("/")?;
    dmem_settles(&a.path, &region, 0)?;
    dmem_settles("/", &region, root_before)?;
    drop(b);
    drop(a);
    Ok(())
}

fn rm_ok(what: &str, status: u32) -> Result<(), String> {
    ensure(status == NV_OK, || format!("{what}: status {status:#x}"))
}

/// dmem.max on a parent holds its child, with no fakegpu limit set: refused with 0x51,
/// nothing charged and nothing reaching the driver; room again after a free.
fn dmem_max_refuses_with_no_memory() -> Result<(), String> {
    require_dmem()?;
    enable_dmem()?;
    let region = region_of(0)?;
    let parent = TestCgroup::create("/fakegpu-dmem-p")?;
    let pdir = format!("{CGROUP_ROOT}{}", parent.path);
    write_file(&format!("{pdir}/cgroup.subtree_control"), "+dmem")
        .map_err(|e| format!("+dmem in the parent: errno {e}"))?;
    write_file(
        &format!("{pdir}/dmem.max"),
        &format!("{region} {}", 32 * MIB),
    )
    .map_err(|e| format!("dmem.max: errno {e}"))?;
    let max = dmem_value(&parent.path, "dmem.max", &region)?;
    ensure(max == 32 * MIB, || format!("dmem.max reads {max}"))?;
    let child = TestCgroup::create("/fakegpu-dmem-p/c")?;
    child.enter()?;
    let base = rm::debugfs("gpu0", "fb_used")?;
    let s = Session::open(0)?;
    rm_ok("24 MiB", s.alloc(0x100, 24 * MIB))?;
    let status = s.alloc(0x101, 16 * MIB);
    ensure(status == NV_ERR_NO_MEMORY, || {
        format!("16 MiB past dmem.max: status {status:#x}, want {NV_ERR_NO_MEMORY:#x}")
    })?;
    let now = dmem_value(&child.path, "dmem.current", &region)?;
    ensure(now == 24 * MIB, || {
        format!("dmem.current {now} after the refusal")
    })?;
    let own = per_gpu(&child, "memory.current", 0)?;
    ensure(own == 24 * MIB, || {
        format!("memory.current {own} after the refusal")
    })?;
    let used = rm::debugfs("gpu0", "fb_used")?;
    ensure(used == base + 24 * MIB, || {
        "the refused allocation reached the driver".into()
    })?;
    // Exactly up to the limit fits; a page more does not.
    rm_ok("8 MiB up to the limit", s.alloc(0x102, 8 * MIB))?;
    let status = s.alloc(0x103, 4096);
    ensure(status == NV_ERR_NO_MEMORY, || {
        format!("a page past dmem.max: status {status:#x}")
    })?;
    s.free(0x100)?;
    rm_ok("16 MiB after the free", s.alloc(0x101, 16 * MIB))?;
    drop(s);
    move_to("/")?;
    dmem_settles(&child.path, &region, 0)?;
    dmem_settles(&parent.path, &region, 0)?;
    drop(child);
    drop(parent);
    Ok(())
}
