//! GPU visibility on the control node: a cgroup limited to some GPUs (`gpus` in its sysfs
//! entry) sees only those in the calls that enumerate GPUs, and cannot attach the others.
//!
//! - CARD_INFO is answered by fakegpu from the records the driver gave at load, keeping only
//!   the visible GPUs (in the driver's order, packed at the front as the driver packs them).
//! - ATTACH_GPUS_TO_FD naming a GPU that is not visible fails with the driver's answer for an
//!   unknown GPU id, EINVAL.
//! - NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS and GET_PROBED_IDS answers (the latter is how NVML
//!   and libcuda enumerate GPUs) have the other GPUs' ids removed.
//!
//! Using a GPU needs more than its id: device allocation and UVM_REGISTER_GPU need an open
//! file of that GPU, and fakegpu never gives the driver one of a GPU the caller's cgroup may
//! not see (`rust/fakegpu/worker.rs`), so the driver refuses those itself.

use super::abi::nv_frontend::{esc as fe, NvIoctlCardInfo};
use super::abi::nv_rm::{ctrl, esc as rm, Nvos54};
use super::abi::pod::{read_pod, write_pod};
use super::gpu_set::Visibility;
use core::mem::size_of;

/// `EINVAL`: the driver's answer to CARD_INFO with too little room and to an unknown GPU id.
pub const EINVAL: i32 = 22;

/// Size of `NV0000_CTRL_GPU_GET_ATTACHED_IDS_PARAMS` (32 ids), and of each of the two id
/// lists of `NV0000_CTRL_GPU_GET_PROBED_IDS_PARAMS` (probed, then excluded).
pub const ATTACHED_IDS_SIZE: usize = 128;
/// `NV0000_CTRL_CMD_GPU_GET_PROBED_IDS`.
pub const GET_PROBED_IDS: u32 = 0x214;

/// A call whose answer depends on which GPUs the caller's cgroup may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisibilityCall {
    /// CARD_INFO.
    CardInfo,
    /// ATTACH_GPUS_TO_FD.
    AttachGpus,
    /// GET_ATTACHED_IDS or GET_PROBED_IDS through RM_CONTROL: lists of 32 GPU ids.
    IdLists {
        /// Where the driver writes the ids.
        params: u64,
        /// How many lists of [`ATTACHED_IDS_SIZE`] bytes follow each other there.
        lists: usize,
    },
}

/// Which visibility call an escape `nr` is, given the head of its parameters (as
/// `nv_proxy::reads_params` has them read).
pub fn visibility_call(nr: u8, head: &[u8]) -> Option<VisibilityCall> {
    match nr {
        fe::CARD_INFO => Some(VisibilityCall::CardInfo),
        fe::ATTACH_GPUS_TO_FD => Some(VisibilityCall::AttachGpus),
        rm::RM_CONTROL => {
            let p: Nvos54 = read_pod(head)?;
            let lists = match p.cmd {
                ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS => 1,
                GET_PROBED_IDS => 2,
                _ => return None,
            };
            (p.params_size as usize == lists * ATTACHED_IDS_SIZE).then_some(
                VisibilityCall::IdLists {
                    params: p.params,
                    lists,
                },
            )
        }
        _ => None,
    }
}

/// Whether the GPU with RM id `id` is one of `cards` that `vis` lets the caller see.
fn visible_id(id: u32, cards: &[NvIoctlCardInfo], vis: &Visibility) -> bool {
    cards
        .iter()
        .any(|c| c.valid != 0 && c.gpu_id == id && vis.allows(c.minor_number))
}

/// CARD_INFO for a limited cgroup, into the caller's parameters `buf` (its whole size):
/// zeroed, then one record per visible GPU. EINVAL, with `buf` zeroed (the driver copies it
/// back), if there is no room for them all.
pub fn fill_card_info(
    buf: &mut [u8],
    cards: &[NvIoctlCardInfo],
    vis: &Visibility,
) -> Result<(), i32> {
    buf.fill(0);
    let record = size_of::<NvIoctlCardInfo>();
    let mut visible = cards
        .iter()
        .filter(|c| c.valid != 0 && vis.allows(c.minor_number));
    if buf.len() / record < visible.clone().count() {
        return Err(EINVAL);
    }
    for chunk in buf.chunks_exact_mut(record) {
        match visible.next() {
            Some(card) => write_pod(chunk, card),
            None => break,
        };
    }
    Ok(())
}

