//! One module per subcommand (export and compact share one). Each returns
//! the exit code of a run that finished, or the error that stopped it.

mod copy;
mod inspect;
mod kv;
mod repair;
mod scan;
mod verify;

use crate::cli::{Cli, Command};
use crate::exit::Code;

pub fn run(cli: Cli) -> anyhow::Result<Code> {
    let json = cli.json;
    match cli.command {
        Command::Inspect { dir } => inspect::run(&dir, json),
        Command::Verify { dir } => verify::run(&dir, json),
        Command::Scan(args) => scan::run(&args, json),
        Command::Get(args) => kv::get(&args, json),
        Command::Put(args) => kv::put(&args, json),
        Command::Delete(args) => kv::delete(&args, json),
        Command::Export(args) => copy::export(&args, json),
        Command::Compact(args) => copy::compact(&args, json),
        Command::Repair(args) => repair::run(&args, json),
    }
}
