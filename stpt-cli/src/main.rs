//! `stpt`: serve, query and follow system test runs.
//!
//! Each subcommand lives in its own module under `commands`; errors end here, printed with
//! their causes and mapped to the codes in `exit_codes`.

// The command line is the one crate that prints to a terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod client;
mod commands;
mod dates;
mod exit_codes;
mod junit;
mod labels;
mod live_feed;
mod outcome;
mod palette;
mod selection;
mod terminal;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// System Test Progress Tracking: what your system tests are doing now, and what they did.
#[derive(Debug, Parser)]
#[command(
    name = "stpt",
    version,
    about,
    after_help = "Exit codes: 0 done (every test passed or warned, for `tail --exit-status` and \
                  `run`), 1 failed (a bad command line too), 2 a test did not pass or warn, 3 no stpt server \
                  reachable at the URL (or its certificate not trusted), 4 unknown machine, run or test, 130 cancelled with Ctrl-C."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(Box<commands::serve::ServeArgs>),
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
    Backup(commands::backup::BackupArgs),
    Abort(commands::abort::AbortArgs),
    History(commands::history::HistoryArgs),
    Diff(commands::diff::DiffArgs),
    Flaky(commands::flaky::FlakyArgs),
    Webhook(commands::webhook::WebhookArgs),
}

/// The whole command line, as parsed and as completed.
///
/// Environment variables are named in the help without their current values: a value shown
/// as `[env: STPT_URL=]` reads like a setting, and tokens are secrets.
pub(crate) fn command() -> clap::Command {
    fn hide_env_values(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| arg.hide_env_values(true))
            .mut_subcommands(hide_env_values)
    }
    hide_env_values(Cli::command())
}

fn main() -> ExitCode {
    let parsed = command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        // Help and version are not errors; a bad command line is a failure like any other
        // (clap's own code, 2, means "a test did not pass" here).
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit_codes::FAILURE
            } else {
                exit_codes::OK
            });
        }
    };
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(*args),
        Command::Machines(args) => commands::machines::run(args),
        Command::Runs(args) => commands::runs::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Tail(args) => commands::tail::run(args),
        Command::Send(args) => commands::send::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Completions(args) => commands::completions::run(args, command()),
        Command::Bench(args) => commands::bench::run(args),
        Command::User(args) => commands::user::run(args),
        Command::Token(args) => commands::token::run(args),
        Command::Prune(args) => commands::prune::run(args),
        Command::Backup(args) => commands::backup::run(args),
        Command::Abort(args) => commands::abort::run(args),
        Command::History(args) => commands::history::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Flaky(args) => commands::flaky::run(args),
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
                outcome::RunNotPassed::Failed { .. } | outcome::RunNotPassed::Aborted { .. } => {
                    exit_codes::RUN_NOT_PASSED
                }
                outcome::RunNotPassed::Cancelled { .. } => exit_codes::INTERRUPTED,
            };
        }
        if let Some(
            client::RequestError::Unreachable { .. }
            | client::RequestError::NotStpt { .. }
            | client::RequestError::Tls { .. },
        ) = cause.downcast_ref()
        {
            return exit_codes::SERVER_UNREACHABLE;
        }
        if cause.is::<client::UnknownMachine>()
            || cause.is::<selection::UnknownRun>()
            || cause.is::<outcome::NotFound>()
        {
            return exit_codes::NOT_FOUND;
        }
    }
    exit_codes::FAILURE
}
