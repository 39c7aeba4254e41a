//! `stpt token create|list|revoke`: machine tokens for ingest and personal read tokens,
//! directly on the server's database. A token is printed once at creation; only its SHA-256
//! digest is stored.

use anyhow::Context;
use clap::{Args, Subcommand};
use stpt_server::db::AccessStore;

use super::user::DatabaseArgs;

/// Manage the tokens test machines report with, and people's read tokens
/// (`Authorization: Bearer <token>`).
///
/// Example: `stpt token create --machine rig-07`, `stpt token create --user ada`
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Create a token for a machine (it need not have reported yet), or a personal read
    /// token for a user, and print it once.
    Create {
        /// The machine's name, as its events give it (case does not matter).
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        machine: Option<String>,
        /// An existing user (`stpt user add`): the token reads as they would logged in
        /// (given to stpt's queries, under `--read-access login`) and never reports.
        #[arg(long)]
        user: Option<String>,
    },
    /// List the tokens (never the tokens themselves).
    List,
    /// Revoke every token of a machine or of a user, or one token.
    Revoke {
        /// Revoke all live tokens of this machine.
        #[arg(long, conflicts_with_all = ["token", "user"], required_unless_present_any = ["token", "user"])]
        machine: Option<String>,
        /// Revoke all live personal tokens of this user.
        #[arg(long, conflicts_with = "token")]
        user: Option<String>,
        /// The token to revoke.
        token: Option<String>,
    },
}

fn when(micros: i64) -> String {
    stpt_core::Timestamp::from_micros(micros)
        .map(crate::dates::human)
        .unwrap_or_default()
}

/// Runs one `stpt token` action.
pub(crate) fn run(args: TokenArgs) -> anyhow::Result<()> {
    let access = args.database.open()?;
    match args.action {
        TokenAction::Create {
            user: Some(user), ..
        } => {
            let token = access
                .create_personal_token(&user)
                .with_context(|| format!("cannot create a token for {user:?}"))?
                .with_context(|| {
                    format!("no user named {user:?} (add one with `stpt user add {user}`)")
                })?;
            println!("{token}");
            eprintln!(
                "personal read token for {user}: shown only now; give it to stpt as --token or \
                 STPT_TOKEN (it reads, never reports)"
            );
        }
        TokenAction::Create { machine, .. } => {
            let machine = machine.context("give --machine NAME or --user NAME")?;
            anyhow::ensure!(!machine.trim().is_empty(), "the machine name is empty");
            let token = access
                .create_token(&machine)
                .with_context(|| format!("cannot create a token for {machine:?}"))?;
            println!("{token}");
            eprintln!(
                "token for {machine}: shown only now; send it as \
                 `Authorization: Bearer <token>` (STPT_TOKEN for stpt and the runner)"
            );
        }
        TokenAction::List => list(&access)?,
        TokenAction::Revoke {
            user: Some(user), ..
        } => {
            let n = access.revoke_user_tokens(&user)?;
            anyhow::ensure!(n > 0, "{user} has no live personal token");
            println!(
                "revoked {n} personal token{} of {user}",
                if n == 1 { "" } else { "s" }
            );
        }
        TokenAction::Revoke { machine, token, .. } => match (machine, token) {
            (Some(machine), _) => {
                let n = access.revoke_machine(&machine)?;
                anyhow::ensure!(n > 0, "{machine} has no live token");
                println!(
                    "revoked {n} token{} of {machine}",
                    if n == 1 { "" } else { "s" }
                );
            }
            (None, Some(token)) => {
                anyhow::ensure!(
                    access.revoke_token(&token)?,
                    "no live token matches the one given"
                );
                println!("revoked the token");
            }
            (None, None) => anyhow::bail!("give --machine NAME or the token to revoke"),
        },
    }
    Ok(())
}

/// Prints every token: its id, owner, creation and state.
fn list(access: &AccessStore) -> anyhow::Result<()> {
    let tokens = access.tokens()?;
    if tokens.is_empty() {
        println!("no tokens (create one with `stpt token create --machine NAME`)");
    }
    for token in tokens {
        let state = match token.revoked_at {
            Some(at) => format!("revoked {}", when(at)),
            None => "live".to_owned(),
        };
        let owner = if token.personal {
            format!("user {}", token.machine_name)
        } else {
            token.machine_name
        };
        println!(
            "{}\t{owner}\tcreated {}\t{state}",
            token.id,
            when(token.created_at)
        );
    }
    Ok(())
}
