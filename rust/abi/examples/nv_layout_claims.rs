//! Prints every NVIDIA layout claim of the ABI modules for one driver family as `NAME VALUE`
//! lines, for the conformance check against that family's headers (tests/conformance):
//! `nv_layout_claims 550`.

use abi::nv_family::DriverFamily;
use abi::{nv_frontend, nv_status, nv_uvm};

fn main() {
    let branch = std::env::args().nth(1).and_then(|b| b.parse().ok());
    let Some(family) = branch.and_then(DriverFamily::of_branch) else {
        eprintln!("usage: nv_layout_claims BRANCH (a known driver family, e.g. 535 or 550)");
        std::process::exit(2);
    };
    let wait_open: &[(&str, usize)] = if family.wait_open_complete {
        nv_frontend::WAIT_OPEN_COMPLETE_CLAIMS
    } else {
        &[]
    };
    let per_family = family.uvm.layout_claims();
    let claims = nv_frontend::LAYOUT_CLAIMS
        .iter()
        .chain(wait_open)
        .chain(nv_uvm::LAYOUT_CLAIMS)
        .chain(per_family.iter())
        .chain(nv_status::LAYOUT_CLAIMS);
    for (name, value) in claims {
        println!("{name} {value}");
    }
}
