//! `fakegpu status`: what each cgroup with an entry uses and may use, as a table an operator
//! reads at a glance, or as JSON for tools.

use crate::dmem::Dmem;
use crate::sysfs::{parse_single, Fakegpu};
use crate::units::{human, human_limit};
use policy::gpu_set::Visibility;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One GPU of one entry.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct GpuUsage {
    /// The GPU's minor (`/dev/nvidiaN`).
    pub gpu: u32,
    /// GPU memory charged, bytes.
    pub memory_used: u64,
    /// The limit, bytes (`null`: none).
    pub memory_max: Option<u64>,
    /// The most ever charged.
    pub memory_peak: u64,
    /// Allocations the limit refused.
    pub refused: u64,
    /// Channels held.
    pub channels: u64,
    /// The channel limit (`null`: none).
    pub channels_max: Option<u64>,
    /// The compute cap, percent of the GPU's time (`null`: none).
    pub compute_max_percent: Option<u64>,
    /// The compute weight.
    pub compute_weight: u64,
    /// Microseconds fakegpu held the cgroup's channel groups off the GPU to its limits.
    pub throttled_usec: u64,
    /// Microseconds the GPU was busy with the cgroup's work (the driver's samples).
    pub gpu_time_usec: u64,
    /// Its share of the GPU over the last 10 s window, per mille (`null`: none yet).
    pub gpu_share_permille: Option<u32>,
    /// GPFIFO entries the engine consumed from the cgroup's channels (NVIDIA submissions).
    pub gpu_submissions: u64,
    /// The cgroup's `dmem.current` in the GPU's dmem region, bytes (`null`: the GPU has no
    /// region or the cgroup no dmem files).
    pub dmem_current: Option<u64>,
    /// The cgroup's `dmem.max` in that region, bytes (`null`: max, or no dmem).
    pub dmem_max: Option<u64>,
}

/// One entry.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EntryStatus {
    /// The cgroup's id.
    pub id: u64,
    /// The cgroup's path.
    pub cgroup: String,
    /// The GPUs it may see (`all`, `none`, `0,2`).
    pub gpus: String,
    /// Per GPU.
    pub usage: Vec<GpuUsage>,
    /// Pinned host memory, bytes.
    pub pinned: u64,
    /// DRM buffer objects, bytes.
    pub drm_memory: u64,
    /// DRM submissions made.
    pub submissions: u64,
    /// `allow` or `deny`.
    pub uvm_policy: String,
}

/// Every entry's status; with `dmem`, each GPU's use and limit in its dmem region.
pub fn collect(fg: &Fakegpu, dmem: Option<&Dmem>) -> Result<Vec<EntryStatus>, String> {
    let mut all = Vec::new();
    for (id, cgroup) in fg.entries()? {
        let e = fg.entry(id);
        // An entry can disappear between the listing and the read (the reaper).
        let Ok(current) = e.per_gpu("memory.current") else {
            continue;
        };
        let max = e.per_gpu("memory.max")?;
        let peak = e.per_gpu("memory.peak")?;
        let events = e.per_gpu("memory.events")?;
        let channels = e.per_gpu("channels.current")?;
        let channels_max = e.per_gpu("channels.max")?;
        // Files a module older than compute limits lacks read as none.
        let compute_max = e
            .read("compute.max")
            .map(|t| compute_percent(&t))
            .unwrap_or_default();
        let weight = e.per_gpu("compute.weight").unwrap_or_default();
        let stat = e
            .read("compute.stat")
            .map(|t| compute_stat(&t))
            .unwrap_or_default();
        let dmem = dmem.map(|d| dmem_usage(d, &cgroup)).unwrap_or_default();
        let usage = current
            .iter()
            .map(|(&gpu, &used)| GpuUsage {
                gpu,
                memory_used: used.unwrap_or(0),
                memory_max: max.get(&gpu).copied().flatten(),
                memory_peak: peak.get(&gpu).copied().flatten().unwrap_or(0),
                refused: events.get(&gpu).copied().flatten().unwrap_or(0),
                channels: channels.get(&gpu).copied().flatten().unwrap_or(0),
                channels_max: channels_max.get(&gpu).copied().flatten(),
                compute_max_percent: compute_max.get(&gpu).copied().flatten(),
                compute_weight: weight.get(&gpu).copied().flatten().unwrap_or(100),
                throttled_usec: stat.get(&gpu).map_or(0, |s| s.throttled_usec),
                gpu_time_usec: stat.get(&gpu).map_or(0, |s| s.gpu_time_usec),
                gpu_share_permille: stat.get(&gpu).and_then(|s| s.share_permille),
                gpu_submissions: stat.get(&gpu).map_or(0, |s| s.submissions),
                dmem_current: dmem.get(&gpu).map(|&(used, _)| used),
                dmem_max: dmem.get(&gpu).and_then(|&(_, max)| max),
            })
            .collect();
        all.push(EntryStatus {
            id,
            cgroup,
            gpus: e.read("gpus")?.trim().to_string(),
            usage,
            pinned: parse_single(&e.read("pinned.current")?).unwrap_or(0),
            drm_memory: parse_single(&e.read("drm.memory.current")?).unwrap_or(0),
            submissions: parse_single(&e.read("submissions")?).unwrap_or(0),
            uvm_policy: e.read("uvm.policy")?.trim().to_string(),
        });
    }
    Ok(all)
}

