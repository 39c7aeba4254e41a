//! `stpt user add|remove|passwd|list|reset-link`: manage the users of the pages, directly on
//! the server's database (the same `--database-url` as `stpt serve`).
//!
//! Passwords are read from standard input (one line; without echo on a terminal), never from
//! the command line where `ps` would show them.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::{Args, Subcommand};
use stpt_server::db::{AccessStore, DatabaseUrl, PoolOptions, RESET_LINK_LIFETIME};

/// Where the server keeps its data; shared by `stpt user`, `stpt token`, `stpt webhook` and
/// `stpt prune`.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// The server's database: an SQLite file path or a `postgres://` URL.
    #[arg(
        long,
        env = "STPT_DATABASE_URL",
        default_value = "stpt.db",
        global = true
    )]
    database_url: String,
}

impl DatabaseArgs {
    /// Opens (and migrates) the server's database. Only `stpt serve` creates one: an SQLite
    /// file that does not exist is an error here, not a new empty database.
    pub(crate) fn open(&self) -> anyhow::Result<AccessStore> {
        let url: DatabaseUrl = self
            .database_url
            .parse()
            .with_context(|| format!("invalid --database-url {:?}", self.database_url))?;
        if let DatabaseUrl::Sqlite(path) = &url
            && path != ":memory:"
            && !path.starts_with("file:")
            && !std::path::Path::new(path).exists()
        {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.into());
            anyhow::bail!(
                "there is no database at {}: `stpt serve` creates it on its first start; run \
                 this where the server keeps its database, or name it with --database-url or \
                 STPT_DATABASE_URL",
                shown.display()
            );
        }
        let options = PoolOptions {
            max_size: 2,
            ..PoolOptions::default()
        };
        // Every failure to open it names the database already.
        Ok(AccessStore::open(&url, options)?)
    }
}

/// Manage the users who may log in to the pages.
///
/// Example: `stpt user add alice --email alice@example.com`
#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    #[command(subcommand)]
    action: UserAction,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Add a user; the password is read from standard input.
    Add {
        /// Login name.
        name: String,
        /// Where password-reset links are mailed.
        #[arg(long)]
        email: Option<String>,
    },
    /// Remove a user (their sessions end).
    Remove {
        /// Login name.
        name: String,
    },
    /// Set a user's password (read from standard input); their sessions end.
    Passwd {
        /// Login name.
        name: String,
    },
    /// List the users.
    List,
    /// Print a single-use password-reset link (valid for an hour), for when no mail is set up.
    ResetLink {
        /// Login name.
        name: String,
        /// The server's base URL as its users reach it; the link starts with it.
        #[arg(long, env = "STPT_URL", default_value = "http://127.0.0.1:8000")]
        url: String,
    },
}

/// Reads a password from standard input: prompted and without echo on a terminal, one line
/// otherwise.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("{prompt}: ");
        std::io::stderr().flush().ok();
    }
    // `stty` keeps the password off the screen without another dependency; if it is missing
    // the password is read with echo, as from a pipe.
    let echo_off = terminal
        && std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        eprintln!();
    }
    read.context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password given on standard input");
    Ok(password)
}

fn new_password() -> anyhow::Result<String> {
    let password = read_password("New password")?;
    if std::io::stdin().is_terminal() {
        let again = read_password("Again")?;
        anyhow::ensure!(password == again, "the two passwords differ");
    }
    Ok(password)
}

fn when(micros: i64) -> String {
    stpt_core::Timestamp::from_micros(micros)
        .map(crate::dates::human)
        .unwrap_or_default()
}

/// Runs one `stpt user` action.
pub(crate) fn run(args: UserArgs) -> anyhow::Result<()> {
    let access = args.database.open()?;
    match args.action {
        UserAction::Add { name, email } => {
            let password = new_password()?;
            access
                .add_user(&name, email.as_deref(), &password)
                .with_context(|| format!("cannot add user {name:?}"))?;
            println!("added user {name}");
        }
        UserAction::Remove { name } => {
            anyhow::ensure!(
                access.remove_user(&name)?,
                "there is no user named {name:?}"
            );
            println!("removed user {name}");
        }
        UserAction::Passwd { name } => {
            anyhow::ensure!(
                access.user_named(&name)?.is_some(),
                "there is no user named {name:?}"
            );
            let password = new_password()?;
            access.set_password(&name, &password)?;
            println!("set the password of {name}; their sessions have ended");
        }
        UserAction::List => {
            let users = access.users()?;
            if users.is_empty() {
                println!("no users (add one with `stpt user add NAME`)");
            }
            for user in users {
                println!(
                    "{}\t{}\tadded {}",
                    user.name,
                    user.email.as_deref().unwrap_or("-"),
                    when(user.created_at)
                );
            }
        }
        UserAction::ResetLink { name, url } => {
            let link = access
                .create_reset_link(&name)?
                .with_context(|| format!("there is no user named {name:?}"))?;
            println!("{}{}", url.trim_end_matches('/'), link.path());
            eprintln!(
                "works once, for {} minutes",
                RESET_LINK_LIFETIME.as_secs() / 60
            );
        }
    }
    Ok(())
}
