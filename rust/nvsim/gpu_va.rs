// SPDX-License-Identifier: GPL-2.0

//! The simulated GPU's MMU: which UVM VA space translates the addresses of an RM VA space on
//! a GPU. UVM_REGISTER_GPU_VASPACE hands an RM VA space (client, FERMI_VASPACE_A handle) to
//! a process's UVM file, whose external mappings then say where each GPU VA lives; the engine
//! finds them here for the channels of that client and GPU.

use crate::host_page::HostPage;
use crate::nvsim_model::uvm_va::{Mapping, Range, VaSpace, VaStorage};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Ranges one VA space holds here (CUDA makes about 70 per context).
const RANGES: usize = 256;
/// Mappings one VA space holds here.
const MAPPINGS: usize = 512;

/// The pages behind one semaphore pool: UVM's own memory, which the process maps by an mmap
/// of its UVM file at the pool's address and GPUs reach at the same VA.
pub(crate) struct PoolPages {
    /// The pool's first byte (CPU and GPU VA).
    pub(crate) base: u64,
    /// Its zeroed pages, in order.
    pub(crate) pages: KVVec<HostPage>,
}

/// A VA space's slots, in two kvmalloc'd vectors, and its semaphore pools' pages.
pub(crate) struct KernelVa {
    ranges: KVVec<Option<Range>>,
    mappings: KVVec<Option<Mapping>>,
    pools: KVec<Option<PoolPages>>,
}

impl KernelVa {
    /// The page of a semaphore pool behind `va`, and its offset in it.
    pub(crate) fn pool_page(&self, va: u64) -> Option<(&HostPage, usize)> {
        let pool = self
            .pools
            .iter()
            .flatten()
            .find(|p| va >= p.base && va - p.base < (p.pages.len() * PAGE_SIZE) as u64)?;
        let at = va - pool.base;
        let page = pool
            .pages
            .get(usize::try_from(at / PAGE_SIZE as u64).ok()?)?;
        Some((page, (at % PAGE_SIZE as u64) as usize))
    }

    /// Records `pages` as the pool at `base`.
    pub(crate) fn add_pool(&mut self, base: u64, pages: KVVec<HostPage>) -> Result {
        let pool = Some(PoolPages { base, pages });
        match self.pools.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = pool,
            None => self.pools.push(pool, GFP_KERNEL)?,
        }
        Ok(())
    }

    /// Drops the pages of pools whose range the bookkeeping no longer has (CPU mappings keep
    /// their own references).
    pub(crate) fn drop_freed_pools(&mut self) {
        let ranges = &self.ranges;
        let live = |base: u64| {
            ranges.iter().flatten().any(|r| {
                r.base == base
                    && matches!(
                        r.kind,
                        crate::nvsim_model::uvm_va::RangeKind::SemaphorePool { .. }
                    )
            })
        };
        for slot in self.pools.iter_mut() {
            if slot.as_ref().is_some_and(|p| !live(p.base)) {
                *slot = None;
            }
        }
    }
}

impl VaStorage for KernelVa {
    fn ranges(&self) -> &[Option<Range>] {
        &self.ranges
    }
    fn ranges_mut(&mut self) -> &mut [Option<Range>] {
        &mut self.ranges
    }
    fn mappings(&self) -> &[Option<Mapping>] {
        &self.mappings
    }
    fn mappings_mut(&mut self) -> &mut [Option<Mapping>] {
        &mut self.mappings
    }
}

/// A VA space as a UVM file keeps it.
pub(crate) type KernelVaSpace = VaSpace<KernelVa>;

/// A new, empty VA space.
pub(crate) fn new_va_space() -> Result<KernelVaSpace> {
    Ok(VaSpace::new(KernelVa {
        ranges: KVVec::from_elem(None, RANGES, GFP_KERNEL)?,
        mappings: KVVec::from_elem(None, MAPPINGS, GFP_KERNEL)?,
        pools: KVec::new(),
    }))
}

/// A UVM file's VA space, shared with the engine (None before UVM_INITIALIZE).
pub(crate) type SharedVa = Arc<Mutex<Option<KernelVaSpace>>>;

/// A new, empty shared VA space slot.
pub(crate) fn new_shared_va() -> Result<SharedVa> {
    Arc::pin_init(kernel::new_mutex!(None, "nvsim::UvmFile::va"), GFP_KERNEL)
}

/// One UVM_REGISTER_GPU_VASPACE.
struct Registration {
    /// The RM client of the VA space object.
    client: u32,
    /// The FERMI_VASPACE_A handle.
    vaspace: u32,
    /// The GPU (minor).
    gpu: u32,
    /// The UVM file's VA space.
    va: SharedVa,
}

/// The registered GPU VA spaces (free slots are `None`). Locked alone, or after a UVM
/// file's `kind` lock; the engine takes a VA space's lock only after dropping this one.
pub(crate) struct GpuVaSpaces(Pin<KBox<Mutex<KVec<Option<Registration>>>>>);

impl GpuVaSpaces {
    /// None registered.
    pub(crate) fn new() -> Result<Self> {
        Ok(GpuVaSpaces(KBox::pin_init(
            kernel::new_mutex!(KVec::new(), "nvsim::State::gpu_vas"),
            GFP_KERNEL,
        )?))
    }

    /// Records that `va` translates RM VA space `vaspace` of `client` on `gpu`.
    pub(crate) fn register(&self, client: u32, vaspace: u32, gpu: u32, va: &SharedVa) -> Result {
        self.unregister(va, Some(gpu));
        let entry = Registration {
            client,
            vaspace,
            gpu,
            va: va.clone(),
        };
        let mut list = self.0.lock();
        match list.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(entry),
            None => list.push(Some(entry), GFP_KERNEL)?,
        }
        Ok(())
    }

    /// Forgets `va`'s registration for `gpu` (all GPUs with `None`).
    pub(crate) fn unregister(&self, va: &SharedVa, gpu: Option<u32>) {
        for slot in self.0.lock().iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(&r.va, va) && (gpu.is_none() || gpu == Some(r.gpu)))
            {
                *slot = None;
            }
        }
    }

    /// The VA space that translates the channels of `client` on `gpu`: the registration of
    /// RM VA space `vaspace` if the channel named one, else the client's only one there.
    pub(crate) fn lookup(&self, client: u32, vaspace: u32, gpu: u32) -> Option<SharedVa> {
        let list = self.0.lock();
        let mut found = list
            .iter()
            .flatten()
            .filter(|r| r.client == client && r.gpu == gpu)
            .filter(|r| vaspace == 0 || r.vaspace == vaspace);
        let first = found.next()?;
        if vaspace == 0 && found.next().is_some() {
            return None;
        }
        Some(first.va.clone())
    }
}