/// Per GPU with a dmem region: the cgroup's `dmem.current` and `dmem.max` (`None`: max)
/// in it. Empty if the cgroup has no `dmem.current` (no dmem; or it is gone, or the file
/// unreadable: status shows fakegpu's figures regardless).
fn dmem_usage(dmem: &Dmem, cgroup: &str) -> BTreeMap<u32, (u64, Option<u64>)> {
    if dmem.gpus().next().is_none() {
        return BTreeMap::new();
    }
    let Ok(Some(current)) = dmem.read(cgroup, "dmem.current") else {
        return BTreeMap::new();
    };
    // The root has no dmem.max.
    let max = dmem
        .read(cgroup, "dmem.max")
        .ok()
        .flatten()
        .unwrap_or_default();
    dmem.gpus()
        .filter_map(|gpu| {
            let name = &dmem.region(gpu)?.name;
            let used = current.get(name).copied().flatten()?;
            Some((gpu, (used, max.get(name).copied().flatten())))
        })
        .collect()
}

/// `compute.max`'s `gpuN QUOTA PERIOD` lines as percent per GPU (`None`: `max`).
fn compute_percent(text: &str) -> BTreeMap<u32, Option<u64>> {
    text.lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let gpu = w.next()?.strip_prefix("gpu")?.parse().ok()?;
            let quota = w.next()?;
            let period: u64 = w.next()?.parse().ok()?;
            let pct = match quota {
                "max" => None,
                q => Some(q.parse::<u64>().ok()? * 100 / period.max(1)),
            };
            Some((gpu, pct))
        })
        .collect()
}

/// One GPU's line of `compute.stat`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ComputeStat {
    gpu_time_usec: u64,
    share_permille: Option<u32>,
    throttled_usec: u64,
    submissions: u64,
}

/// `compute.stat`'s `gpuN key=value ...` lines (`gpu_share_pct` is `-` before the first
/// window, else a percent with one decimal).
fn compute_stat(text: &str) -> BTreeMap<u32, ComputeStat> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let gpu = words.next()?.strip_prefix("gpu")?.parse().ok()?;
            let mut stat = ComputeStat::default();
            for (key, value) in words.filter_map(|w| w.split_once('=')) {
                match key {
                    "gpu_time_usec" => stat.gpu_time_usec = value.parse().ok()?,
                    "throttled_usec" => stat.throttled_usec = value.parse().ok()?,
                    "submissions" => stat.submissions = value.parse().ok()?,
                    "gpu_share_pct" => {
                        stat.share_permille = value.split_once('.').and_then(|(i, d)| {
                            Some(i.parse::<u32>().ok()? * 10 + d.parse::<u32>().ok()?)
                        })
                    }
                    _ => {}
                }
            }
            Some((gpu, stat))
        })
        .collect()
}

/// A compute cell: `30% w100, busy 27.5%, 1200 submitted, throttled 1.2 s` (`busy -`
/// before the first window).
fn compute_cell(u: &GpuUsage) -> String {
    let cap = u
        .compute_max_percent
        .map_or("max".into(), |p| format!("{p}%"));
    let busy = u
        .gpu_share_permille
        .map_or("-".into(), |p| format!("{}.{}%", p / 10, p % 10));
    format!(
        "{cap} w{}, busy {busy}, {} submitted, throttled {:.1} s",
        u.compute_weight,
        u.gpu_submissions,
        u.throttled_usec as f64 / 1e6
    )
}

/// A dmem cell: `1.0 GiB / 4.0 GiB` (used / `dmem.max`), `-` without dmem.
fn dmem_cell(u: &GpuUsage) -> String {
    u.dmem_current.map_or("-".into(), |used| {
        format!("{} / {}", human(used), human_limit(u.dmem_max))
    })
}

