//! `fakegpu-exporter` (Prometheus metrics): scraped over HTTP while a cgroup holds GPU
//! memory, its series carry the live `memory.current`; and a real Prometheus 3 scraping it
//! (Debian sid's, `scripts/fetch-prometheus.sh`) answers the same value to a query of its
//! HTTP API.

use crate::cgroup_util::TestCgroup;
use crate::ensure;
use crate::meter_cases::{per_gpu, Session};
use crate::Case;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const ALL: &[Case] = &[("exporter_serves_live_memory", exporter_serves_live_memory)];

const EXPORTER: &str = "/fakegpu/bin/fakegpu-exporter";
const LISTEN: &str = "127.0.0.1:9835";
const MIB: u64 = 1 << 20;

/// A child process (the exporter, Prometheus), killed on drop.
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PROMETHEUS: &str = "/fakegpu/bin/prometheus";
const PROMETHEUS_LISTEN: &str = "127.0.0.1:9090";
const PROMETHEUS_DIR: &str = "/tmp/prometheus";

/// GET `path` from the exporter: the status line and the body.
fn get(path: &str) -> Result<(String, String), String> {
    get_from(LISTEN, path)
}

/// GET `path` from the server at `at`: the status line and the body.
fn get_from(at: &str, path: &str) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(at).map_err(|e| format!("connect {at}: {e}"))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {at}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    ))
}

/// The value of the series `name{labels}` in an exposition.
fn series(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Prometheus, scraping the exporter every second; killed on drop.
fn start_prometheus() -> Result<KilledOnDrop, String> {
    std::fs::create_dir_all(PROMETHEUS_DIR).map_err(|e| e.to_string())?;
    let config = format!("{PROMETHEUS_DIR}/prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fakegpu\n    static_configs:\n      - targets: ['{LISTEN}']\n"
        ),
    )
    .map_err(|e| format!("{config}: {e}"))?;
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={config}"))
        .arg(format!("--storage.tsdb.path={PROMETHEUS_DIR}/data"))
        .arg(format!("--web.listen-address={PROMETHEUS_LISTEN}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{PROMETHEUS}: {e}"))?;
    Ok(KilledOnDrop(child))
}

/// The value Prometheus's query API answers for `query` (an instant vector of one series),
/// if it has one.
fn prometheus_value(query: &str) -> Result<Option<f64>, String> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = get_from(PROMETHEUS_LISTEN, &format!("/api/v1/query?query={encoded}"))?;
    if !status.contains(" 200") {
        return Err(format!("the query answered {status:?}: {body}"));
    }
    // `"value":[TIME,"VALUE"]` of the first result.
    Ok(body
        .split_once("\"value\":[")
        .and_then(|(_, rest)| rest.split_once(",\"")?.1.split_once('"'))
        .and_then(|(v, _)| v.parse().ok()))
}

fn exporter_serves_live_memory() -> Result<(), String> {
    let _exporter = KilledOnDrop(
        Command::new(EXPORTER)
            .args(["--listen", LISTEN])
            .spawn()
            .map_err(|e| format!("{EXPORTER}: {e}"))?,
    );
    let start = Instant::now();
    while TcpStream::connect(LISTEN).is_err() {
        ensure(start.elapsed() < Duration::from_secs(10), || {
            format!("the exporter did not listen on {LISTEN} in 10 s")
        })?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let cg = TestCgroup::create("/fakegpu-exporter")?;
    cg.set("memory.max", "gpu0 256M")?;
    cg.enter()?;
    let s = Session::open(0)?;
    ensure(s.alloc(0x100, 48 * MIB) == 0, || "48 MiB refused".into())?;
    let current = per_gpu(&cg, "memory.current", 0)?;
    let (status, body) = get("/metrics")?;
    ensure(status.contains(" 200"), || {
        format!("/metrics answered {status:?}")
    })?;
    let label = r#"{cgroup="/fakegpu-exporter",gpu="0"}"#;
    let used = series(&body, &format!("fakegpu_memory_used_bytes{label}"));
    let max = series(&body, &format!("fakegpu_memory_max_bytes{label}"));
    println!("FIGURE exporter: memory.current {current}, fakegpu_memory_used_bytes {used:?}");
    ensure(used == Some(current as f64) && current == 48 * MIB, || {
        format!("memory.current is {current}, the series {used:?}:\n{body}")
    })?;
    ensure(max == Some((256 * MIB) as f64), || {
        format!("fakegpu_memory_max_bytes is {max:?}")
    })?;
    // A real Prometheus scrapes the same value.
    if std::path::Path::new(PROMETHEUS).exists() {
        let _prometheus = start_prometheus()?;
        let query = r#"fakegpu_memory_used_bytes{cgroup="/fakegpu-exporter",gpu="0"}"#;
        let start = Instant::now();
        let seen = loop {
            let v = prometheus_value(query).ok().flatten();
            if v == Some(current as f64) || start.elapsed() > Duration::from_secs(120) {
                break v;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        println!(
            "FIGURE exporter: Prometheus answered {seen:?} for {query} {:.1} s after it started",
            start.elapsed().as_secs_f64()
        );
        ensure(seen == Some(current as f64), || {
            format!("Prometheus answered {seen:?}, memory.current is {current}")
        })?;
    } else {
        println!("NOTICE: {PROMETHEUS} is not in the guest: no Prometheus scraped the exporter");
    }
    // Live: the next scrape follows a free.
    s.free(0x100)?;
    let (_, body) = get("/metrics")?;
    let used = series(&body, &format!("fakegpu_memory_used_bytes{label}"));
    ensure(used == Some(0.0), || {
        format!("after the free the series is {used:?}")
    })?;
    let (status, _) = get("/nothing")?;
    ensure(status.contains(" 404"), || {
        format!("/nothing answered {status:?}")
    })
}
