//! The `edgefuse` binary: parses the command line and calls [`edgefuse_cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = edgefuse_cli::Cli::parse();
    match edgefuse_cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