/// The GPUs of `e` it may see: the table's rows.
fn visible(e: &EntryStatus) -> Vec<&GpuUsage> {
    let gpus = Visibility::parse(&e.gpus).unwrap_or(Visibility::All);
    e.usage.iter().filter(|u| gpus.allows(u.gpu)).collect()
}

/// The table: a row per entry and GPU it may see; a DMEM column when some row has dmem.
pub fn table(entries: &[EntryStatus]) -> String {
    let mut header = vec![
        "CGROUP",
        "GPU",
        "MEMORY USED",
        "LIMIT",
        "PEAK",
        "REFUSED",
        "CHANNELS",
        "COMPUTE",
    ];
    let with_dmem = entries
        .iter()
        .flat_map(visible)
        .any(|u| u.dmem_current.is_some());
    if with_dmem {
        header.push("DMEM");
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for e in entries {
        let shown = visible(e);
        if shown.is_empty() {
            let mut row = vec![String::new(); header.len()];
            row[0] = e.cgroup.clone();
            row[1] = "-".into();
            rows.push(row);
        }
        for u in shown {
            let mut row = vec![
                e.cgroup.clone(),
                u.gpu.to_string(),
                human(u.memory_used),
                human_limit(u.memory_max),
                human(u.memory_peak),
                u.refused.to_string(),
                format!(
                    "{} / {}",
                    u.channels,
                    u.channels_max.map_or("max".into(), |m| m.to_string())
                ),
                compute_cell(u),
            ];
            if with_dmem {
                row.push(dmem_cell(u));
            }
            rows.push(row);
        }
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&header);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_visible_gpus_in_human_units() {
        let e = EntryStatus {
            id: 7,
            cgroup: "/team-a".into(),
            gpus: "0".into(),
            usage: vec![
                GpuUsage {
                    gpu: 0,
                    memory_used: 1 << 30,
                    memory_max: Some(2 << 30),
                    memory_peak: 1 << 30,
                    refused: 1,
                    channels: 2,
                    channels_max: None,
                    compute_max_percent: Some(30),
                    compute_weight: 100,
                    throttled_usec: 1_500_000,
                    gpu_time_usec: 9_000_000,
                    gpu_share_permille: Some(275),
                    gpu_submissions: 1200,
                    dmem_current: None,
                    dmem_max: None,
                },
                GpuUsage {
                    gpu: 1,
                    memory_used: 0,
                    memory_max: None,
                    memory_peak: 0,
                    refused: 0,
                    channels: 0,
                    channels_max: None,
                    compute_max_percent: None,
                    compute_weight: 100,
                    throttled_usec: 0,
                    gpu_time_usec: 0,
                    gpu_share_permille: None,
                    gpu_submissions: 0,
                    dmem_current: None,
                    dmem_max: None,
                },
            ],
            pinned: 0,
            drm_memory: 0,
            submissions: 0,
            uvm_policy: "allow".into(),
        };
        let t = table(&[e]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("CGROUP"));
        assert!(lines[1].contains("/team-a"), "{t}");
        let cells: Vec<&str> = lines[1]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells,
            [
                "/team-a",
                "0",
                "1.0 GiB",
                "2.0 GiB",
                "1.0 GiB",
                "1",
                "2 / max",
                "30% w100, busy 27.5%, 1200 submitted, throttled 1.5 s"
            ],
            "{t}"
        );
    }

    /// An entry of one GPU, 1 GiB used of 2 GiB, with `dmem` (current, max).
    fn one_gpu(cgroup: &str, dmem: Option<(u64, Option<u64>)>) -> EntryStatus {
        EntryStatus {
            id: 7,
            cgroup: cgroup.into(),
            gpus: "all".into(),
            usage: vec![GpuUsage {
                memory_used: 1 << 30,
                memory_max: Some(2 << 30),
                memory_peak: 1 << 30,
                channels: 1,
                compute_weight: 100,
                dmem_current: dmem.map(|d| d.0),
                dmem_max: dmem.and_then(|d| d.1),
                ..Default::default()
            }],
            pinned: 0,
            drm_memory: 0,
            submissions: 0,
            uvm_policy: "allow".into(),
        }
    }

    /// The table's cells, row by row (header included).
    fn cells(table: &str) -> Vec<Vec<String>> {
        table
            .lines()
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn table_shows_dmem_only_where_a_cgroup_has_it() {
        let t = table(&[
            one_gpu("/a", Some((1 << 30, Some(4 << 30)))),
            one_gpu("/b", Some((0, None))),
            one_gpu("/c", None),
        ]);
        let rows = cells(&t);
        assert_eq!(rows[0].last().map(String::as_str), Some("DMEM"), "{t}");
        assert_eq!(
            rows[1].last().map(String::as_str),
            Some("1.0 GiB / 4.0 GiB"),
            "{t}"
        );
        assert_eq!(rows[2].last().map(String::as_str), Some("0 B / max"), "{t}");
        assert_eq!(rows[3].last().map(String::as_str), Some("-"), "{t}");
        // No dmem anywhere (a 6.12 host): no column.
        let t = table(&[one_gpu("/c", None)]);
        assert!(!t.contains("DMEM"), "{t}");
        assert_eq!(cells(&t)[1].len(), 8, "{t}");
    }

    #[test]
    fn collect_reads_dmem_of_the_entrys_cgroup() {
        use crate::dmem::tests::{Tree, TWO_GPUS};
        let t = Tree::new("status-collect", "dmem\n", Some(TWO_GPUS));
        t.cgroup(
            "/team-a",
            &[
                (
                    "dmem.current",
                    "nvidia/0000:00:1e.0 1073741824\nnvidia/0000:00:1f.0 0\n",
                ),
                (
                    "dmem.max",
                    "nvidia/0000:00:1e.0 4294967296\nnvidia/0000:00:1f.0 max\n",
                ),
            ],
        );
        t.cgroup("/team-b", &[]);
        let sysfs = t.sysfs();
        std::fs::write(sysfs.join("cgroups/control"), "7 /team-a\n8 /team-b\n").unwrap();
        for id in [7, 8] {
            let dir = sysfs.join(format!("cgroups/{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            for (file, text) in [
                ("memory.current", "gpu0 1073741824\ngpu1 0\ngpu2 0\n"),
                ("memory.max", "gpu0 max\ngpu1 max\ngpu2 max\n"),
                ("memory.peak", ""),
                ("memory.events", ""),
                ("channels.current", ""),
                ("channels.max", ""),
                ("gpus", "all\n"),
                ("pinned.current", "0\n"),
                ("drm.memory.current", "0\n"),
                ("submissions", "0\n"),
                ("uvm.policy", "allow\n"),
            ] {
                std::fs::write(dir.join(file), text).unwrap();
            }
        }
        let fg = Fakegpu::at(sysfs).unwrap();
        let all = collect(&fg, Some(&t.dmem())).unwrap();
        let dmem = |e: &EntryStatus| -> Vec<(u32, Option<u64>, Option<u64>)> {
            e.usage
                .iter()
                .map(|u| (u.gpu, u.dmem_current, u.dmem_max))
                .collect()
        };
        // gpu1 has no region; gpu2's limit is max.
        assert_eq!(
            dmem(&all[0]),
            [
                (0, Some(1 << 30), Some(4 << 30)),
                (1, None, None),
                (2, Some(0), None)
            ]
        );
        // /team-b has no dmem files.
        assert_eq!(
            dmem(&all[1]),
            [(0, None, None), (1, None, None), (2, None, None)]
        );
        let json = serde_json::to_value(&all[0]).unwrap();
        assert_eq!(json["usage"][0]["dmem_current"], 1u64 << 30);
        assert_eq!(json["usage"][0]["dmem_max"], 4u64 << 30);
        assert!(json["usage"][2]["dmem_max"].is_null());
        // Without dmem, nothing of it.
        let all = collect(&fg, None).unwrap();
        assert!(all[0].usage.iter().all(|u| u.dmem_current.is_none()));
    }

    #[test]
    fn compute_stat_lines_are_read_by_key() {
        let s = compute_stat(
            "gpu0 gpu_time_usec=12 gpu_share_pct=27.5 throttled_usec=3 submissions=40\ngpu1 gpu_time_usec=0 gpu_share_pct=- throttled_usec=0 submissions=0\n",
        );
        assert_eq!(
            s.get(&0),
            Some(&ComputeStat {
                gpu_time_usec: 12,
                share_permille: Some(275),
                throttled_usec: 3,
                submissions: 40
            })
        );
        assert_eq!(s.get(&1).and_then(|x| x.share_permille), None);
        // A module before GPU time and submissions: throttled time alone.
        assert_eq!(
            compute_stat("gpu0 throttled_usec=7\n")[&0].throttled_usec,
            7
        );
    }
}
