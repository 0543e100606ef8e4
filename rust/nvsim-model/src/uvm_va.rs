//! A UVM VA space's bookkeeping, as the 535 UVM driver keeps it for the calls a CUDA context
//! makes: range groups, external ranges (VA that UVM reserves for RM memory), the
//! external allocations mapped into them per GPU, and semaphore pools
//! (`nvidia-uvm/uvm_va_range.c`, `uvm_map_external.c`, `uvm_range_group.c`).
//!
//! Fixed capacity, no allocation here: the kernel module gives each VA space file a
//! [`VaStorage`] of its own (two kvmalloc'd vectors). The checks and their statuses follow the
//! driver's:
//! - ranges are page-aligned, non-empty, below the VA limit and never overlap
//!   (`NV_ERR_INVALID_ADDRESS`, `NV_ERR_UVM_ADDRESS_IN_USE`);
//! - a mapping lies inside one external range and names registered GPUs
//!   (`NV_ERR_INVALID_ADDRESS`, `NV_ERR_INVALID_DEVICE`); mapping over an existing mapping of
//!   the same GPU replaces it, as the driver unmaps first;
//! - UVM_FREE takes the range starting at `base` with everything mapped in it.

use super::abi::nv_status::*;

/// Page size UVM aligns ranges to.
pub const PAGE: u64 = 4096;
/// First address past the VA space UVM manages on Hopper (57-bit VAs).
pub const VA_LIMIT: u64 = 1 << 57;
/// Most range groups alive at once.
pub const MAX_GROUPS: usize = 64;

/// What a range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeKind {
    /// VA reserved for RM allocations (UVM_CREATE_EXTERNAL_RANGE).
    External,
    /// UVM's own semaphore memory (UVM_ALLOC_SEMAPHORE_POOL), mapped on `gpus`.
    SemaphorePool {
        /// GPUs it is mapped on (bit per minor).
        gpus: u32,
    },
}

/// A range of the VA space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// What it is.
    pub kind: RangeKind,
}

impl Range {
    fn end(&self) -> u64 {
        self.base + self.length
    }

    fn contains(&self, base: u64, length: u64) -> bool {
        base >= self.base && base + length <= self.end()
    }
}

/// RM memory mapped into an external range for some GPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Offset into the memory.
    pub offset: u64,
    /// RM client of the memory.
    pub client: u32,
    /// RM memory object.
    pub memory: u32,
    /// GPU it is mapped on (minor).
    pub gpu: u32,
}

/// Where a VA space keeps its ranges and mappings: its capacity is the slices' lengths.
pub trait VaStorage {
    /// The range slots.
    fn ranges(&self) -> &[Option<Range>];
    /// The range slots, to change.
    fn ranges_mut(&mut self) -> &mut [Option<Range>];
    /// The mapping slots.
    fn mappings(&self) -> &[Option<Mapping>];
    /// The mapping slots, to change.
    fn mappings_mut(&mut self) -> &mut [Option<Mapping>];
}

/// The bookkeeping of one VA space.
pub struct VaSpace<S> {
    store: S,
    groups: [u64; MAX_GROUPS],
    next_group: u64,
}

/// Checks `base`/`length` as the driver checks a new range or mapping.
fn check_span(base: u64, length: u64) -> Result<(), NvStatus> {
    if length == 0 || (base | length) & (PAGE - 1) != 0 {
        return Err(NV_ERR_INVALID_ADDRESS);
    }
    match base.checked_add(length) {
        Some(end) if end <= VA_LIMIT => Ok(()),
        _ => Err(NV_ERR_INVALID_ADDRESS),
    }
}

impl<S: VaStorage> VaSpace<S> {
    /// An empty VA space in `store`, whose slots must all be `None`.
    pub fn new(store: S) -> Self {
        VaSpace {
            store,
            groups: [0; MAX_GROUPS],
            next_group: 1,
        }
    }

    /// UVM_CREATE_RANGE_GROUP: a new group's id.
    pub fn create_range_group(&mut self) -> Result<u64, NvStatus> {
        let slot = self
            .groups
            .iter_mut()
            .find(|g| **g == 0)
            .ok_or(NV_ERR_NO_MEMORY)?;
        *slot = self.next_group;
        self.next_group += 1;
        Ok(*slot)
    }