/// Whether ATTACH_GPUS_TO_FD with the ids `ids` (its parameters) names only visible GPUs;
/// zero ids are skipped, as the driver skips them.
pub fn attach_allowed(ids: &[u8], cards: &[NvIoctlCardInfo], vis: &Visibility) -> bool {
    ids.chunks_exact(4)
        .filter_map(read_pod::<u32>)
        .all(|id| id == 0 || visible_id(id, cards, vis))
}

/// Removes from a GET_ATTACHED_IDS answer `ids` the GPUs the caller may not see, keeping the
/// rest in order and filling the end with the invalid id, as the driver ends its list.
pub fn filter_attached_ids(ids: &mut [u8], cards: &[NvIoctlCardInfo], vis: &Visibility) {
    let mut kept = 0;
    for i in 0..ids.len() / 4 {
        let Some(id) = ids.get(i * 4..).and_then(read_pod::<u32>) else {
            break;
        };
        if id != ctrl::NV0000_CTRL_GPU_INVALID_ID && visible_id(id, cards, vis) {
            if let Some(slot) = ids.get_mut(kept * 4..) {
                write_pod(slot, &id);
            }
            kept += 1;
        }
    }
    for i in kept..ids.len() / 4 {
        if let Some(slot) = ids.get_mut(i * 4..) {
            write_pod(slot, &ctrl::NV0000_CTRL_GPU_INVALID_ID);
        }
    }
}

