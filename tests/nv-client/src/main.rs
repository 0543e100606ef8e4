//! `nv-client`: drives the NVIDIA driver ABI the way libcuda does at start-up, then runs one
//! scripted scenario and prints its outcome as one JSON line. It takes the node paths as
//! options, so the same client runs against nvsim directly, through fakegpu, and inside
//! containers.
//!
//! ```text
//! nv-client [--ctl PATH] [--gpu PATH] [--uvm PATH] SCENARIO [BYTES|COUNT]
//!   startup          version check, CARD_INFO, client/device/subdevice, FB info, UVM setup
//!   alloc BYTES      framebuffer memory (class 0x40), then free it
//!   vidheap BYTES    framebuffer memory through RM_VID_HEAP_CONTROL ALLOC_SIZE, then FREE
//!   map BYTES        system memory (0x3E), mapped through a new nvidiactl fd and touched
//!   channels COUNT   a channel group and COUNT GPFIFO channels
//!   leak BYTES       framebuffer memory, then exit without freeing anything
//!   hold BYTES       framebuffer memory, print, then wait to be killed
//! ```
//! Exit status 0 when every call returned NV_OK.

use abi::ioc::{ioc, IOC_READ, IOC_WRITE};
use abi::nv_family::DriverFamily;
use abi::nv_frontend::*;
use abi::nv_uvm::{NvProcessorUuid, UvmInitializeParams, UvmRegisterGpuParams};
use nv_client::ioctl;
use nv_client::rm::{self, RmResult};
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;

/// Device handle, subdevice handle and the first object handle scenarios use.
const DEVICE: u32 = 0xd0;
const SUBDEVICE: u32 = 0x5d0;
const FIRST_OBJECT: u32 = 0x1000;

struct Args {
    ctl: String,
    gpu: String,
    uvm: String,
    scenario: String,
    amount: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ctl: "/dev/nvidiactl".into(),
        gpu: "/dev/nvidia0".into(),
        uvm: "/dev/nvidia-uvm".into(),
        scenario: String::new(),
        amount: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ctl" => args.ctl = it.next().ok_or("--ctl needs a path")?,
            "--gpu" => args.gpu = it.next().ok_or("--gpu needs a path")?,
            "--uvm" => args.uvm = it.next().ok_or("--uvm needs a path")?,
            s if args.scenario.is_empty() => args.scenario = s.into(),
            n => args.amount = n.parse().map_err(|_| format!("not a number: {n}"))?,
        }
    }
    if args.scenario.is_empty() {
        return Err("no scenario (startup, alloc, vidheap, map, channels, leak)".into());
    }
    Ok(args)
}

fn open(path: &str) -> Result<OwnedFd, String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| format!("open {path}: {e}"))
}

fn nv_cmd(nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, NV_IOCTL_MAGIC, nr, size)
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The JSON line being built: `"key":value` pairs.
#[derive(Default)]
struct Json(String);

impl Json {
    fn field(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let sep = if self.0.is_empty() { "" } else { "," };
        let _ = write!(self.0, "{sep}\"{key}\":{value}");
        self
    }
    fn text(&mut self, key: &str, value: &str) -> &mut Self {
        let escaped: String = value.chars().filter(|c| *c != '"' && *c != '\\').collect();
        self.field(key, format!("\"{escaped}\""))
    }
}

/// What start-up established.
struct Session {
    ctl: OwnedFd,
    _gpu: OwnedFd,
    client: u32,
    /// The family of the driver's version, whose layouts the calls take.
    family: &'static DriverFamily,
}

