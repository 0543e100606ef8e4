//! Prints every NVIDIA layout claim of the ABI modules as `NAME VALUE` lines, for the
//! conformance check against NVIDIA's headers (tests/conformance).

use abi::{nv_frontend, nv_status, nv_uvm};

fn main() {
    let claims = nv_frontend::LAYOUT_CLAIMS
        .iter()
        .chain(nv_uvm::LAYOUT_CLAIMS)
        .chain(nv_status::LAYOUT_CLAIMS);
    for (name, value) in claims {
        println!("{name} {value}");
    }
}
