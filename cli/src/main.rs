//! `dwal`: the command-line tool for datawal stores. See `dwal --help`.

mod bytes;
mod cli;
mod cmd;
mod exit;
mod output;
mod progress;
mod store;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::exit::Code;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cmd::run(cli) {
        Ok(code) => code.into(),
        Err(err) if exit::is_broken_pipe(&err) => Code::Ok.into(),
        Err(err) => {
            eprintln!("{}", exit::message(&err));
            if let Some(dir) = exit::corrupt_store(&err) {
                let dir = dir.display();
                eprintln!(
                    "datawal: hint: `dwal verify {dir}` lists every problem and which `dwal repair` can fix"
                );
            }
            exit::code_of(&err).into()
        }
    }
}

/// Parse the arguments. Help and version go to stdout (exit 0); a usage
/// error goes to stderr as `datawal: ...` (exit 2).
fn parse() -> Result<Cli, ExitCode> {
    let table = Code::table();
    let command = Cli::command().after_help(&table).mut_subcommands(|sub| sub.after_help(&table));
    let matches = command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m));
    matches.map_err(|err| match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            Code::Ok.into()
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            Code::Usage.into()
        }
        _ => {
            let text = err.render().to_string();
            eprint!("datawal: {}", text.strip_prefix("error: ").unwrap_or(&text));
            Code::Usage.into()
        }
    })
}
