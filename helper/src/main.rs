//! `fakegpu`: the userspace helper of fakegpu.ko. It puts fake GPUs into containers as an
//! OCI hook, sets and shows per-cgroup quotas, and writes a CDI spec.

mod cdi;
mod config;
mod device_cgroup;
mod dmem;
mod hook;
mod host_gpus;
mod mounts;
mod oci;
mod quota;
mod request;
mod status;
mod sysfs;
mod units;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// fakegpu's helper: GPUs with limits for containers, through fakegpu.ko's fake nodes.
///
/// fakegpu.ko puts /dev/fakegpu0..N, /dev/fakegpuctl and /dev/fakegpu-uvm in front of
/// NVIDIA's nodes and meters GPU memory per cgroup. This tool makes containers use them
/// (as an OCI hook, or through CDI) and manages the limits.
#[derive(Parser)]
#[command(version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as an OCI hook (reads the container state on stdin): `prestart` or
    /// `createRuntime` sets the container up, `poststop` cleans up.
    ///
    /// Which GPUs and limits: annotations fakegpu.io/devices, fakegpu.io/memory.max,
    /// fakegpu.io/channels.max (and, if the host config allows, the env variables
    /// FAKEGPU_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES, FAKEGPU_MEMORY_LIMIT,
    /// CUDA_DEVICE_MEMORY_LIMIT), within the host config's caps. See container-hooks/.
    Hook {
        /// The stage the runtime runs this hook in.
        stage: hook::Stage,
        /// The operator's configuration.
        #[arg(long, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// The runtime made the device nodes from fakegpu's CDI spec: only write limits.
        #[arg(long)]
        cdi: bool,
        /// Print what would be done and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set, show or lift a cgroup's limits by hand.
    Quota {
        #[command(subcommand)]
        action: QuotaAction,
    },
    /// What each cgroup with an entry uses and may use.
    Status {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Container Device Interface support.
    Cdi {
        #[command(subcommand)]
        action: CdiAction,
    },
    /// Show the fake nodes fakegpu.ko would create for a `devices=` value.
    Fronts {
        /// MAJOR:MINOR[,MAJOR:MINOR...]
        spec: String,
    },
}

#[derive(Subcommand)]
enum QuotaAction {
    /// Make the cgroup's entry if needed and set the given limits (others stay as they are).
    Set {
        /// The cgroup: /team-a or /sys/fs/cgroup/team-a.
        #[arg(long)]
        cgroup: String,
        /// GPU memory per GPU: 8G, max, or gpu0=8G,gpu1=4G. Where the kernel has the dmem
        /// cgroup controller, also the cgroup's dmem.max in the GPUs' regions (enabling
        /// +dmem above it); if that fails, a warning, and fakegpu's limit still applies.
        #[arg(long)]
        memory: Option<String>,
        /// GPFIFO channels per GPU: 16, max, or gpu0=16,gpu1=8.
        #[arg(long)]
        channels: Option<String>,
        /// The GPUs the cgroup may see: all, none, or minors such as 0,2-3.
        #[arg(long)]
        gpus: Option<String>,
        /// UVM managed memory: allow or deny.
        #[arg(long)]
        uvm: Option<String>,
        /// Driver capabilities: compute, utility, graphics, video (a comma list), all or none.
        #[arg(long)]
        capabilities: Option<String>,
        /// Process lists of the cgroup's GPUs: own (its processes) or all (a monitoring
        /// agent's cgroup).
        #[arg(long)]
        processes: Option<String>,
        /// Compute cap per GPU, a share of its time: 30%, max, or gpu0=30%,gpu1=50%.
        #[arg(long)]
        compute: Option<String>,
        /// Compute weight per GPU for sharing what caps leave, 1-10000 (default 100): 300,
        /// or gpu0=300,gpu1=100.
        #[arg(long)]
        compute_weight: Option<String>,
    },
    /// Show the cgroup's limits (and its dmem.max and dmem.current, if it has them).
    Get {
        /// The cgroup.
        #[arg(long)]
        cgroup: String,
    },
    /// Lift the cgroup's limits (its dmem.max in fakegpu's regions too) and remove its entry.
    Clear {
        /// The cgroup.
        #[arg(long)]
        cgroup: String,
    },
}

#[derive(Subcommand)]
enum CdiAction {
    /// Print a CDI spec for the fake nodes fakegpu.ko made (save it as /etc/cdi/fakegpu.json).
    Generate {
        /// The helper's path, for the hooks the spec adds.
        #[arg(long, default_value = "/usr/local/bin/fakegpu")]
        helper: String,
    },
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Hook {
            stage,
            config,
            cdi,
            dry_run,
        } => hook::run(
            stage,
            &hook::Options {
                config,
                cdi,
                dry_run,
            },
        ),
        Command::Quota { action } => {
            let fg = sysfs::Fakegpu::open()?;
            let dmem = open_dmem(&fg);
            match action {
                QuotaAction::Set {
                    cgroup,
                    memory,
                    channels,
                    gpus,
                    uvm,
                    capabilities,
                    processes,
                    compute,
                    compute_weight,
                } => {
                    let limits = quota::Limits {
                        memory,
                        channels,
                        gpus,
                        uvm,
                        capabilities,
                        processes,
                        compute,
                        compute_weight,
                    };
                    let cgroup = quota::cgroup_path(&cgroup)?;
                    warn_all(&quota::set(&fg, dmem.as_ref(), &cgroup, &limits)?);
                    Ok(())
                }
                QuotaAction::Get { cgroup } => {
                    let cgroup = quota::cgroup_path(&cgroup)?;
                    print!("{}", quota::get(&fg, dmem.as_ref(), &cgroup)?);
                    Ok(())
                }
                QuotaAction::Clear { cgroup } => {
                    let cgroup = quota::cgroup_path(&cgroup)?;
                    let (message, warnings) = quota::clear(&fg, dmem.as_ref(), &cgroup)?;
                    println!("{message}");
                    warn_all(&warnings);
                    Ok(())
                }
            }
        }
        Command::Status { json } => {
            let fg = sysfs::Fakegpu::open()?;
            let entries = status::collect(&fg, open_dmem(&fg).as_ref())?;
            if json {
                let text = serde_json::to_string_pretty(&entries).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                print!("{}", status::table(&entries));
            }
            Ok(())
        }
        Command::Cdi {
            action: CdiAction::Generate { helper },
        } => {
            let fg = sysfs::Fakegpu::open()?;
            println!("{}", cdi::generate(&cdi_inputs(&fg.devices()?, helper)));
            Ok(())
        }
        Command::Fronts { spec } => {
            let table = policy::fronts::FrontTable::parse(&spec)
                .map_err(|e| format!("devices={spec}: {e}"))?;
            for f in table.iter() {
                println!("{} -> real {}", f.dev_path().as_str(), f.real);
            }
            Ok(())
        }
    }
}

