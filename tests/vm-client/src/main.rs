//! `fakegpu-vmtest`: test cases and benchmarks that run inside the QEMU guest against the real
//! fakegpu.ko and in-tree drivers. `fakegpu-vmtest CASE` runs one case and exits 0 on pass;
//! the guest's suite runner (tests/vm/suite.sh) gives each case its own timeout.
//!
//! The nodes under test come from the environment the runner sets:
//! `FAKE_CARD`/`REAL_CARD` (a fake DRM primary node and the vgem node behind it),
//! `FAKE_ZERO`/`REAL_ZERO` (a generic front of /dev/zero), `FAKEGPU_INSMOD`/`FAKEGPU_RMMOD`
//! (shell commands that load and unload fakegpu with the suite's parameters), and the
//! nvsim nodes (see `nv_cases.rs`).

mod bench;
mod capability_cases;
mod cases;
mod cgroup_cases;
mod cgroup_util;
mod dmem_cases;
mod drm;
mod engine_cases;
mod exporter_cases;
mod failslab;
mod fuzz;
mod gpu_workspace;
mod launch_bench;
mod meter_cases;
mod nv_bench;
mod nv_cases;
mod proxy_cases;
mod share_cases;
mod stress;
mod submission_cases;
mod sys;
mod tenant_cases;
mod visibility_cases;

use std::process::ExitCode;

/// A test case: its name and body. A body returns Err with what went wrong.
pub type Case = (&'static str, fn() -> Result<(), String>);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprintln!(
            "usage: fakegpu-vmtest CASE | list | bench | bench-scale | fuzz | stress | \
             without-cap-sys-admin COMMAND [ARG...]"
        );
        return ExitCode::from(2);
    };
    match name.as_str() {
        "list" => {
            for (name, _) in all_cases().filter(|(n, _)| dmem_cases::runs_here(n)) {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        "list-proxied" => {
            for (name, _) in nv_cases::ALL {
                if !nv_cases::DIRECT_ONLY.iter().any(|(n, _)| n == name) {
                    println!("{name}");
                }
            }
            ExitCode::SUCCESS
        }
        "without-cap-sys-admin" => {
            let e = sys::exec_without_cap_sys_admin(&args[1..]);
            eprintln!("without-cap-sys-admin: {e}");
            ExitCode::from(127)
        }
        "bench-scale" => match nv_bench::run_scale() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-scale: {e}");
                ExitCode::FAILURE
            }
        },
        "fuzz" => match fuzz::run_long() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fuzz: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        "fuzz-child" => match fuzz::child_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fuzz-child: {e}");
                ExitCode::FAILURE
            }
        },
        "stress" => match stress::run_long() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stress: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        "stress-child" => match stress::child_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stress-child: {e}");
                ExitCode::FAILURE
            }
        },
        "stress-exec" => {
            stress::exec_main();
            ExitCode::SUCCESS
        }
        "bench" => match bench::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::FAILURE
            }
        },
        _ => match all_cases().find(|(n, _)| n == name) {
            Some((_, body)) => match body() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{name}: FAILED: {e}");
                    ExitCode::FAILURE
                }
            },
            None => {
                eprintln!("unknown case {name}; see `fakegpu-vmtest list`");
                ExitCode::from(2)
            }
        },
    }
}

/// Every case: the pass-through cases, the nvsim cases, fakegpu's NVIDIA proxy cases, then
/// the per-cgroup entries, GPU visibility, metering and many tenants at once.
fn all_cases() -> impl Iterator<Item = &'static Case> {
    cases::ALL
        .iter()
        .chain(nv_cases::ALL)
        .chain(engine_cases::ALL)
        .chain(share_cases::ALL)
        .chain(submission_cases::ALL)
        .chain(proxy_cases::ALL)
        .chain(cgroup_cases::ALL)
        .chain(visibility_cases::ALL)
        .chain(meter_cases::ALL)
        .chain(dmem_cases::ALL)
        .chain(exporter_cases::ALL)
        .chain(capability_cases::ALL)
        .chain(tenant_cases::ALL)
        .chain(fuzz::ALL)
        .chain(stress::ALL)
        .chain(failslab::ALL)
}

/// The value of an environment variable the runner must set.
pub fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} not set"))
}

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
