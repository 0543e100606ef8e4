//! `fakegpu-exporter`: Prometheus metrics of fakegpu.ko's cgroup entries, read from its sysfs
//! files at each scrape (the same reading `fakegpu status` does). A separate binary, built
//! with the `exporter` feature, so the OCI hook links no HTTP server. Listens on 127.0.0.1
//! by default; serves `/metrics` in the OpenMetrics text format (`prometheus-client`) over
//! `tiny_http`, one request at a time.

// The helper's files this binary shares; it uses part of them.
#[allow(dead_code)]
#[path = "../dmem.rs"]
mod dmem;
#[allow(dead_code)]
#[path = "../status.rs"]
mod status;
#[allow(dead_code)]
#[path = "../sysfs.rs"]
mod sysfs;
#[allow(dead_code)]
#[path = "../units.rs"]
mod units;

use clap::Parser;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::process::ExitCode;

/// Prometheus metrics of fakegpu's cgroups: GPU memory, channels, compute, pinned and DRM
/// memory, DRM submissions.
#[derive(Parser)]
#[command(version, max_term_width = 100)]
struct Args {
    /// Address to listen on (`HOST:PORT`).
    #[arg(long, default_value = "127.0.0.1:9835")]
    listen: String,
    /// Print one scrape's text and exit, instead of serving.
    #[arg(long)]
    once: bool,
}