    /// UVM_DESTROY_RANGE_GROUP.
    pub fn destroy_range_group(&mut self, id: u64) -> Result<(), NvStatus> {
        let slot = self
            .groups
            .iter_mut()
            .find(|g| id != 0 && **g == id)
            .ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
        *slot = 0;
        Ok(())
    }

    fn add_range(&mut self, range: Range) -> Result<(), NvStatus> {
        check_span(range.base, range.length)?;
        if self
            .ranges()
            .any(|r| r.base < range.end() && range.base < r.end())
        {
            return Err(NV_ERR_UVM_ADDRESS_IN_USE);
        }
        let slot = self
            .store
            .ranges_mut()
            .iter_mut()
            .find(|r| r.is_none())
            .ok_or(NV_ERR_NO_MEMORY)?;
        *slot = Some(range);
        Ok(())
    }

    /// UVM_CREATE_EXTERNAL_RANGE.
    pub fn create_external_range(&mut self, base: u64, length: u64) -> Result<(), NvStatus> {
        self.add_range(Range {
            base,
            length,
            kind: RangeKind::External,
        })
    }

    /// UVM_ALLOC_SEMAPHORE_POOL, mapped on the GPUs in `gpus`, each of which must be in
    /// `registered`.
    pub fn alloc_semaphore_pool(
        &mut self,
        base: u64,
        length: u64,
        gpus: u32,
        registered: u32,
    ) -> Result<(), NvStatus> {
        if gpus & !registered != 0 {
            return Err(NV_ERR_INVALID_DEVICE);
        }
        self.add_range(Range {
            base,
            length,
            kind: RangeKind::SemaphorePool { gpus },
        })
    }

    /// The storage, for what the kernel side keeps beside the bookkeeping.
    pub fn storage(&self) -> &S {
        &self.store
    }

    /// The storage, mutable.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The ranges, in no particular order.
    pub fn ranges(&self) -> impl Iterator<Item = &Range> {
        self.store.ranges().iter().flatten()
    }