/// The dmem controller, or `None` after a warning on stderr if fakegpu's region list is
/// unreadable (the command goes on with fakegpu's own limits).
fn open_dmem(fg: &sysfs::Fakegpu) -> Option<dmem::Dmem> {
    dmem::Dmem::open_or_warn(fg, |w| eprintln!("fakegpu: {w}"))
}

/// Warnings on stderr: what was done still stands.
fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("fakegpu: {w}");
    }
}

/// The CDI spec's inputs from the fake nodes fakegpu.ko made.
fn cdi_inputs(nodes: &[sysfs::FakeNode], helper: String) -> cdi::Inputs {
    let cdi_node = |n: &sysfs::FakeNode, path: String| cdi::Node {
        host_path: n.path.clone(),
        container_path: path,
        major: n.major,
        minor: n.minor,
    };
    let mut inputs = cdi::Inputs {
        gpus: Vec::new(),
        host: host_gpus::read(std::path::Path::new(host_gpus::DRIVER_PROCFS)),
        common: Vec::new(),
        helper,
    };
    for n in nodes {
        match (n.nv_role(), n.nv_path()) {
            (Some(sysfs::NvRole::Gpu(g)), Some(path)) => inputs.gpus.push((g, cdi_node(n, path))),
            (Some(_), Some(path)) => inputs.common.push(cdi_node(n, path)),
            _ => {}
        }
    }
    inputs
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let what = match &cli.command {
        Command::Hook { stage, .. } => format!("fakegpu hook {}", stage.name()),
        _ => "fakegpu".into(),
    };
    let cli_is_hook = matches!(cli.command, Command::Hook { .. });
    let t0 = std::time::Instant::now();
    let result = run(cli);
    // FAKEGPU_HOOK_TIMING in a hook's env: how long the hook took (the benchmark's figure),
    // also in the kernel log, since runtimes drop a successful hook's stderr.
    if std::env::var_os("FAKEGPU_HOOK_TIMING").is_some() {
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        hook::log(&format!("{what}: done in {ms:.2} ms"));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A hook's failure also goes to the kernel log: some runtimes (crun) show only its
        // exit code.
        Err(e) if cli_is_hook => {
            hook::log(&format!("{what}: {e}"));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::FAILURE
        }
    }
}
