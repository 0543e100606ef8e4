//! `fakegpu-exporter` (Prometheus metrics): scraped over HTTP while a cgroup holds GPU
//! memory, its series carry the live `memory.current`.

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

/// The exporter, killed on drop.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET `path` from the exporter: the status line and the body.
fn get(path: &str) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(LISTEN).map_err(|e| format!("connect {LISTEN}: {e}"))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {LISTEN}\r\n\r\n").map_err(|e| e.to_string())?;
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

fn exporter_serves_live_memory() -> Result<(), String> {
    let _exporter = Exporter(
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
