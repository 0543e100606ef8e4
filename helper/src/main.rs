//! `fakegpu`: the userspace helper. For now it only lists the fake nodes a `devices=` value
//! would create; the OCI hook, quota and status commands come with later work.

use fakegpu_shared::fronts::FrontTable;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, spec] if cmd == "fronts" => match FrontTable::parse(spec) {
            Ok(table) => {
                for f in table.iter() {
                    println!("{} -> real {}", f.dev_path().as_str(), f.real);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("fakegpu: devices={spec}: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: fakegpu fronts MAJOR:MINOR[,MAJOR:MINOR...]");
            eprintln!("  show the fake nodes fakegpu.ko would create for that devices= value");
            ExitCode::from(2)
        }
    }
}
