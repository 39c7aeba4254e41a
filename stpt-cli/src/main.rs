//! `stpt`: serve, query and follow system test runs.
//!
//! Each subcommand lives in its own module under `commands`; errors end here, printed with
//! their causes and mapped to the codes in `exit_codes`.

mod client;
mod commands;
mod exit_codes;
mod junit;
mod live_feed;
mod outcome;
mod palette;
mod selection;
mod terminal;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// System Test Progress Tracking: what your system tests are doing now, and what they did.
#[derive(Debug, Parser)]
#[command(
    name = "stpt",
    version,
    about,
    after_help = "Exit codes: 0 done (every test passed or warned, for `tail --exit-status` and \
                  `run`), 1 failed, 2 a test did not pass or warn, 3 server unreachable, \
                  4 unknown machine or run, 130 cancelled with Ctrl-C."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    server: client::ServerArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(commands::serve::ServeArgs),
    Machines(commands::machines::MachinesArgs),
    Runs(commands::runs::RunsArgs),
    Show(commands::show::ShowArgs),
    Tail(commands::tail::TailArgs),
    Send(commands::send::SendArgs),
    Run(commands::run::RunArgs),
    Replay(commands::replay::ReplayArgs),
    Export(commands::export::ExportArgs),
    Import(commands::import::ImportArgs),
    Completions(commands::completions::CompletionsArgs),
    Bench(commands::bench::BenchArgs),
    User(commands::user::UserArgs),
    Token(commands::token::TokenArgs),
    Prune(commands::prune::PruneArgs),
    Abort(commands::abort::AbortArgs),
    History(commands::history::HistoryArgs),
    Diff(commands::diff::DiffArgs),
    Flaky(commands::flaky::FlakyArgs),
    Webhook(commands::webhook::WebhookArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Machines(args) => commands::machines::run(&cli.server, args),
        Command::Runs(args) => commands::runs::run(&cli.server, args),
        Command::Show(args) => commands::show::run(&cli.server, args),
        Command::Tail(args) => commands::tail::run(&cli.server, args),
        Command::Send(args) => commands::send::run(&cli.server, args),
        Command::Run(args) => commands::run::run(&cli.server, args),
        Command::Replay(args) => commands::replay::run(&cli.server, args),
        Command::Export(args) => commands::export::run(&cli.server, args),
        Command::Import(args) => commands::import::run(&cli.server, args),
        Command::Completions(args) => commands::completions::run(args, Cli::command()),
        Command::Bench(args) => commands::bench::run(&cli.server, args),
        Command::User(args) => commands::user::run(&cli.server, args),
        Command::Token(args) => commands::token::run(args),
        Command::Prune(args) => commands::prune::run(args),
        Command::Abort(args) => commands::abort::run(&cli.server, args),
        Command::History(args) => commands::history::run(&cli.server, args),
        Command::Diff(args) => commands::diff::run(&cli.server, args),
        Command::Flaky(args) => commands::flaky::run(&cli.server, args),
        Command::Webhook(args) => commands::webhook::run(args),
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
    ExitCode::from(exit_code(err))
}

/// The documented exit code for an error, from the first cause that has one.
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(not_passed) = cause.downcast_ref::<outcome::RunNotPassed>() {
            return match not_passed {
                outcome::RunNotPassed::Failed { .. } => exit_codes::RUN_NOT_PASSED,
                outcome::RunNotPassed::Cancelled { .. } => exit_codes::INTERRUPTED,
            };
        }
        if let Some(client::RequestError::Unreachable { .. }) = cause.downcast_ref() {
            return exit_codes::SERVER_UNREACHABLE;
        }
        if cause.is::<client::UnknownMachine>() || cause.is::<selection::UnknownRun>() {
            return exit_codes::NOT_FOUND;
        }
    }
    exit_codes::FAILURE
}