/// Whether a device allocation (NV01_DEVICE_0) of device instance `device_id` may reach the
/// driver, whose check is a walk of the worker's fd table for an open file of that GPU: the
/// GPU must be one the caller may see (`vis`) and has open itself (`held`, the minors of its
/// fake GPU files). Other calls' files may sit in that table at the same moment, so this is
/// checked here, on fakegpu's copy of the parameters. An instance that is no GPU is left to
/// the driver, which refuses it on its own.
pub fn device_alloc_allowed(
    device_id: u32,
    cards: &[NvIoctlCardInfo],
    vis: &Visibility,
    held: &super::gpu_set::GpuSet,
) -> bool {
    match usize::try_from(device_id).ok().and_then(|i| cards.get(i)) {
        Some(card) => vis.allows(card.minor_number) && held.contains(card.minor_number),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu_set::GpuSet;
    use proptest::prelude::*;

    fn card(minor: u32, id: u32) -> NvIoctlCardInfo {
        NvIoctlCardInfo {
            valid: 1,
            gpu_id: id,
            minor_number: minor,
            ..Default::default()
        }
    }

    fn only(minors: &[u32]) -> Visibility {
        let mut set = GpuSet::EMPTY;
        for &m in minors {
            set.insert(m);
        }
        Visibility::Only(set)
    }

    fn cards() -> [NvIoctlCardInfo; 3] {
        [card(0, 0x100), card(1, 0x200), card(2, 0x300)]
    }

    fn held(minors: &[u32]) -> GpuSet {
        let mut set = GpuSet::EMPTY;
        for &m in minors {
            set.insert(m);
        }
        set
    }

    #[test]
    fn a_device_needs_a_visible_gpu_the_caller_has_open() {
        let cards = cards();
        // Device instance N is the Nth card: instance 1 is minor 1.
        assert!(device_alloc_allowed(1, &cards, &only(&[1]), &held(&[1])));
        assert!(device_alloc_allowed(
            1,
            &cards,
            &Visibility::All,
            &held(&[1, 2])
        ));
        // Hidden from the caller, even if another tenant's file of it is in the table.
        assert!(!device_alloc_allowed(0, &cards, &only(&[1]), &held(&[1])));
        assert!(!device_alloc_allowed(
            0,
            &cards,
            &only(&[1]),
            &held(&[0, 1])
        ));
        // Visible but not opened by the caller: the driver's own check fails too.
        assert!(!device_alloc_allowed(
            2,
            &cards,
            &Visibility::All,
            &held(&[1])
        ));
        // No such GPU: the driver answers.
        assert!(device_alloc_allowed(3, &cards, &only(&[1]), &held(&[])));
        assert!(device_alloc_allowed(
            u32::MAX,
            &cards,
            &only(&[]),
            &held(&[])
        ));
    }

    #[test]
    fn card_info_lists_the_visible_gpus_packed() {
        let mut buf = vec![0xaau8; 72 * 4];
        fill_card_info(&mut buf, &cards(), &only(&[2, 1])).unwrap();
        let records: Vec<NvIoctlCardInfo> = buf.chunks(72).map(|c| read_pod(c).unwrap()).collect();
        assert_eq!(records[0], card(1, 0x200));
        assert_eq!(records[1], card(2, 0x300));
        assert_eq!(records[2].valid, 0);
        assert!(buf[72 * 2..].iter().all(|&b| b == 0));

        let mut one = vec![0xaau8; 72];
        fill_card_info(&mut one, &cards(), &only(&[1])).unwrap();
        assert_eq!(read_pod::<NvIoctlCardInfo>(&one), Some(card(1, 0x200)));
        assert_eq!(
            fill_card_info(&mut one, &cards(), &only(&[0, 1])),
            Err(EINVAL)
        );
        assert!(one.iter().all(|&b| b == 0), "zeroed on EINVAL");
        let mut empty = vec![];
        fill_card_info(&mut empty, &cards(), &only(&[])).unwrap();
    }

    #[test]
    fn attach_of_a_hidden_gpu_is_refused() {
        let ids = |v: &[u32]| v.iter().flat_map(|i| i.to_ne_bytes()).collect::<Vec<u8>>();
        let vis = only(&[1]);
        assert!(attach_allowed(&ids(&[0x200]), &cards(), &vis));
        assert!(attach_allowed(&ids(&[0, 0x200, 0]), &cards(), &vis));
        assert!(!attach_allowed(&ids(&[0x200, 0x100]), &cards(), &vis));
        assert!(
            !attach_allowed(&ids(&[0x999]), &cards(), &vis),
            "unknown ids too"
        );
        assert!(attach_allowed(
            &ids(&[0x100, 0x300]),
            &cards(),
            &Visibility::All
        ));
    }

    #[test]
    fn attached_ids_keep_only_visible_gpus() {
        let mut ids = [0u8; ATTACHED_IDS_SIZE];
        for (i, id) in [0x100u32, 0x200, 0x300, 0x999].into_iter().enumerate() {
            write_pod(&mut ids[i * 4..], &id);
        }
        for i in 4..32 {
            write_pod(&mut ids[i * 4..], &ctrl::NV0000_CTRL_GPU_INVALID_ID);
        }
        filter_attached_ids(&mut ids, &cards(), &only(&[0, 2]));
        let got: Vec<u32> = ids.chunks(4).map(|c| read_pod(c).unwrap()).collect();
        assert_eq!(got[..2], [0x100, 0x300]);
        assert!(got[2..]
            .iter()
            .all(|&i| i == ctrl::NV0000_CTRL_GPU_INVALID_ID));
    }

    #[test]
    fn recognises_the_calls() {
        let p = Nvos54 {
            cmd: ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
            params: 0x1000,
            params_size: 128,
            ..Default::default()
        };
        let mut head = [0u8; size_of::<Nvos54>()];
        write_pod(&mut head, &p);
        assert_eq!(
            visibility_call(rm::RM_CONTROL, &head),
            Some(VisibilityCall::IdLists {
                params: 0x1000,
                lists: 1
            })
        );
        let probed = Nvos54 {
            cmd: GET_PROBED_IDS,
            params_size: 256,
            ..p
        };
        write_pod(&mut head, &probed);
        assert_eq!(
            visibility_call(rm::RM_CONTROL, &head),
            Some(VisibilityCall::IdLists {
                params: 0x1000,
                lists: 2
            })
        );
        write_pod(
            &mut head,
            &Nvos54 {
                params_size: 64,
                ..p
            },
        );
        assert_eq!(visibility_call(rm::RM_CONTROL, &head), None);
        assert_eq!(visibility_call(rm::RM_CONTROL, &head[..8]), None);
        assert_eq!(
            visibility_call(fe::CARD_INFO, &[]),
            Some(VisibilityCall::CardInfo)
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_never_shows_a_hidden_gpu(
            mut buf in proptest::collection::vec(any::<u8>(), 0..400),
            minors in proptest::collection::vec(0u32..3, 0..3),
        ) {
            let vis = only(&minors);
            let mut ids = buf.clone();
            filter_attached_ids(&mut ids, &cards(), &vis);
            for id in ids.chunks_exact(4).map(|c| read_pod::<u32>(c).unwrap()) {
                prop_assert!(id == ctrl::NV0000_CTRL_GPU_INVALID_ID || visible_id(id, &cards(), &vis));
            }
            let _ = attach_allowed(&buf, &cards(), &vis);
            if fill_card_info(&mut buf, &cards(), &vis).is_ok() {
                for c in buf.chunks_exact(72).map(|c| read_pod::<NvIoctlCardInfo>(c).unwrap()) {
                    prop_assert!(c.valid == 0 || vis.allows(c.minor_number));
                }
            }
        }
    }
}
