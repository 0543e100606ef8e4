// SPDX-License-Identifier: GPL-2.0

//! The fake nodes: one char region per family (a dynamic major whose minors mirror the real
//! ones where that is meaningful) and a device per front, which devtmpfs turns into `/dev`
//! nodes.

use crate::abi::devnum::DevNum;
use crate::fops::FileOps;
use crate::policy::fronts::{Family, FrontTable, FAMILY_MINORS};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// The registered char regions, one per family that has fronts.
pub(crate) struct Regions {
    /// Major of each family's region, indexed by [`Family::index`]; 0 if not registered.
    majors: [u32; Family::ALL.len()],
}

impl Regions {
    /// Registers a region for each family the table uses, with the file operations `fops`
    /// (the core's forwarding ones).
    pub(crate) fn register(table: &FrontTable, fops: &'static FileOps) -> Result<Self> {
        let mut regions = Regions {
            majors: [0; Family::ALL.len()],
        };
        for family in Family::ALL {
            if !table.uses(family) {
                continue;
            }
            let name = family.region_c_name();
            // SAFETY: `name` is a static NUL-terminated string and `fops` a static
            // file_operations, both outliving the registration (undone in `drop`).
            let major = unsafe {
                bindings::__register_chrdev(
                    0,
                    0,
                    FAMILY_MINORS,
                    crate::compat::c_str_ptr(name),
                    fops.get(),
                )
            };
            if major < 0 {
                pr_err!(
                    "cannot register char region {}: {}\n",
                    family.region_name(),
                    major
                );
                return Err(Error::from_errno(major));
            }
            regions.majors[family.index()] = major as u32;
        }
        Ok(regions)
    }

    /// The family whose region has `major`.
    pub(crate) fn family_of(&self, major: u32) -> Option<Family> {
        if major == 0 {
            return None;
        }
        Family::ALL
            .into_iter()
            .find(|f| self.majors[f.index()] == major)
    }

    /// The major of `family`'s region (0 if it has none).
    pub(crate) fn major(&self, family: Family) -> u32 {
        self.majors[family.index()]
    }
}

impl Drop for Regions {
    fn drop(&mut self) {
        for family in Family::ALL {
            let major = self.majors[family.index()];
            if major != 0 {
                // SAFETY: this exact region was registered by `register`.
                unsafe {
                    bindings::__unregister_chrdev(
                        major,
                        0,
                        FAMILY_MINORS,
                        crate::compat::c_str_ptr(family.region_c_name()),
                    )
                };
            }
        }
    }
}

/// The `fakegpu` device class and one device per front.
pub(crate) struct Nodes {
    class: NonNull<bindings::class>,
    /// Device numbers of the devices created so far.
    devices: KVec<u32>,
}

// SAFETY: the class pointer is only used by `drop`, and class/device teardown may run on
// any thread.
unsafe impl Send for Nodes {}
// SAFETY: shared references expose nothing.
unsafe impl Sync for Nodes {}

impl Nodes {
    /// Creates the class and a device (hence a `/dev` node) for every front of `table`.
    pub(crate) fn create(table: &FrontTable, regions: &Regions) -> Result<Self> {
        // SAFETY: the name is a static NUL-terminated string.
        let class = unsafe { bindings::class_create(kernel::c_str!("fakegpu").as_char_ptr()) };
        let class = NonNull::new(kernel::error::from_err_ptr(class)?).ok_or(ENOMEM)?;
        let mut nodes = Nodes {
            class,
            devices: KVec::new(),
        };
        for front in table.iter() {
            let devt = DevNum::new(regions.major(front.family), front.fake_minor)
                .ok_or(EINVAL)?
                .to_kernel_dev_t();
            let name = front.node_name();
            // SAFETY: `class` is live; the format is a static "%s" and `name` a NUL-terminated
            // buffer that device_create copies before returning.
            let dev = unsafe {
                bindings::device_create(
                    class.as_ptr(),
                    core::ptr::null_mut(),
                    devt,
                    core::ptr::null_mut(),
                    kernel::c_str!("%s").as_char_ptr(),
                    name.as_bytes_with_nul().as_ptr(),
                )
            };
            if let Err(e) = kernel::error::from_err_ptr(dev) {
                pr_err!("cannot create {}: {:?}\n", front.dev_path().as_str(), e);
                return Err(e);
            }
            if let Err(e) = nodes.devices.push(devt, GFP_KERNEL) {
                // SAFETY: the device was just created on this class and is not tracked.
                unsafe { bindings::device_destroy(class.as_ptr(), devt) };
                return Err(e.into());
            }
        }
        Ok(nodes)
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for &devt in self.devices.iter() {
            // SAFETY: each `devt` names a device created in `create` on this class.
            unsafe { bindings::device_destroy(self.class.as_ptr(), devt) };
        }
        // SAFETY: the class was created in `create` and has no devices left.
        unsafe { bindings::class_destroy(self.class.as_ptr()) };
    }
}
