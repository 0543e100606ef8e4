//! The no_std decoders of the driver ABIs on arbitrary bytes, as a tenant controls them:
//! the proxy's routing of escapes and UVM commands, nvsim's frontend and control answers,
//! the meter's reading of allocation parameters, the FB_GET_INFO rewriting, DRM buffer
//! sizes, the tracer and the visibility filter. None may panic, and the offsets they give
//! must lie inside the buffers they were given.
#![no_main]

use abi::drm;
use policy::gpu_set::Visibility;
use abi::ioc;
use policy::nv_discovery;
use abi::nv_frontend::{unwrap_xfer, NvIoctlXfer};
use policy::nv_meter;
use policy::nv_proxy::{self, FilterMode};
use abi::nv_rm;
use abi::nv_trace;
use abi::nv_uvm;
use policy::nv_visibility;
use nvsim_model::ctrl;
use nvsim_model::frontend::{self, Node, SimGpu};
use abi::pod::read_pod;
use libfuzzer_sys::fuzz_target;

fn u32_at(data: &[u8], at: usize) -> u32 {
    data.get(at..).and_then(read_pod::<u32>).unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&nr, rest)) = data.split_first() else {
        return;
    };
    let cmd = u32_at(rest, 0);
    let class_id = u32_at(rest, 4);
    let body = rest.get(8..).unwrap_or(&[]);
    let mut buf = body.to_vec();

    for mode in [FilterMode::Strict, FilterMode::Permissive] {
        let _ = nv_proxy::route_escape(nr, body.len(), body, mode);
        let _ = nv_proxy::route_uvm(cmd, mode);
    }
    let _ = nv_proxy::reads_params(nr);
    let _ = nv_proxy::alloc_kind(class_id);
    let _ = nv_proxy::uvm_params_size(cmd);
    let _ = nv_uvm::uvm_command(cmd);
    let _ = nv_rm::node_allows(nr, cmd & 1 == 0, Some(class_id));

    // ioctl numbers: decoding what was encoded gives the parts back.
    let parts = ioc::decode(cmd);
    let again = ioc::ioc(parts.dir, parts.ty, parts.nr, parts.size as usize);
    assert_eq!(ioc::decode(again).nr, parts.nr);

    for node in [Node::Ctl, Node::Gpu(0), Node::Gpu(cmd)] {
        let _ = frontend::classify(nr, body.len(), node);
    }
    if let Some(xfer) = read_pod::<NvIoctlXfer>(body) {
        if let Ok((_, size, _)) = unwrap_xfer(core::mem::size_of::<NvIoctlXfer>(), &xfer) {
            assert_eq!(size, xfer.size as usize);
        }
    }
    // Two GPUs as nvsim makes them by default.
    let gpus: [SimGpu; 2] = core::array::from_fn(|i| SimGpu {
        minor: i as u32,
        bus: i as u8 + 1,
        device_id: 0x2331,
        fb_size: 4 << 30,
    });
    let _ = frontend::fill_card_info(&mut buf.clone(), &gpus);

    // The meter: what it reads of an allocation's parameters, and the copy it makes.
    let _ = nv_meter::alloc_params_size(class_id);
    let _ = nv_meter::alloc_copy_size(class_id, cmd);
    let _ = nv_meter::classify_alloc(class_id, body);
    let _ = nv_meter::allocated_size(class_id, body);
    let _ = nv_meter::classify_vid_heap(body);
    let _ = nv_meter::at_least_charged(u64::from(cmd) << 12);
    let (limit, headroom) = (u64::from(cmd) << 10, u64::from(class_id) << 10);
    nv_meter::limit_fb_info(&mut buf, limit, headroom);
    nv_meter::limit_fb_list(&mut buf, class_id as usize, limit, headroom);

    // The tracer writes the status where it says it is.
    if let Some(at) = nv_trace::status_offset(nr, body.len()) {
        assert!(at + 4 <= body.len(), "status at {at} of {}", body.len());
    }
    let _ = nv_trace::summarize(nr, body);

    // DRM.
    let driver: &[u8] = match nr % 4 {
        0 => b"vgem",
        1 => b"virtio_gpu",
        2 => b"i915",
        _ => body.get(..body.len().min(16)).unwrap_or(&[]),
    };
    let _ = drm::is_submission(driver, cmd);
    if let Some(creation) = drm::buffer_creation(driver, cmd) {
        let _ = creation.arg_size;
    }
    let _ = drm::least_buffer_size(cmd, body);

    // GPU visibility.
    let cards = [gpus[0].card_info(), gpus[1].card_info()];
    let vis = Visibility::parse(if nr & 1 == 0 { "0" } else { "1" }).unwrap_or_default();
    let _ = nv_visibility::visibility_call(nr, body);
    let _ = nv_visibility::attach_allowed(body, &cards, &vis);
    nv_visibility::filter_attached_ids(&mut buf, &cards, &vis);
    let mut minors = [0u32; nv_discovery::MAX_GPUS];
    let n = nv_discovery::card_info_minors(body, &mut minors);
    assert!(n <= nv_discovery::MAX_GPUS);

    // nvsim's answers to controls, on parameters of any size.
    let ctx = ctrl::Context {
        gpus: &gpus,
        version: "535.309.01",
        gpu: gpus.get(usize::from(nr & 1)),
        clocks: || (1, 2),
    };
    let _ = ctrl::answer(cmd, &mut buf, &ctx);
    let _ = ctrl::addr_space_type(class_id);
    let _ = ctrl::gr_info(&mut buf);
});
