//! Prints every NVIDIA layout claim of the ABI modules as `NAME VALUE` lines, for the
//! conformance check against NVIDIA's headers (tests/conformance).

use fakegpu_shared::{nv_frontend_abi, nv_status, nv_uvm_abi};

fn main() {
    let claims = nv_frontend_abi::LAYOUT_CLAIMS
        .iter()
        .chain(nv_uvm_abi::LAYOUT_CLAIMS)
        .chain(nv_status::LAYOUT_CLAIMS);
    for (name, value) in claims {
        println!("{name} {value}");
    }
}