    /// The mappings, in no particular order.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.store.mappings().iter().flatten()
    }

    /// The external range holding all of `[base, base + length)`.
    fn external_range_of(&self, base: u64, length: u64) -> Option<&Range> {
        self.ranges()
            .find(|r| r.kind == RangeKind::External && r.contains(base, length))
    }

    /// Drops GPU `gpu`'s mappings overlapping `[base, base + length)` (whole mappings: the
    /// driver splits them, but CUDA unmaps what it mapped).
    fn drop_mappings(&mut self, base: u64, length: u64, gpu: Option<u32>) {
        for slot in self.store.mappings_mut().iter_mut() {
            if let Some(m) = slot {
                let overlaps = m.base < base + length && base < m.base + m.length;
                let of_gpu = match gpu {
                    Some(g) => g == m.gpu,
                    None => true,
                };
                if overlaps && of_gpu {
                    *slot = None;
                }
            }
        }
    }

    /// UVM_MAP_EXTERNAL_ALLOCATION for one GPU: `memory` of `client`, `memory_size` bytes
    /// long, from `offset`, at `base` on GPU `gpu`, which must be in `registered`.
    #[allow(clippy::too_many_arguments)]
    pub fn map_external(
        &mut self,
        base: u64,
        length: u64,
        offset: u64,
        (client, memory, memory_size): (u32, u32, u64),
        gpu: u32,
        registered: u32,
    ) -> Result<(), NvStatus> {
        check_span(base, length)?;
        if offset & (PAGE - 1) != 0 {
            return Err(NV_ERR_INVALID_OFFSET);
        }
        if self.external_range_of(base, length).is_none() {
            return Err(NV_ERR_INVALID_ADDRESS);
        }
        if gpu >= 32 || registered & (1 << gpu) == 0 {
            return Err(NV_ERR_INVALID_DEVICE);
        }
        match offset.checked_add(length) {
            Some(end) if end <= memory_size => {}
            _ => return Err(NV_ERR_INVALID_LIMIT),
        }
        self.drop_mappings(base, length, Some(gpu));
        let slot = self
            .store
            .mappings_mut()
            .iter_mut()
            .find(|m| m.is_none())
            .ok_or(NV_ERR_NO_MEMORY)?;
        *slot = Some(Mapping {
            base,
            length,
            offset,
            client,
            memory,
            gpu,
        });
        Ok(())
    }

    /// UVM_UNMAP_EXTERNAL of GPU `gpu`'s mappings in `[base, base + length)`.
    pub fn unmap_external(&mut self, base: u64, length: u64, gpu: u32) -> Result<(), NvStatus> {
        check_span(base, length)?;
        if self.external_range_of(base, length).is_none() {
            return Err(NV_ERR_INVALID_ADDRESS);
        }
        self.drop_mappings(base, length, Some(gpu));
        Ok(())
    }

    /// UVM_VALIDATE_VA_RANGE: whether `[base, base + length)` is exactly one range.
    pub fn validate(&self, base: u64, length: u64) -> Result<(), NvStatus> {
        self.ranges()
            .any(|r| r.base == base && r.length == length)
            .then_some(())
            .ok_or(NV_ERR_INVALID_ADDRESS)
    }

    /// UVM_FREE: the range starting at `base`, and every mapping in it.
    pub fn free(&mut self, base: u64) -> Result<(), NvStatus> {
        let slot = self
            .store
            .ranges_mut()
            .iter_mut()
            .find(|r| r.is_some_and(|r| r.base == base))
            .ok_or(NV_ERR_INVALID_ADDRESS)?;
        let Some(range) = slot.take() else {
            return Err(NV_ERR_INVALID_ADDRESS);
        };
        self.drop_mappings(range.base, range.length, None);
        Ok(())
    }

    /// Drops GPU `gpu`'s mappings and semaphore-pool mappings (UVM_UNREGISTER_GPU).
    pub fn forget_gpu(&mut self, gpu: u32) {
        for slot in self.store.mappings_mut().iter_mut() {
            if slot.is_some_and(|m| m.gpu == gpu) {
                *slot = None;
            }
        }
        for r in self.store.ranges_mut().iter_mut().flatten() {
            if let RangeKind::SemaphorePool { gpus } = &mut r.kind {
                *gpus &= !(1u32.checked_shl(gpu).unwrap_or(0));
            }
        }
    }

    /// Drops the mappings of RM memory `memory` of `client` (freed in the RM: the driver's
    /// mappings of it go with it).
    pub fn forget_memory(&mut self, client: u32, memory: u32) {
        for slot in self.store.mappings_mut().iter_mut() {
            if slot.is_some_and(|m| m.client == client && m.memory == memory) {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GPU0: u32 = 1;

    struct Slots(Vec<Option<Range>>, Vec<Option<Mapping>>);

    impl VaStorage for Slots {
        fn ranges(&self) -> &[Option<Range>] {
            &self.0
        }
        fn ranges_mut(&mut self) -> &mut [Option<Range>] {
            &mut self.0
        }
        fn mappings(&self) -> &[Option<Mapping>] {
            &self.1
        }
        fn mappings_mut(&mut self) -> &mut [Option<Mapping>] {
            &mut self.1
        }
    }

    fn space() -> VaSpace<Slots> {
        VaSpace::new(Slots(vec![None; 8], vec![None; 8]))
    }

    #[test]
    fn range_groups_count_up_and_go() {
        let mut va = space();
        assert_eq!(va.create_range_group(), Ok(1));
        assert_eq!(va.create_range_group(), Ok(2));
        assert_eq!(va.destroy_range_group(1), Ok(()));
        assert_eq!(va.destroy_range_group(1), Err(NV_ERR_OBJECT_NOT_FOUND));
        assert_eq!(va.destroy_range_group(0), Err(NV_ERR_OBJECT_NOT_FOUND));
    }

    #[test]
    fn external_ranges_are_aligned_and_never_overlap() {
        let mut va = space();
        assert_eq!(va.create_external_range(0x1_0000_0000, 2 * MIB), Ok(()));
        assert_eq!(
            va.create_external_range(0x1_0010_0000, 2 * MIB),
            Err(NV_ERR_UVM_ADDRESS_IN_USE)
        );
        assert_eq!(
            va.create_external_range(0x1_0000_0800, 4096),
            Err(NV_ERR_INVALID_ADDRESS)
        );
        assert_eq!(
            va.create_external_range(0x2000, 0),
            Err(NV_ERR_INVALID_ADDRESS)
        );
        assert_eq!(
            va.create_external_range(VA_LIMIT - 4096, 8192),
            Err(NV_ERR_INVALID_ADDRESS)
        );
        assert_eq!(
            va.create_external_range(u64::MAX - 4095, 8192),
            Err(NV_ERR_INVALID_ADDRESS)
        );
        assert_eq!(va.create_external_range(0x1_0020_0000, MIB), Ok(()));
        assert_eq!(va.validate(0x1_0000_0000, 2 * MIB), Ok(()));
        assert_eq!(va.validate(0x1_0000_0000, MIB), Err(NV_ERR_INVALID_ADDRESS));
    }

    #[test]
    fn mappings_live_inside_external_ranges_on_registered_gpus() {
        let mut va = space();
        let mem = (0xc1d0_0001, 0xbeef, 2 * MIB);
        let base = 0x2_0000_0000;
        assert_eq!(
            va.map_external(base, MIB, 0, mem, 0, GPU0),
            Err(NV_ERR_INVALID_ADDRESS)
        );
        va.create_external_range(base, 2 * MIB).unwrap();
        assert_eq!(
            va.map_external(base, MIB, 0, mem, 1, GPU0),
            Err(NV_ERR_INVALID_DEVICE)
        );
        assert_eq!(
            va.map_external(base, 2 * MIB, MIB, mem, 0, GPU0),
            Err(NV_ERR_INVALID_LIMIT)
        );
        assert_eq!(va.map_external(base, 2 * MIB, 0, mem, 0, GPU0), Ok(()));
        // Mapping again replaces it.
        assert_eq!(va.map_external(base, MIB, 0, mem, 0, GPU0), Ok(()));
        assert_eq!(va.mappings().count(), 1);
        assert_eq!(va.unmap_external(base, MIB, 0), Ok(()));
        assert_eq!(va.mappings().count(), 0);
        va.map_external(base, MIB, 0, mem, 0, GPU0).unwrap();
        va.forget_memory(mem.0, mem.1);
        assert_eq!(va.mappings().count(), 0);
    }

    #[test]
    fn free_takes_the_range_and_its_mappings() {
        let mut va = space();
        let base = 0x3_0000_0000;
        va.create_external_range(base, 4 * MIB).unwrap();
        va.map_external(base, MIB, 0, (1, 2, MIB), 0, GPU0).unwrap();
        assert_eq!(va.free(base + 4096), Err(NV_ERR_INVALID_ADDRESS));
        assert_eq!(va.free(base), Ok(()));
        assert_eq!(va.mappings().count(), 0);
        assert_eq!(va.ranges().count(), 0);
        assert_eq!(va.free(base), Err(NV_ERR_INVALID_ADDRESS));
    }

    #[test]
    fn a_full_space_answers_no_memory() {
        let mut va = space();
        for i in 0..8 {
            va.create_external_range(0x1000_0000 + i * MIB, MIB)
                .unwrap();
        }
        assert_eq!(
            va.create_external_range(0x9000_0000, MIB),
            Err(NV_ERR_NO_MEMORY)
        );
    }

    #[test]
    fn semaphore_pools_need_registered_gpus() {
        let mut va = space();
        assert_eq!(
            va.alloc_semaphore_pool(0x4000_0000, MIB, 0b10, GPU0),
            Err(NV_ERR_INVALID_DEVICE)
        );
        assert_eq!(
            va.alloc_semaphore_pool(0x4000_0000, MIB, GPU0, GPU0),
            Ok(())
        );
        va.forget_gpu(0);
        assert_eq!(
            va.ranges().next().map(|r| r.kind),
            Some(RangeKind::SemaphorePool { gpus: 0 })
        );
    }
}
