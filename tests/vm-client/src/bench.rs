//! `fakegpu-vmtest bench`: ns/op of a cheap ioctl and of a buffer create+destroy cycle,
//! directly on the real node and through the fake node, interleaved in rounds so drift in
//! the (emulated) machine hits both alike. Prints figures; asserts nothing.

use crate::drm;
use crate::env;
use abi::drm::DRM_CAP_PRIME;
use std::os::fd::OwnedFd;
use std::time::Instant;

const ROUNDS: usize = 7;

fn time_per_op(iters: u32, mut op: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    let t = Instant::now();
    for _ in 0..iters {
        op()?;
    }
    Ok(t.elapsed().as_nanos() as f64 / f64::from(iters))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn compare(
    what: &str,
    iters: u32,
    real: &OwnedFd,
    fake: &OwnedFd,
    op: fn(&OwnedFd) -> Result<(), String>,
) -> Result<(), String> {
    // Warm-up, then interleaved rounds.
    time_per_op(iters / 10 + 1, || op(real))?;
    time_per_op(iters / 10 + 1, || op(fake))?;
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which goes first, so neither always runs on the other's leftovers.
        if round % 2 == 0 {
            direct.push(time_per_op(iters, || op(real))?);
            through.push(time_per_op(iters, || op(fake))?);
        } else {
            through.push(time_per_op(iters, || op(fake))?);
            direct.push(time_per_op(iters, || op(real))?);
        }
    }
    println!("  direct rounds: {direct:.0?}\n  fakegpu rounds: {through:.0?}");
    let (d, f) = (median(direct), median(through));
    println!(
        "BENCH {what}: direct {d:.0} ns/op, through fakegpu {f:.0} ns/op, ratio {:.3} ({ROUNDS} rounds x {iters} ops, medians)",
        f / d
    );
    Ok(())
}

fn get_cap(fd: &OwnedFd) -> Result<(), String> {
    drm::get_cap(fd, DRM_CAP_PRIME)
        .map(|_| ())
        .map_err(|e| format!("GET_CAP: {e}"))
}

fn create_destroy(fd: &OwnedFd) -> Result<(), String> {
    let bo = drm::create_dumb(fd, 64, 64).map_err(|e| format!("CREATE_DUMB: {e}"))?;
    drm::destroy_dumb(fd, bo.handle).map_err(|e| format!("DESTROY_DUMB: {e}"))
}

/// Runs the DRM benchmarks on `REAL_CARD` and `FAKE_CARD`, then the NVIDIA ones.
pub fn run() -> Result<(), String> {
    let open = |var: &str| -> Result<OwnedFd, String> {
        let path = env(var)?;
        crate::sys::open_rw(&path).map_err(|e| format!("open {path}: {e}"))
    };
    let (real, fake) = (open("REAL_CARD")?, open("FAKE_CARD")?);
    compare("ioctl GET_CAP", 20000, &real, &fake, get_cap)?;
    compare(
        "dumb create+destroy 16KiB",
        2000,
        &real,
        &fake,
        create_destroy,
    )?;
    crate::nv_bench::run()
}