/// The labels of a per-GPU series.
type GpuLabels = Vec<(&'static str, String)>;

/// One scrape: every entry's figures, in the exposition format.
fn scrape() -> Result<String, String> {
    let fg = sysfs::Fakegpu::open()?;
    // No dmem series yet: `fakegpu status` shows the kernel's dmem figures.
    let entries = status::collect(&fg, None)?;
    let mut registry = Registry::with_prefix("fakegpu");
    let gauge = |registry: &mut Registry, name: &str, help: &str| {
        let f = Family::<GpuLabels, Gauge>::default();
        registry.register(name, help, f.clone());
        f
    };
    let counter = |registry: &mut Registry, name: &str, help: &str| {
        let f = Family::<GpuLabels, Counter<f64>>::default();
        registry.register(name, help, f.clone());
        f
    };
    let used = gauge(
        &mut registry,
        "memory_used_bytes",
        "GPU memory charged to the cgroup",
    );
    let max = gauge(
        &mut registry,
        "memory_max_bytes",
        "The cgroup's GPU memory limit (absent: none)",
    );
    let peak = gauge(
        &mut registry,
        "memory_peak_bytes",
        "The most GPU memory ever charged to the cgroup",
    );
    let refused = counter(
        &mut registry,
        "memory_refusals",
        "GPU memory allocations the limit refused",
    );
    let channels = gauge(&mut registry, "channels", "GPU channels the cgroup holds");
    let channels_max = gauge(
        &mut registry,
        "channels_max",
        "The cgroup's channel limit (absent: none)",
    );
    let gpu_time = counter(
        &mut registry,
        "gpu_time_seconds",
        "GPU time of the cgroup's work, from the driver's utilisation samples",
    );
    let throttled = counter(
        &mut registry,
        "compute_throttled_seconds",
        "Time fakegpu held the cgroup's channel groups off the GPU",
    );
    let gpu_submissions = counter(
        &mut registry,
        "gpu_submissions",
        "GPFIFO entries the GPU consumed from the cgroup's channels, from their GPGet",
    );
    let pinned = gauge(
        &mut registry,
        "pinned_memory_bytes",
        "Pinned host memory charged to the cgroup",
    );
    let drm = gauge(
        &mut registry,
        "drm_memory_bytes",
        "DRM buffer memory charged to the cgroup",
    );
    let submissions = counter(
        &mut registry,
        "drm_submissions",
        "DRM submissions the cgroup made",
    );
    for e in &entries {
        let cg = vec![("cgroup", e.cgroup.clone())];
        pinned.get_or_create(&cg).set(to_i64(e.pinned));
        drm.get_or_create(&cg).set(to_i64(e.drm_memory));
        submissions.get_or_create(&cg).inc_by(e.submissions as f64);
        for u in &e.usage {
            let l = vec![("cgroup", e.cgroup.clone()), ("gpu", u.gpu.to_string())];
            used.get_or_create(&l).set(to_i64(u.memory_used));
            if let Some(m) = u.memory_max {
                max.get_or_create(&l).set(to_i64(m));
            }
            peak.get_or_create(&l).set(to_i64(u.memory_peak));
            refused.get_or_create(&l).inc_by(u.refused as f64);
            channels.get_or_create(&l).set(to_i64(u.channels));
            if let Some(m) = u.channels_max {
                channels_max.get_or_create(&l).set(to_i64(m));
            }
            gpu_time
                .get_or_create(&l)
                .inc_by(u.gpu_time_usec as f64 / 1e6);
            throttled
                .get_or_create(&l)
                .inc_by(u.throttled_usec as f64 / 1e6);
            gpu_submissions
                .get_or_create(&l)
                .inc_by(u.gpu_submissions as f64);
        }
    }
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| e.to_string())?;
    Ok(text)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The OpenMetrics content type Prometheus asks for and `encode` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn serve(listen: &str) -> Result<(), String> {
    let server = tiny_http::Server::http(listen).map_err(|e| format!("listen on {listen}: {e}"))?;
    eprintln!("fakegpu-exporter: serving /metrics on {listen}");
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = match (request.method(), path) {
            (tiny_http::Method::Get, "/metrics") => match scrape() {
                Ok(text) => {
                    let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                        .map_err(|()| "bad header".to_string())?;
                    tiny_http::Response::from_string(text).with_header(header)
                }
                Err(e) => tiny_http::Response::from_string(e).with_status_code(503),
            },
            (tiny_http::Method::Get, _) => {
                tiny_http::Response::from_string("fakegpu-exporter: see /metrics\n")
                    .with_status_code(404)
            }
            _ => tiny_http::Response::from_string("").with_status_code(405),
        };
        // A client that went away is its own problem.
        let _ = request.respond(response);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.once {
        scrape().map(|text| print!("{text}"))
    } else {
        serve(&args.listen)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fakegpu-exporter: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in of fakegpu.ko's sysfs with one entry.
    fn stand_in() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("fakegpu-exporter-{}", std::process::id()));
        let entry = dir.join("cgroups/77");
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(dir.join("cgroups/control"), "77 /team-a\n").unwrap();
        for (file, text) in [
            ("memory.current", "gpu0 41943040\n"),
            ("memory.max", "gpu0 67108864\n"),
            ("memory.peak", "gpu0 50331648\n"),
            ("memory.events", "gpu0 max=3\n"),
            ("channels.current", "gpu0 2\n"),
            ("channels.max", "gpu0 max\n"),
            ("compute.max", "gpu0 30000 100000\n"),
            ("compute.weight", "gpu0 100\n"),
            (
                "compute.stat",
                "gpu0 gpu_time_usec=1500000 gpu_share_pct=27.5 throttled_usec=250000 submissions=640\n",
            ),
            ("gpus", "all\n"),
            ("pinned.current", "4096\n"),
            ("drm.memory.current", "0\n"),
            ("submissions", "12\n"),
            ("uvm.policy", "allow\n"),
        ] {
            std::fs::write(entry.join(file), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_scrape_has_every_series_of_the_entry() {
        let dir = stand_in();
        std::env::set_var("FAKEGPU_SYSFS", &dir);
        let text = scrape().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for line in [
            r#"fakegpu_memory_used_bytes{cgroup="/team-a",gpu="0"} 41943040"#,
            r#"fakegpu_memory_max_bytes{cgroup="/team-a",gpu="0"} 67108864"#,
            r#"fakegpu_memory_peak_bytes{cgroup="/team-a",gpu="0"} 50331648"#,
            r#"fakegpu_memory_refusals_total{cgroup="/team-a",gpu="0"} 3.0"#,
            r#"fakegpu_channels{cgroup="/team-a",gpu="0"} 2"#,
            r#"fakegpu_gpu_time_seconds_total{cgroup="/team-a",gpu="0"} 1.5"#,
            r#"fakegpu_compute_throttled_seconds_total{cgroup="/team-a",gpu="0"} 0.25"#,
            r#"fakegpu_gpu_submissions_total{cgroup="/team-a",gpu="0"} 640.0"#,
            r#"fakegpu_pinned_memory_bytes{cgroup="/team-a"} 4096"#,
            r#"fakegpu_drm_submissions_total{cgroup="/team-a"} 12.0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        // No limit, no series.
        assert!(!text.contains("fakegpu_channels_max{"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