/// libcuda's start-up on the RM side: version, cards, client, device, subdevice.
fn start(args: &Args, out: &mut Json) -> Result<Session, String> {
    let ctl = open(&args.ctl)?;
    let mut v = NvIoctlRmApiVersion {
        cmd: NV_RM_API_VERSION_CMD_QUERY,
        ..Default::default()
    };
    ioctl(&ctl, nv_cmd(esc::CHECK_VERSION_STR, 72), &mut v)
        .map_err(|e| format!("version query: errno {e}"))?;
    let version = c_string(&v.version_string);
    let mut strict = NvIoctlRmApiVersion {
        cmd: NV_RM_API_VERSION_CMD_STRICT,
        version_string: v.version_string,
        ..Default::default()
    };
    ioctl(&ctl, nv_cmd(esc::CHECK_VERSION_STR, 72), &mut strict)
        .map_err(|e| format!("version check: errno {e}"))?;
    out.text("driver_version", &version);

    let mut cards = vec![0u8; 72 * 32];
    // SAFETY: `cards` is a writable buffer of the size the command encodes.
    let r = unsafe {
        libc::ioctl(
            ctl.as_raw_fd(),
            nv_cmd(esc::CARD_INFO, cards.len()) as libc::c_ulong,
            cards.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err("CARD_INFO failed".into());
    }
    let gpus = cards
        .chunks_exact(72)
        .filter_map(abi::pod::read_pod::<NvIoctlCardInfo>)
        .filter(|c| c.valid != 0)
        .count();
    out.field("gpus", gpus);

    // The device allocation requires the GPU's node open in this process.
    let gpu = open(&args.gpu)?;
    let client = rm::alloc_client(&ctl)
        .ok()
        .map_err(|e| format!("client: {e}"))?;
    let instance = device_instance(&args.gpu);
    out.field("device_instance", instance);
    rm::alloc_device(&ctl, client, DEVICE, instance)
        .ok()
        .map_err(|e| format!("device: {e}"))?;
    rm::alloc(&ctl, client, DEVICE, SUBDEVICE, 0x2080, None)
        .ok()
        .map_err(|e| format!("subdevice: {e}"))?;
    out.text("client", &format!("{client:#x}"));
    Ok(Session {
        ctl,
        _gpu: gpu,
        client,
        family: DriverFamily::nearest(&version),
    })
}

fn fb_info(s: &Session, out: &mut Json) -> Result<(), String> {
    let (total, free) = rm::fb_total_free_kib(&s.ctl, s.client, SUBDEVICE, s.family)
        .ok()
        .map_err(|e| format!("FB_GET_INFO_V2: {e}"))?;
    out.field("fb_total_mib", total / 1024)
        .field("fb_free_mib", free / 1024);
    Ok(())
}

/// The device instance of the GPU at `path`: its minor (nvsim numbers them alike), the
/// digits that end the node's path (`/dev/nvidia1`, `/dev/fakegpu1`); 0 if none.
fn device_instance(path: &str) -> u32 {
    let stem = path.trim_end_matches(|c: char| c.is_ascii_digit());
    path[stem.len()..].parse().unwrap_or(0)
}

/// UVM start-up: initialise a VA space and register the GPU opened (UUID from the simulated
/// GPU naming: "nvsimgpu" and the minor).
fn uvm_start(args: &Args, out: &mut Json) -> Result<(), String> {
    let uvm = open(&args.uvm)?;
    let mut init = UvmInitializeParams::default();
    ioctl(&uvm, 0x3000_0001, &mut init).map_err(|e| format!("UVM_INITIALIZE: errno {e}"))?;
    if init.rm_status != 0 {
        return Err(format!("UVM_INITIALIZE: status {:#x}", init.rm_status));
    }
    let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
    uuid[15] = device_instance(&args.gpu) as u8;
    let mut reg = UvmRegisterGpuParams {
        gpu_uuid: NvProcessorUuid { uuid },
        rm_ctrl_fd: -1,
        ..Default::default()
    };
    ioctl(&uvm, 37, &mut reg).map_err(|e| format!("UVM_REGISTER_GPU: errno {e}"))?;
    out.text("uvm_register_gpu", &format!("{:#x}", reg.rm_status));
    if reg.rm_status != 0 {
        return Err(format!("UVM_REGISTER_GPU: status {:#x}", reg.rm_status));
    }
    Ok(())
}

fn status_of<T: Copy + Default>(r: RmResult<T>) -> String {
    match r {
        RmResult::Status(s, _) => format!("\"{s:#x}\""),
        RmResult::Errno(e) => format!("\"errno {e}\""),
    }
}

fn run(args: &Args, out: &mut Json) -> Result<(), String> {
    out.text("scenario", &args.scenario);
    let s = start(args, out)?;
    match args.scenario.as_str() {
        "startup" => {
            fb_info(&s, out)?;
            uvm_start(args, out)
        }
        "alloc" | "leak" | "hold" => {
            let r = rm::alloc_memory(&s.ctl, s.client, DEVICE, FIRST_OBJECT, 0x40, args.amount);
            out.field("alloc_status", status_of(r));
            let size = r.ok()?;
            out.field("size", size);
            fb_info(&s, out)?;
            if args.scenario == "leak" {
                // Exit holding everything: closing the files must free it.
                return Ok(());
            }
            if args.scenario == "hold" {
                // Wait holding everything, for a test to kill the process.
                println!("{{{}}}", out.0);
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            rm::free(&s.ctl, s.client, DEVICE, FIRST_OBJECT).ok()?;
            rm::free(&s.ctl, s.client, s.client, s.client).ok()
        }
        "vidheap" => {
            use abi::nv_rm::vid_heap as vh;
            let call = rm::VidHeap {
                function: vh::FUNCTION_ALLOC_SIZE,
                size: args.amount,
                ..Default::default()
            };
            let r = rm::vid_heap(&s.ctl, s.client, DEVICE, call);
            out.field("alloc_status", status_of(r));
            let (handle, size, _, _) = r.ok()?;
            out.field("size", size);
            fb_info(&s, out)?;
            let free = rm::VidHeap {
                function: vh::FUNCTION_FREE,
                memory: handle,
                ..Default::default()
            };
            rm::vid_heap(&s.ctl, s.client, DEVICE, free).ok()?;
            rm::free(&s.ctl, s.client, s.client, s.client).ok()
        }
        "map" => {
            let size =
                rm::alloc_memory(&s.ctl, s.client, DEVICE, FIRST_OBJECT, 0x3e, args.amount).ok()?;
            // libcuda maps each allocation through a new nvidiactl file.
            let map_fd = open(&args.ctl)?;
            rm::map_memory(
                &s.ctl,
                s.client,
                DEVICE,
                FIRST_OBJECT,
                0,
                size,
                map_fd.as_raw_fd(),
            )
            .ok()
            .map_err(|e| format!("RM_MAP_MEMORY: {e}"))?;
            let len = usize::try_from(size).map_err(|e| e.to_string())?;
            // SAFETY: a fresh shared mapping of `len` bytes chosen by the kernel.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    map_fd.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(format!("mmap: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: `ptr..ptr+len` is mapped read-write until the munmap below.
            let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) };
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (i % 253) as u8;
            }
            let touched = bytes.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8);
            // SAFETY: unmapping what was mapped above.
            unsafe { libc::munmap(ptr, len) };
            out.field("size", size).field("touched", touched);
            rm::free(&s.ctl, s.client, s.client, s.client).ok()
        }
        "channels" => {
            rm::alloc(&s.ctl, s.client, DEVICE, FIRST_OBJECT, 0xa06c, None)
                .ok()
                .map_err(|e| format!("channel group: {e}"))?;
            let mut made = 0;
            for i in 0..args.amount {
                let h = FIRST_OBJECT + 1 + i as u32;
                // NV_CHANNEL_ALLOC_PARAMS, zeroed: no GPFIFO or USERD, engine GR0.
                let mut params = [0u8; abi::nv_rm::channel_alloc_params::SIZE];
                if rm::alloc(&s.ctl, s.client, FIRST_OBJECT, h, 0xc86f, Some(&mut params))
                    .ok()
                    .is_ok()
                {
                    made += 1;
                }
            }
            out.field("channels", made);
            rm::free(&s.ctl, s.client, s.client, s.client).ok()
        }
        other => Err(format!("unknown scenario {other}")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nv-client: {e}");
            eprintln!("usage: nv-client [--ctl PATH] [--gpu PATH] [--uvm PATH] startup|alloc|vidheap|map|channels|leak|hold [N]");
            return ExitCode::from(2);
        }
    };
    let mut out = Json::default();
    let result = run(&args, &mut out);
    match &result {
        Ok(()) => out.field("ok", true),
        Err(e) => out.field("ok", false).text("error", e),
    };
    println!("{{{}}}", out.0);
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
