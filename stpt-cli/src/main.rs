//! `stpt`: serve, query and follow system test runs.
//!
//! Each subcommand lives in its own module under `commands`; errors end here, printed with
//! their causes and mapped to the codes in `exit_codes`.

mod commands;
mod exit_codes;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// System Test Progress Tracking: what your system tests are doing now, and what they did.
#[derive(Debug, Parser)]
#[command(name = "stpt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(commands::serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::from(exit_codes::OK),
        Err(err) => report(&err),
    }
}

/// Prints an error with its chain of causes and picks the exit code.
fn report(err: &anyhow::Error) -> ExitCode {
    if err
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitCode::from(exit_codes::OK);
    }
    eprintln!("error: {err:#}");
    ExitCode::from(exit_codes::FAILURE)
}
